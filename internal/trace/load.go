package trace

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Load reads a trace file, plain or gzip-compressed, detecting its format
// from the header line (see the package documentation). For PJM files it
// loads the first day.
func Load(path string) (*Series, error) {
	return load(path, 0)
}

// LoadPJM reads day (0-based column index after the time-of-day column) of a
// PJM regulation-signal file. It fails if the file is not in PJM format.
func LoadPJM(path string, day int) (*Series, error) {
	if day < 0 {
		return nil, &ParseError{Path: path, Msg: fmt.Sprintf("day %d is negative", day)}
	}
	r, err := openLines(path)
	if err != nil {
		return nil, err
	}
	if f := r.header(); f != formatPJM {
		return nil, &ParseError{Path: path, Line: 1, Msg: fmt.Sprintf("not a PJM regulation file (header %q)", r.head)}
	}
	return parsePJM(r, day)
}

func load(path string, day int) (*Series, error) {
	r, err := openLines(path)
	if err != nil {
		return nil, err
	}
	f := r.header()
	if !r.hasHead {
		return nil, &ParseError{Path: path, Msg: "empty file"}
	}
	switch f {
	case formatPJM:
		return parsePJM(r, day)
	case formatRTE:
		return parseRTE(r)
	case formatGeneric:
		return parseGeneric(r)
	}
	return nil, r.errf("unknown header %q (want \"t_s,<f_hz|df_mhz|load_kw|reg>\", \",Frequency\" or \",<m/d/yyyy>,...\")", r.head)
}

type format int

const (
	formatUnknown format = iota
	formatGeneric
	formatPJM
	formatRTE
)

// lines walks the lines of an in-memory file, tracking the 1-based line
// number of the line last returned.
type lines struct {
	path    string
	data    []byte
	line    int
	head    string // header line, without BOM and line end
	hasHead bool   // a header line was found
}

func openLines(path string) (*lines, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &ParseError{Path: path, Msg: err.Error()}
	}
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, &ParseError{Path: path, Msg: "gzip: " + err.Error()}
		}
		// Uncompressed size is in the gzip trailer (mod 2^32); use it as a
		// capacity hint when it is plausible.
		var buf bytes.Buffer
		if n := len(raw); n >= 4 {
			hint := int(uint32(raw[n-4]) | uint32(raw[n-3])<<8 | uint32(raw[n-2])<<16 | uint32(raw[n-1])<<24)
			if hint > 0 && hint < 64*n {
				buf.Grow(hint + bytes.MinRead)
			}
		}
		if _, err := io.Copy(&buf, zr); err != nil {
			return nil, &ParseError{Path: path, Msg: "gzip: " + err.Error()}
		}
		raw = buf.Bytes()
	}
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	return &lines{path: path, data: raw}, nil
}

// next returns the next non-blank line without its line end, or false at
// the end of the data.
func (r *lines) next() ([]byte, bool) {
	for len(r.data) > 0 {
		var l []byte
		if i := bytes.IndexByte(r.data, '\n'); i >= 0 {
			l, r.data = r.data[:i], r.data[i+1:]
		} else {
			l, r.data = r.data, nil
		}
		r.line++
		if n := len(l); n > 0 && l[n-1] == '\r' {
			l = l[:n-1]
		}
		if len(bytes.TrimSpace(l)) > 0 {
			return l, true
		}
	}
	return nil, false
}

func (r *lines) errf(format string, args ...any) error {
	return &ParseError{Path: r.path, Line: r.line, Msg: fmt.Sprintf(format, args...)}
}

// header consumes the first non-blank line and classifies it.
func (r *lines) header() format {
	l, ok := r.next()
	if !ok {
		return formatUnknown
	}
	r.head, r.hasHead = string(l), true
	f := strings.Split(r.head, ",")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	switch {
	case len(f) == 2 && f[0] == "t_s" && genericColumn(f[1]) != nil:
		return formatGeneric
	case len(f) == 2 && f[0] == "" && strings.EqualFold(f[1], "Frequency"):
		return formatRTE
	case len(f) >= 2 && f[0] == "":
		for _, d := range f[1:] {
			if strings.Count(d, "/") != 2 {
				return formatUnknown
			}
		}
		return formatPJM
	}
	return formatUnknown
}

type column struct {
	kind    Kind
	convert func(float64) float64
}

func genericColumn(name string) *column {
	switch name {
	case "f_hz":
		return &column{FrequencyHz, nil}
	case "df_mhz":
		return &column{FrequencyHz, mHzToHz}
	case "load_kw":
		return &column{LoadKW, nil}
	case "v_v":
		return &column{VoltageV, nil}
	case "reg":
		return &column{Regulation, nil}
	}
	return nil
}

func mHzToHz(v float64) float64 { return 50 + v/1000 }

// number parses a finite float.
func (r *lines) number(b []byte, what string) (float64, error) {
	s := string(bytes.TrimSpace(b))
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, r.errf("bad number %q for %s", s, what)
	}
	return v, nil
}

// regulation checks that v is a valid regulation signal value.
func (r *lines) regulation(v float64) error {
	if v < -1-1e-9 || v > 1+1e-9 {
		return r.errf("regulation value %g outside -1..+1", v)
	}
	return nil
}

func (r *lines) empty() error {
	return &ParseError{Path: r.path, Line: r.line, Msg: "no data rows"}
}

func parseGeneric(r *lines) (*Series, error) {
	name := strings.TrimSpace(r.head[strings.IndexByte(r.head, ',')+1:])
	col := genericColumn(name)
	s := &Series{Kind: col.kind}
	for {
		l, ok := r.next()
		if !ok {
			break
		}
		c := bytes.IndexByte(l, ',')
		if c < 0 || bytes.IndexByte(l[c+1:], ',') >= 0 {
			return nil, r.errf("want 2 fields, got %d", bytes.Count(l, []byte(","))+1)
		}
		t, err := r.number(l[:c], "t_s")
		if err != nil {
			return nil, err
		}
		v, err := r.number(l[c+1:], name)
		if err != nil {
			return nil, err
		}
		if n := len(s.T); n > 0 && t <= s.T[n-1] {
			return nil, r.errf("time %g s not after previous %g s", t, s.T[n-1])
		}
		if col.kind == Regulation {
			if err := r.regulation(v); err != nil {
				return nil, err
			}
		}
		if col.convert != nil {
			v = col.convert(v)
		}
		s.T = append(s.T, t)
		s.V = append(s.V, v)
	}
	if len(s.T) == 0 {
		return nil, r.empty()
	}
	return s, nil
}

// timeOfDay parses "H:MM:SS" or "HH:MM:SS" into seconds.
func timeOfDay(b []byte) (int, bool) {
	b = bytes.TrimSpace(b)
	p := bytes.Split(b, []byte(":"))
	if len(p) != 3 {
		return 0, false
	}
	var f [3]int
	for i, q := range p {
		if len(q) == 0 || len(q) > 2 {
			return 0, false
		}
		for _, c := range q {
			if c < '0' || c > '9' {
				return 0, false
			}
			f[i] = f[i]*10 + int(c-'0')
		}
	}
	if f[0] > 23 || f[1] > 59 || f[2] > 59 {
		return 0, false
	}
	return f[0]*3600 + f[1]*60 + f[2], true
}

func parsePJM(r *lines, day int) (*Series, error) {
	days := strings.Count(r.head, ",")
	if day >= days {
		return nil, &ParseError{Path: r.path, Line: 1, Msg: fmt.Sprintf("day %d out of range: file has %d day columns", day, days)}
	}
	s := &Series{Kind: Regulation}
	var t0, prev, wrap int
	for {
		l, ok := r.next()
		if !ok {
			break
		}
		fields := bytes.Split(l, []byte(","))
		if len(fields) != days+1 {
			return nil, r.errf("want %d fields, got %d", days+1, len(fields))
		}
		tod, ok := timeOfDay(fields[0])
		if !ok {
			return nil, r.errf("bad time of day %q", fields[0])
		}
		v, err := r.number(fields[day+1], "regulation signal")
		if err != nil {
			return nil, err
		}
		if err := r.regulation(v); err != nil {
			return nil, err
		}
		switch {
		case len(s.T) == 0:
			t0, prev = tod, tod
		case tod+wrap == prev:
			return nil, r.errf("time %s repeats the previous row", fields[0])
		case tod+wrap < prev:
			// Going backwards means midnight passed. Accept that only for
			// a step of under 12 h, so that a garbled row is not taken
			// for a day wrap.
			if tod+wrap+86400-prev >= 43200 {
				return nil, r.errf("time %s goes backwards", fields[0])
			}
			wrap += 86400
		}
		prev = tod + wrap
		s.T = append(s.T, float64(prev-t0))
		s.V = append(s.V, v)
	}
	if len(s.T) == 0 {
		return nil, r.empty()
	}
	return s, nil
}
