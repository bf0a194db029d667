package trace

import (
	"bytes"
	"math"
)

// dateRun is a stretch of consecutive rows sharing one date string.
type dateRun struct {
	first, last int      // row indices, inclusive
	line        int      // file line of the first row
	day         [2]int64 // candidate day numbers: as written (Y-M-D), day/month swapped (Y-D-M); -1 if impossible
}

func parseRTE(r *lines) (*Series, error) {
	s := &Series{Kind: FrequencyHz}
	var tods []int64
	var runs []dateRun
	var lastDate [10]byte
	for {
		l, ok := r.next()
		if !ok {
			break
		}
		c := bytes.IndexByte(l, ',')
		if c < 0 || bytes.IndexByte(l[c+1:], ',') >= 0 {
			return nil, r.errf("want 2 fields, got %d", bytes.Count(l, []byte(","))+1)
		}
		ts := bytes.TrimSpace(l[:c])
		y, mo, d, tod, ok := parseTimestamp(ts)
		if !ok {
			return nil, r.errf("bad timestamp %q (want YYYY-MM-DD HH:MM:SS)", ts)
		}
		v, err := r.number(l[c+1:], "frequency deviation (mHz)")
		if err != nil {
			return nil, err
		}
		row := len(tods)
		if len(runs) == 0 || !bytes.Equal(ts[:10], lastDate[:]) {
			copy(lastDate[:], ts[:10])
			run := dateRun{first: row, line: r.line, day: [2]int64{daysFromCivil(y, mo, d), -1}}
			if d <= 12 && d != mo {
				run.day[1] = daysFromCivil(y, d, mo)
			}
			runs = append(runs, run)
		} else if tod <= tods[row-1] {
			return nil, r.errf("time %s not after previous row", ts)
		}
		runs[len(runs)-1].last = row
		tods = append(tods, tod)
		s.V = append(s.V, mHzToHz(v))
	}
	if len(tods) == 0 {
		return nil, r.empty()
	}
	days, err := chooseDates(r.path, runs, tods)
	if err != nil {
		return nil, err
	}
	s.T = make([]float64, len(tods))
	start := days[0]*86400 + tods[0]
	for i, run := range runs {
		base := days[i]*86400 - start
		for j := run.first; j <= run.last; j++ {
			s.T[j] = float64(base + tods[j])
		}
	}
	return s, nil
}

// chooseDates picks one reading per date run so that time strictly
// increases across runs and the total span is shortest (dynamic programming
// over the at most two readings per run; ties go to the date as written).
func chooseDates(path string, runs []dateRun, tods []int64) ([]int64, error) {
	const none = math.MaxInt64
	n := len(runs)
	cost := make([][2]int64, n)
	from := make([][2]int8, n)
	for c := range 2 {
		cost[0][c] = none
		if runs[0].day[c] >= 0 {
			cost[0][c] = 0
		}
	}
	for i := 1; i < n; i++ {
		for c := range 2 {
			cost[i][c] = none
			if runs[i].day[c] < 0 {
				continue
			}
			start := runs[i].day[c]*86400 + tods[runs[i].first]
			for p := range 2 {
				if cost[i-1][p] == none {
					continue
				}
				end := runs[i-1].day[p]*86400 + tods[runs[i-1].last]
				if start > end && cost[i-1][p]+start-end < cost[i][c] {
					cost[i][c] = cost[i-1][p] + start - end
					from[i][c] = int8(p)
				}
			}
		}
		if cost[i][0] == none && cost[i][1] == none {
			return nil, &ParseError{Path: path, Line: runs[i].line, Msg: "timestamp not after previous row (also with day and month swapped)"}
		}
	}
	days := make([]int64, n)
	c := 0
	if cost[n-1][1] < cost[n-1][0] {
		c = 1
	}
	for i := n - 1; i >= 0; i-- {
		days[i] = runs[i].day[c]
		c = int(from[i][c])
	}
	return days, nil
}

// parseTimestamp parses "YYYY-MM-DD HH:MM:SS" (or with 'T' as separator),
// returning the date fields and the time of day in seconds.
func parseTimestamp(b []byte) (y, mo, d int, tod int64, ok bool) {
	if len(b) != 19 || b[4] != '-' || b[7] != '-' || (b[10] != ' ' && b[10] != 'T') || b[13] != ':' || b[16] != ':' {
		return 0, 0, 0, 0, false
	}
	num := func(s []byte) int {
		v := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d = num(b[0:4]), num(b[5:7]), num(b[8:10])
	h, mi, se := num(b[11:13]), num(b[14:16]), num(b[17:19])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59 {
		return 0, 0, 0, 0, false
	}
	return y, mo, d, int64(h*3600 + mi*60 + se), true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400 // y >= 0 here
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
