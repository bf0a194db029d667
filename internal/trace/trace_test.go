package trace

import (
	"bytes"
	"compress/gzip"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/emsd/emsd/internal/testutil"
)

const eps = 1e-9

func near(a, b float64) bool { return math.Abs(a-b) <= eps }

func checkSeries(t *testing.T, s *Series, kind Kind, wantT, wantV []float64) {
	t.Helper()
	if s.Kind != kind {
		t.Errorf("Kind = %v, want %v", s.Kind, kind)
	}
	if len(s.T) != len(wantT) || len(s.V) != len(wantV) {
		t.Fatalf("got %d/%d samples, want %d", len(s.T), len(s.V), len(wantT))
	}
	for i := range wantT {
		if !near(s.T[i], wantT[i]) || !near(s.V[i], wantV[i]) {
			t.Errorf("sample %d = (%g, %g), want (%g, %g)", i, s.T[i], s.V[i], wantT[i], wantV[i])
		}
	}
}

func TestAt(t *testing.T) {
	s := &Series{T: []float64{0, 2, 4}, V: []float64{1, 3, -1}}
	cases := []struct{ t, want float64 }{
		{-5, 1}, // before the first sample: hold the first value
		{0, 1},
		{0.5, 1.5}, // 1 + (3-1)*0.5/2
		{2, 3},
		{3, 1}, // 3 + (-1-3)*1/2
		{3.5, 0},
		{4, -1},
		{100, -1}, // after the last sample: hold the last value
	}
	for _, c := range cases {
		if got := s.At(c.t); !near(got, c.want) {
			t.Errorf("At(%g) = %g, want %g", c.t, got, c.want)
		}
	}
	if got := (&Series{}).At(1); got != 0 {
		t.Errorf("empty At = %g, want 0", got)
	}
	if got := s.Duration(); got != 4 {
		t.Errorf("Duration = %g, want 4", got)
	}
	if got := (&Series{T: []float64{7}, V: []float64{1}}).Duration(); got != 0 {
		t.Errorf("one-sample Duration = %g, want 0", got)
	}
}

// At stays within the range of its two neighbouring samples and hits every
// sample exactly.
func TestAtProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 20).Draw(t, "n")
		s := &Series{}
		x := rapid.Float64Range(-100, 100).Draw(t, "t0")
		for i := range n {
			if i > 0 {
				x += rapid.Float64Range(0.001, 10).Draw(t, "dt")
			}
			s.T = append(s.T, x)
			s.V = append(s.V, rapid.Float64Range(-10, 10).Draw(t, "v"))
		}
		for i := range n {
			if got := s.At(s.T[i]); math.Abs(got-s.V[i]) > 1e-9 {
				t.Fatalf("At(T[%d]) = %g, want %g", i, got, s.V[i])
			}
		}
		q := rapid.Float64Range(s.T[0]-5, s.T[n-1]+5).Draw(t, "q")
		got := s.At(q)
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range s.V {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if got < lo-1e-9 || got > hi+1e-9 {
			t.Fatalf("At(%g) = %g outside [%g, %g]", q, got, lo, hi)
		}
	})
}

func TestLoadGeneric(t *testing.T) {
	s, err := Load("testdata/generic_f_hz.csv")
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, s, FrequencyHz, []float64{0, 1, 3}, []float64{50, 49.9, 50.1})
	// 49.9 + (50.1-49.9)*(2-1)/(3-1) = 50.0
	if got := s.At(2); !near(got, 50.0) {
		t.Errorf("At(2) = %g, want 50", got)
	}

	// BOM, CRLF and a blank line; mHz converted: 50 + (-39)/1000 = 49.961,
	// 50 + 20/1000 = 50.02.
	s, err = Load("testdata/generic_df_mhz_bom_crlf.csv")
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, s, FrequencyHz, []float64{0, 10}, []float64{49.961, 50.02})
}

func TestLoadGenericKinds(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		col  string
		kind Kind
	}{{"load_kw", LoadKW}, {"v_v", VoltageV}, {"reg", Regulation}} {
		p := filepath.Join(dir, c.col+".csv")
		writeFile(t, p, "t_s,"+c.col+"\n5,0.5\n6,-0.25\n")
		s, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		// t_s is kept as written, not shifted to 0.
		checkSeries(t, s, c.kind, []float64{5, 6}, []float64{0.5, -0.25})
	}
}

func TestLoadGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("t_s,load_kw\n0,100\n60,250\n"))
	zw.Close()
	// Detected from the magic bytes, whatever the file is called.
	for _, name := range []string{"load.csv.gz", "load.csv"} {
		p := filepath.Join(t.TempDir(), name)
		writeFile(t, p, buf.String())
		s, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		checkSeries(t, s, LoadKW, []float64{0, 60}, []float64{100, 250})
	}
}

func TestLoadPJMWrap(t *testing.T) {
	// 23:59:56 -> 0 s, 23:59:58 -> 2 s, 0:00:00 wraps -> 4 s, 0:00:02 -> 6 s.
	s, err := Load("testdata/pjm_wrap.csv")
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, s, Regulation, []float64{0, 2, 4, 6}, []float64{-1, -0.5, 0, 0.75})
	s, err = LoadPJM("testdata/pjm_wrap.csv", 1)
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, s, Regulation, []float64{0, 2, 4, 6}, []float64{0.5, 0.25, 0, -1})
	if _, err := LoadPJM("testdata/pjm_wrap.csv", 2); err == nil || !strings.Contains(err.Error(), "day 2 out of range") {
		t.Errorf("day 2: err = %v", err)
	}
	if _, err := LoadPJM("testdata/generic_f_hz.csv", 0); err == nil || !strings.Contains(err.Error(), "not a PJM") {
		t.Errorf("generic file as PJM: err = %v", err)
	}
}

func TestLoadRTESwappedDatesAndGap(t *testing.T) {
	// "2019-12-05 23:59:50" can only precede "2019-05-13" if read day-first
	// (12 May), 10 s before midnight. Then 0:00:00 -> 10 s, 0:00:10 -> 20 s,
	// and 0:01:00 -> 70 s keeps the 50 s gap. V = 50 + mHz/1000.
	s, err := Load("testdata/rte_swapped_gap.csv")
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, s, FrequencyHz, []float64{0, 10, 20, 70}, []float64{49.99, 50.02, 50.03, 49.96})
	// In the gap: 50.03 + (49.96-50.03)*(45-20)/50 = 49.995.
	if got := s.At(45); !near(got, 49.995) {
		t.Errorf("At(45) = %g, want 49.995", got)
	}
}

func TestLoadRTEPlainDates(t *testing.T) {
	// ISO dates read as written: 2020-02-28 23:59:50 to 2020-03-01 00:00:00
	// spans the leap day: 10 s + 86400 s = 86410 s.
	p := filepath.Join(t.TempDir(), "f.csv")
	writeFile(t, p, ",Frequency\n2020-02-28 23:59:50,0\n2020-03-01 00:00:00,1\n")
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, s, FrequencyHz, []float64{0, 86410}, []float64{50, 50.001})
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, body string
		line       int
		msg        string
	}{
		{"unknown_header", "time,value\n0,1\n", 1, "unknown header"},
		{"unknown_column", "t_s,volts\n0,1\n", 1, "unknown header"},
		{"empty", "", 0, "empty file"},
		{"blank", "\n\n", 0, "empty file"},
		{"no_rows", "t_s,f_hz\n", 1, "no data rows"},
		{"bad_number", "t_s,f_hz\n0,50\n1,fifty\n", 3, `bad number "fifty"`},
		{"nan", "t_s,f_hz\n0,NaN\n", 2, "bad number"},
		{"bad_time", "t_s,f_hz\n0,50\nx,50\n", 3, `bad number "x" for t_s`},
		{"fields", "t_s,f_hz\n0,50,1\n", 2, "want 2 fields"},
		{"non_monotonic", "t_s,f_hz\n0,50\n2,50\n\n1,50\n", 5, "not after previous"},
		{"repeated_time", "t_s,f_hz\n0,50\n0,50\n", 3, "not after previous"},
		{"reg_range", "t_s,reg\n0,1.5\n", 2, "outside -1..+1"},
		{"pjm_repeat", ",8/1/2017\n16:00:00,0\n16:00:02,0\n16:00:02,0\n", 4, "repeats"},
		{"pjm_backwards", ",8/1/2017\n16:00:00,0\n16:00:02,0\n16:00:00,0\n", 4, "goes backwards"},
		{"pjm_jump_back", ",8/1/2017\n16:00:00,0\n12:00:00,0\n", 3, "goes backwards"},
		{"pjm_bad_tod", ",8/1/2017\n16:00,0\n", 2, "bad time of day"},
		{"pjm_fields", ",8/1/2017,8/2/2017\n16:00:00,0\n", 2, "want 3 fields"},
		{"rte_bad_ts", ",Frequency\n2019-05-01 00:00:00,1\n2019-05-01 25:00:00,1\n", 3, "bad timestamp"},
		{"rte_back_same_day", ",Frequency\n2019-05-20 00:00:10,1\n2019-05-20 00:00:00,1\n", 3, "not after previous"},
		{"rte_back_days", ",Frequency\n2019-05-20 00:00:00,1\n2019-05-19 00:00:00,1\n", 3, "not after previous row (also with day and month swapped)"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".csv")
			writeFile(t, p, c.body)
			_, err := Load(p)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ParseError", err)
			}
			if pe.Path != p || pe.Line != c.line || !strings.Contains(pe.Msg, c.msg) {
				t.Errorf("err = %q (line %d), want line %d containing %q", err, pe.Line, c.line, c.msg)
			}
			if !strings.HasPrefix(err.Error(), p) {
				t.Errorf("message %q does not start with the path", err)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: err = %v", err)
	}
}

func writeFile(t *testing.T, p, body string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRealPJM(t *testing.T) {
	p := testutil.SharedData(t, "traces/pjm-regulation-2017-08-01_02-2s.csv")
	for day, first := range []float64{-1, -0.91885458} {
		s, err := LoadPJM(p, day)
		if err != nil {
			t.Fatal(err)
		}
		// 16:00:00 .. 0:00:00 every 2 s: 8 h * 1800 + 1 = 14401 samples, 28800 s.
		if len(s.T) != 14401 || s.Duration() != 28800 || s.Kind != Regulation {
			t.Fatalf("day %d: %d samples, %g s, kind %v", day, len(s.T), s.Duration(), s.Kind)
		}
		for i := 1; i < len(s.T); i++ {
			if s.T[i]-s.T[i-1] != 2 {
				t.Fatalf("day %d: step %g s at sample %d", day, s.T[i]-s.T[i-1], i)
			}
		}
		if s.V[0] != first {
			t.Errorf("day %d: first value %g, want %g", day, s.V[0], first)
		}
		mean := 0.0
		for _, v := range s.V {
			mean += v
		}
		mean /= float64(len(s.V))
		// The data README gives means of about -0.46 and -0.54.
		if want := []float64{-0.46, -0.54}[day]; math.Abs(mean-want) > 0.01 {
			t.Errorf("day %d: mean %.3f, want about %.2f", day, mean, want)
		}
	}
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	// Last row "0:00:00,-0.497342888,-1" is at 28800 s.
	if s.V[0] != -1 || s.At(28800) != -0.497342888 {
		t.Errorf("Load: first %g, At(28800) %g", s.V[0], s.At(28800))
	}
}

func TestRealRTE(t *testing.T) {
	p := testutil.SharedData(t, "traces/rte-frequency-deviation-2019-01-05_05-31-10s.csv.gz")
	start := time.Now()
	s, err := Load(p)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d rows in %v", len(s.T), elapsed)
	// 31 days (1-31 May 2019, the first 12 written day-first) of 8640 rows.
	if len(s.T) != 267840 || s.Kind != FrequencyHz {
		t.Fatalf("%d rows, kind %v", len(s.T), s.Kind)
	}
	// Contiguous: 267840 rows * 10 s - 10 s = 2678390 s, every step 10 s.
	if s.Duration() != 2678390 {
		t.Errorf("Duration = %g, want 2678390", s.Duration())
	}
	for i := 1; i < len(s.T); i++ {
		if s.T[i]-s.T[i-1] != 10 {
			t.Fatalf("step %g s at row %d", s.T[i]-s.T[i-1], i)
		}
	}
	// First row -32.1 mHz -> 49.9679 Hz; last row 29.1 mHz -> 50.0291 Hz.
	if !near(s.V[0], 49.9679) || !near(s.V[len(s.V)-1], 50.0291) {
		t.Errorf("first %g, last %g", s.V[0], s.V[len(s.V)-1])
	}
	// The file's extremes are -110.5 and +129.5 mHz.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range s.V {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if !near(lo, 49.8895) || !near(hi, 50.1295) {
		t.Errorf("range %g..%g, want 49.8895..50.1295", lo, hi)
	}
	if elapsed > 2*time.Second { // generous for loaded CI machines; aim is < 300 ms
		t.Errorf("load took %v", elapsed)
	}
}
