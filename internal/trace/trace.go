package trace

import (
	"fmt"
	"sort"
)

// Kind says what a series measures.
type Kind int

const (
	// Regulation is a normalised regulation signal in -1..+1
	// (+1 = full regulation up, i.e. discharge).
	Regulation Kind = iota
	// FrequencyHz is grid frequency in Hz.
	FrequencyHz
	// LoadKW is site load in kW.
	LoadKW
	// VoltageV is grid line voltage in V.
	VoltageV
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Regulation:
		return "Regulation"
	case FrequencyHz:
		return "FrequencyHz"
	case LoadKW:
		return "LoadKW"
	case VoltageV:
		return "VoltageV"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Series is a sampled time series: V[i] was measured at T[i] seconds.
// T strictly increases and has the same length as V.
type Series struct {
	Kind Kind
	T    []float64 // seconds from start, ascending
	V    []float64
}

// At returns the value at time t, interpolating linearly between samples.
// Before the first sample it returns the first value, after the last sample
// the last value. An empty series gives 0.
func (s *Series) At(t float64) float64 {
	n := len(s.T)
	if n == 0 {
		return 0
	}
	if t <= s.T[0] {
		return s.V[0]
	}
	if t >= s.T[n-1] {
		return s.V[n-1]
	}
	// First index with T[i] > t; 1 <= i <= n-1 here.
	i := sort.Search(n, func(i int) bool { return s.T[i] > t })
	t0, t1 := s.T[i-1], s.T[i]
	v0, v1 := s.V[i-1], s.V[i]
	return v0 + (v1-v0)*(t-t0)/(t1-t0)
}

// Duration returns the time from the first to the last sample in seconds
// (0 for fewer than two samples).
func (s *Series) Duration() float64 {
	if len(s.T) < 2 {
		return 0
	}
	return s.T[len(s.T)-1] - s.T[0]
}

// ParseError reports a problem in a trace file. Line is 1-based; 0 means the
// problem concerns the file as a whole (e.g. it cannot be read).
type ParseError struct {
	Path string
	Line int
	Msg  string
}

// Error formats the error as "path:line: msg".
func (e *ParseError) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.Path, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}
