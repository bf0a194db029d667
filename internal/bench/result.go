package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/emsd/emsd/internal/jsonnum"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// F is a float64 that encodes NaN and ±Inf as JSON null.
type F = jsonnum.Float

// KPI is one figure of a run.
type KPI struct {
	Name   string `json:"name"`
	Value  F      `json:"value"`
	Unit   string `json:"unit,omitempty"`
	Target string `json:"target,omitempty"`
	// Pass is set when the figure has a target: whether it met it.
	Pass *bool `json:"pass,omitempty"`
}

// Machine describes where a run took place.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

// Result is one scenario run: its setting, its figures and details.
type Result struct {
	Scenario string    `json:"scenario"`
	Config   string    `json:"config"`
	Site     string    `json:"site"`
	Units    int       `json:"units"`
	Devices  int       `json:"devices"`
	RatedKW  F         `json:"rated_kw"`
	Plant    string    `json:"plant"` // "in-process" or "child process"
	Speed    F         `json:"speed"`
	Started  time.Time `json:"started"`
	WallS    F         `json:"wall_s"`
	Machine  Machine   `json:"machine"`
	KPIs     []KPI     `json:"kpis"`
	Notes    []string  `json:"notes,omitempty"`
	// Detail holds scenario-specific records (steps, commands, units).
	Detail any `json:"detail,omitempty"`
}

// Add appends a figure without a target.
func (r *Result) Add(name string, v float64, unit string) {
	r.KPIs = append(r.KPIs, KPI{Name: name, Value: F(v), Unit: unit})
}

// AddTarget appends a figure with its target; pass says whether v meets it.
func (r *Result) AddTarget(name string, v float64, unit, target string, pass bool) {
	r.KPIs = append(r.KPIs, KPI{Name: name, Value: F(v), Unit: unit, Target: target, Pass: &pass})
}

// Note appends a remark printed under the table.
func (r *Result) Note(format string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(format, a...)) }

// Get returns the value of the named figure.
func (r *Result) Get(name string) (float64, bool) {
	for _, k := range r.KPIs {
		if k.Name == name {
			return float64(k.Value), true
		}
	}
	return math.NaN(), false
}

// WriteJSON writes r as one JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes r as a human-readable table.
func (r *Result) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "emsbench %s — %s (%s, %d units, %d devices, %.0f kW rated)\n", r.Scenario, r.Config, r.Site, r.Units, r.Devices, float64(r.RatedKW))
	fmt.Fprintf(w, "simulated plant %s on loopback; station runtime in process; speed %g×; %d CPUs, %s; %s\n",
		r.Plant, float64(r.Speed), r.Machine.CPUs, r.Machine.CPUModel, r.Started.Format(time.RFC3339))
	width := 0
	for _, k := range r.KPIs {
		width = max(width, len(k.Name))
	}
	for _, k := range r.KPIs {
		val := formatValue(float64(k.Value))
		line := fmt.Sprintf("  %-*s %12s %-6s", width, k.Name, val, k.Unit)
		if k.Pass != nil {
			mark := "ok"
			if !*k.Pass {
				mark = "MISSED"
			}
			line += fmt.Sprintf("  target %s  %s", k.Target, mark)
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "  note:", n)
	}
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v == math.Trunc(v) && math.Abs(v) < 1e9:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// machine describes this machine.
func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// quantile returns the q-quantile (0..1) of xs by the nearest-rank
// method, ignoring NaNs; NaN for no data.
func quantile(xs []float64, q float64) float64 {
	s := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	sort.Float64s(s)
	k := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

func maxAbs(xs []float64) float64 {
	m := math.NaN()
	for _, x := range xs {
		if !math.IsNaN(x) && (math.IsNaN(m) || math.Abs(x) > m) {
			m = math.Abs(x)
		}
	}
	return m
}

// Median combines several runs of one scenario into one result whose
// figures are the medians of the runs' figures (for an even count, the
// mean of the middle two). Pass is taken from the run whose figure is
// closest to the median. Notes list every run's values.
func Median(runs []*Result) *Result {
	if len(runs) == 0 {
		return nil
	}
	out := *runs[0]
	out.KPIs = nil
	out.Detail = nil
	for _, k := range runs[0].KPIs {
		var vs []float64
		for _, r := range runs {
			if v, ok := r.Get(k.Name); ok {
				vs = append(vs, v)
			}
		}
		med := median(vs)
		m := KPI{Name: k.Name, Value: F(med), Unit: k.Unit, Target: k.Target}
		if k.Pass != nil {
			best := math.Inf(1)
			for _, r := range runs {
				for _, rk := range r.KPIs {
					if rk.Name == k.Name && rk.Pass != nil && math.Abs(float64(rk.Value)-med) < best {
						best = math.Abs(float64(rk.Value) - med)
						p := *rk.Pass
						m.Pass = &p
					}
				}
			}
		}
		out.KPIs = append(out.KPIs, m)
	}
	out.Notes = append([]string{fmt.Sprintf("medians of %d runs", len(runs))}, runs[0].Notes...)
	for _, k := range runs[0].KPIs {
		var vals []string
		for _, r := range runs {
			v, _ := r.Get(k.Name)
			vals = append(vals, formatValue(v))
		}
		out.Notes = append(out.Notes, fmt.Sprintf("runs of %q: %s", k.Name, strings.Join(vals, ", ")))
	}
	out.Detail = map[string]any{"runs": runs}
	return &out
}

func median(xs []float64) float64 {
	s := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
