package bench

import (
	"math"
	"testing"
)

func TestScoreFaultsExcursions(t *testing.T) {
	// Request 100, band 1. Drop at t=1, restore at t=10. Outside the band
	// from 5.0 to 5.2 (two 0.1 s intervals) and again at 7.1 (one). A site
	// load of 20 kW lowers the POI: the output is POI + load.
	var rows []Sample
	for i := 0; i <= 120; i++ {
		tt := float64(i) / 10
		p := 100.0
		switch {
		case tt >= 5.05 && tt <= 5.25, tt >= 7.05 && tt <= 7.15:
			p = 95
		case tt >= 10.05 && tt <= 10.15:
			p = 103
		}
		rows = append(rows, Sample{T: tt, POIKW: p - 20, LoadKW: 20})
	}
	s := ScoreFaults(rows, 100, 1, 1, 10)
	// Drop phase: samples outside at 5.1, 5.2 (run 0.2 s) and 7.1 (run 0.1 s).
	if !close9(s.LongestDropS, 0.2) || !close9(s.OutsideDropS, 0.3) || !close9(s.RecoveryS, 6.1) || !close9(s.MaxDevDropPct, 5) {
		t.Errorf("drop: %+v", s)
	}
	// Restore phase: 10.1 only.
	if !close9(s.LongestRestoreS, 0.1) || !close9(s.OutsideRestoreS, 0.1) || !close9(s.RecoveryRestoreS, 0.1) || !close9(s.MaxDevRestorePct, 3) {
		t.Errorf("restore: %+v", s)
	}
}

func close9(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
