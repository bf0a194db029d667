package dispatch

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// PointsPerDay is the number of 15-minute points in a day-ahead plan.
const PointsPerDay = 96

const daySeconds = 24 * 3600

// Segment is one constant-power span of a day plan, from Start to End
// ("HH:MM", End may be "24:00").
type Segment struct {
	Start string  `json:"start"`
	End   string  `json:"end"`
	P     float64 `json:"p"` // kW
}

// TOUKind is the tariff class of a time-of-use period.
type TOUKind string

// Time-of-use period kinds.
const (
	TOUValley TOUKind = "valley" // charge toward ChargeToSOC
	TOUPeak   TOUKind = "peak"   // discharge toward DischargeToSOC
	TOUFlat   TOUKind = "flat"   // idle
)

// TOUPeriod is one tariff period of a time-of-use plan.
type TOUPeriod struct {
	Start string  `json:"start"`
	End   string  `json:"end"`
	Kind  TOUKind `json:"kind"`
}

// TOUPlan charges in valley hours and discharges in peak hours toward
// target SOCs (plant mean SOC, weighted by unit rating).
type TOUPlan struct {
	Periods        []TOUPeriod `json:"periods"`
	ChargeP        float64     `json:"charge_p"`         // kW, > 0
	DischargeP     float64     `json:"discharge_p"`      // kW, > 0
	ChargeToSOC    float64     `json:"charge_to_soc"`    // %
	DischargeToSOC float64     `json:"discharge_to_soc"` // %, < ChargeToSOC
}

// touTaper is the SOC band (%) over which TOU power fades out near its target.
const touTaper = 2.0

// ScheduleUpload replaces the schedule. Exactly one of Points (96 values,
// 15 min each, Chinese day-ahead format), Segments or TOU must be set.
type ScheduleUpload struct {
	Points   []float64 `json:"points,omitempty"`
	Segments []Segment `json:"segments,omitempty"`
	TOU      *TOUPlan  `json:"tou,omitempty"`
}

// parseTOD parses "HH:MM" into seconds after midnight; "24:00" is allowed.
func parseTOD(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("time %q is not HH:MM", s)
	}
	d := func(b byte) int { return int(b - '0') }
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("time %q is not HH:MM", s)
		}
	}
	h, m := d(s[0])*10+d(s[1]), d(s[3])*10+d(s[4])
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("time %q is out of range", s)
	}
	return h*3600 + m*60, nil
}

// span is a compiled [start, end) piece of a day, in seconds.
type span struct {
	start, end int
	p          float64
	kind       TOUKind
}

// coverDay checks that spans cover the day exactly: sorted, from 00:00 to
// 24:00, with no gap and no overlap. It sorts spans in place.
func coverDay(field string, spans []span) error {
	if len(spans) == 0 {
		return fieldError(field, "is empty")
	}
	for i, s := range spans {
		if s.end <= s.start {
			return fieldError(fmt.Sprintf("%s[%d]", field, i), "end must be after start")
		}
	}
	slices.SortStableFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	if spans[0].start != 0 {
		return fieldError(field, "gap: the day starts at 00:00 but the first entry starts at %s", fmtTOD(spans[0].start))
	}
	for i := 1; i < len(spans); i++ {
		prev, cur := spans[i-1], spans[i]
		if cur.start > prev.end {
			return fieldError(field, "gap between %s and %s", fmtTOD(prev.end), fmtTOD(cur.start))
		}
		if cur.start < prev.end {
			return fieldError(field, "overlap: entry starting %s begins before %s", fmtTOD(cur.start), fmtTOD(prev.end))
		}
	}
	if last := spans[len(spans)-1].end; last != daySeconds {
		return fieldError(field, "gap: the day ends at 24:00 but the last entry ends at %s", fmtTOD(last))
	}
	return nil
}

func fmtTOD(sec int) string { return fmt.Sprintf("%02d:%02d", sec/3600, sec%3600/60) }

// compile validates the upload and turns it into sorted day spans.
func (u *ScheduleUpload) compile() (*schedule, error) {
	n := 0
	if u.Points != nil {
		n++
	}
	if u.Segments != nil {
		n++
	}
	if u.TOU != nil {
		n++
	}
	if n != 1 {
		return nil, errors.New("schedule: exactly one of points, segments or tou must be given")
	}
	switch {
	case u.Points != nil:
		return compilePoints(u.Points)
	case u.Segments != nil:
		return compileSegments(u.Segments)
	}
	return compileTOU(*u.TOU)
}

// compilePoints turns 96 quarter-hour powers into spans.
func compilePoints(points []float64) (*schedule, error) {
	if len(points) != PointsPerDay {
		return nil, fieldError("points", "need %d points of 15 min, got %d", PointsPerDay, len(points))
	}
	s := &schedule{}
	for i, p := range points {
		if !finite(p) {
			return nil, fieldError(fmt.Sprintf("points[%d]", i), "not a finite number")
		}
		s.spans = append(s.spans, span{start: i * 900, end: (i + 1) * 900, p: p})
	}
	if err := coverDay("points", s.spans); err != nil { // every plan's spans cover the day
		return nil, err
	}
	return s, nil
}

// compileSegments turns constant-power segments covering the day into spans.
func compileSegments(segs []Segment) (*schedule, error) {
	s := &schedule{}
	for i, g := range segs {
		f := fmt.Sprintf("segments[%d]", i)
		sp, err := parseSpan(f, g.Start, g.End)
		if err != nil {
			return nil, err
		}
		if !finite(g.P) {
			return nil, fieldError(f+".p", "not a finite number")
		}
		sp.p = g.P
		s.spans = append(s.spans, sp)
	}
	if err := coverDay("segments", s.spans); err != nil {
		return nil, err
	}
	return s, nil
}

// compileTOU checks a time-of-use plan and turns its periods into spans.
func compileTOU(t TOUPlan) (*schedule, error) {
	if err := t.checkPowers(); err != nil {
		return nil, err
	}
	s := &schedule{}
	for i, p := range t.Periods {
		f := fmt.Sprintf("tou.periods[%d]", i)
		sp, err := parseSpan(f, p.Start, p.End)
		if err != nil {
			return nil, err
		}
		switch p.Kind {
		case TOUValley, TOUPeak, TOUFlat:
		default:
			return nil, fieldError(f+".kind", "must be valley, peak or flat, got %q", p.Kind)
		}
		sp.kind = p.Kind
		s.spans = append(s.spans, sp)
	}
	if err := coverDay("tou.periods", s.spans); err != nil {
		return nil, err
	}
	t.Periods = nil
	s.tou = &t
	return s, nil
}

// checkPowers checks the plan's powers and target SOCs.
func (t *TOUPlan) checkPowers() error {
	if err := checkPositive("tou.charge_p", t.ChargeP); err != nil {
		return err
	}
	if err := checkPositive("tou.discharge_p", t.DischargeP); err != nil {
		return err
	}
	if err := checkRange("tou.charge_to_soc", t.ChargeToSOC, 0, 100); err != nil {
		return err
	}
	if err := checkRange("tou.discharge_to_soc", t.DischargeToSOC, 0, 100); err != nil {
		return err
	}
	return checkOrder("tou.discharge_to_soc", t.DischargeToSOC, "tou.charge_to_soc", t.ChargeToSOC)
}

// parseSpan parses the "HH:MM" start and end of the entry named field.
func parseSpan(field, start, end string) (span, error) {
	a, err := parseTOD(start)
	if err != nil {
		return span{}, fieldError(field+".start", "%v", err)
	}
	b, err := parseTOD(end)
	if err != nil {
		return span{}, fieldError(field+".end", "%v", err)
	}
	return span{start: a, end: b}, nil
}

// Validate checks the upload on its own (the controller also checks powers
// against the plant rating).
func (u ScheduleUpload) Validate() error {
	_, err := u.compile()
	return err
}

// schedule is a compiled, validated plan.
type schedule struct {
	spans []span // sorted, covering [0, 24 h)
	tou   *TOUPlan
}

// maxAbsP is the largest power the plan can ask for.
func (s *schedule) maxAbsP() float64 {
	if s.tou != nil {
		return max(s.tou.ChargeP, s.tou.DischargeP)
	}
	var m float64
	for _, sp := range s.spans {
		m = max(m, sp.p, -sp.p)
	}
	return m
}

// at returns the span covering second-of-day tod.
func (s *schedule) at(tod int) *span {
	// spans are few (<= 96): a binary search keeps it O(log k).
	lo, hi := 0, len(s.spans)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if s.spans[mid].start <= tod {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return &s.spans[lo]
}

// power returns the plan's plant P at second-of-day tod for mean SOC soc
// (socOK false blocks TOU operation, which needs SOC).
func (s *schedule) power(tod int, soc float64, socOK bool) float64 {
	sp := s.at(tod)
	if s.tou == nil {
		return sp.p
	}
	if !socOK {
		return 0
	}
	t := s.tou
	switch sp.kind {
	case TOUValley:
		return -t.ChargeP * clamp((t.ChargeToSOC-soc)/touTaper, 0, 1)
	case TOUPeak:
		return t.DischargeP * clamp((soc-t.DischargeToSOC)/touTaper, 0, 1)
	}
	return 0
}
