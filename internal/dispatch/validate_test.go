package dispatch

import (
	"errors"
	"strings"
	"testing"
)

func ptr(v float64) *float64 { return &v }

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig(200000)
	if err := good.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tc := range []struct {
		field string
		mod   func(c *Config)
	}{
		{"rated_p", func(c *Config) { c.RatedP = 0 }},
		{"nominal_f", func(c *Config) { c.NominalF = 55 }},
		{"ramp_rate", func(c *Config) { c.RampRate = -1 }},
		{"poi_import_limit", func(c *Config) { c.POIImportLimit = ptr(-1) }},
		{"soc_soft_min", func(c *Config) { c.SOCSoftMin = 1 }},
		{"soc_soft_max", func(c *Config) { c.SOCSoftMax = 5 }},
		{"soc_max", func(c *Config) { c.SOCMax = 101 }},
		{"cell_v_high_hard", func(c *Config) { c.CellVHighHard = 3.5 }},
		{"temp_high_hard", func(c *Config) { c.TempHighHard = 40 }},
		{"derate_factor", func(c *Config) { c.DerateFactor = 1.5 }},
		{"limit_factor", func(c *Config) { c.LimitFactor = 0.9 }},
		{"bms_timeout", func(c *Config) { c.BMSTimeout = 0 }},
		{"soc_balance_gain", func(c *Config) { c.SOCBalanceGain = 20 }},
		{"agc.ramp_rate", func(c *Config) { c.AGC.RampRate = 0 }},
		{"pfr.droop_pct", func(c *Config) { c.PFR.DroopPct = 6 }},
		{"pfr.limit", func(c *Config) { c.PFR.Limit = 1000 }},
		{"peak.recharge_below", func(c *Config) { c.Peak.RechargeBelow = c.Peak.ImportLimit + 1 }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			c := DefaultConfig(200000)
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.field+":") {
				t.Fatalf("want error naming %q, got %v", tc.field, err)
			}
			if _, err := New(c); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestCommandValidate(t *testing.T) {
	points := make([]float64, 96)
	for _, tc := range []struct {
		name  string
		cmd   Command
		field string // "" = valid
	}{
		{"mode ok", SetMode{Mode: ModeAGC}, ""},
		{"mode unknown", SetMode{Mode: "turbo"}, "mode"},
		{"manual ok", ManualSetpoint{P: -5, Q: 3}, ""},
		{"manual NaN", ManualSetpoint{P: nan()}, "p"},
		{"points ok", ScheduleUpload{Points: points}, ""},
		{"points short", ScheduleUpload{Points: points[:95]}, "points"},
		{"two plans", ScheduleUpload{Points: points, Segments: []Segment{{"00:00", "24:00", 0}}}, "schedule"},
		{"segments ok", ScheduleUpload{Segments: []Segment{{"08:00", "24:00", 5}, {"00:00", "08:00", -5}}}, ""},
		{"segments gap", ScheduleUpload{Segments: []Segment{{"00:00", "08:00", 0}, {"09:00", "24:00", 0}}}, "segments"},
		{"segments overlap", ScheduleUpload{Segments: []Segment{{"00:00", "09:00", 0}, {"08:00", "24:00", 0}}}, "segments"},
		{"segments late start", ScheduleUpload{Segments: []Segment{{"01:00", "24:00", 0}}}, "segments"},
		{"segments early end", ScheduleUpload{Segments: []Segment{{"00:00", "23:00", 0}}}, "segments"},
		{"segments bad time", ScheduleUpload{Segments: []Segment{{"00:00", "25:00", 0}}}, "segments[0].end"},
		{"segments reversed", ScheduleUpload{Segments: []Segment{{"10:00", "09:00", 0}}}, "segments[0]"},
		{"tou ok", ScheduleUpload{TOU: &TOUPlan{Periods: []TOUPeriod{{"00:00", "08:00", TOUValley}, {"08:00", "18:00", TOUPeak}, {"18:00", "24:00", TOUFlat}}, ChargeP: 1, DischargeP: 1, ChargeToSOC: 90, DischargeToSOC: 10}}, ""},
		{"tou bad kind", ScheduleUpload{TOU: &TOUPlan{Periods: []TOUPeriod{{"00:00", "24:00", "cheap"}}, ChargeP: 1, DischargeP: 1, ChargeToSOC: 90, DischargeToSOC: 10}}, "tou.periods[0].kind"},
		{"tou socs reversed", ScheduleUpload{TOU: &TOUPlan{Periods: []TOUPeriod{{"00:00", "24:00", TOUFlat}}, ChargeP: 1, DischargeP: 1, ChargeToSOC: 10, DischargeToSOC: 90}}, "tou.charge_to_soc"},
		{"peak ok", SetPeakShaving{PeakParams{ImportLimit: 100, RechargeBelow: 50, RechargeP: 10, RechargeSOC: 90, ExportLimit: ptr(0)}}, ""},
		{"peak negative export", SetPeakShaving{PeakParams{ImportLimit: 100, ExportLimit: ptr(-1)}}, "export_limit"},
		{"agc target ok", AGCTarget{P: 10}, ""},
		{"agc target inf", AGCTarget{P: inf()}, "p"},
		{"agc params ok", SetAGCParams{AGCParams{RampRate: 10, Ki: 0.1}}, ""},
		{"agc params ki", SetAGCParams{AGCParams{RampRate: 10, Ki: 3}}, "ki"},
		{"pfr ok", SetPFR{Enable: true, PFRParams: PFRParams{DroopPct: 3, DeadBand: 0.033}}, ""},
		{"pfr droop low", SetPFR{Enable: true, PFRParams: PFRParams{DroopPct: 0.4}}, "droop_pct"},
		{"pfr dead band", SetPFR{Enable: true, PFRParams: PFRParams{DroopPct: 1, DeadBand: 1}}, "dead_band"},
		{"ffr ok", SetFFR{Enable: true, FFRParams: FFRParams{LowTrigger: 49.8, Power: 1, HoldS: 10, RecoveryP: 1}}, ""},
		{"ffr off needs nothing", SetFFR{}, ""},
		{"ffr no trigger", SetFFR{Enable: true, FFRParams: FFRParams{Power: 1, HoldS: 10, RecoveryP: 1}}, "low_trigger"},
		{"ffr triggers crossed", SetFFR{Enable: true, FFRParams: FFRParams{LowTrigger: 50.5, HighTrigger: 50.2, Power: 1, HoldS: 1, RecoveryP: 1}}, "high_trigger"},
		{"ffr hold", SetFFR{Enable: true, FFRParams: FFRParams{LowTrigger: 49.8, Power: 1, HoldS: 0, RecoveryP: 1}}, "hold_s"},
		{"estop", EStop{}, ""},
		{"reset", Reset{Unit: "u1"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cmd.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.field) {
				t.Fatalf("want error starting with %q, got %v", tc.field, err)
			}
		})
	}
}

func TestApplyRefusesAgainstPlant(t *testing.T) {
	c := mustNew(t, DefaultConfig(1000))
	for _, tc := range []struct {
		name string
		cmd  Command
		want string
	}{
		{"manual above rated", ManualSetpoint{P: 1001}, "p:"},
		{"manual q above rated", ManualSetpoint{Q: -2000}, "q:"},
		{"schedule before upload", SetMode{Mode: ModeSchedule}, "no schedule"},
		{"plan above rated", ScheduleUpload{Segments: []Segment{{"00:00", "24:00", 5000}}}, "rated"},
		{"agc target above rated", AGCTarget{P: -1500}, "p:"},
		{"pfr limit under 20 %", SetPFR{Enable: true, PFRParams: PFRParams{DroopPct: 1, Limit: 100}}, "limit"},
		{"pfr reserve above rated", SetPFR{Enable: true, PFRParams: PFRParams{DroopPct: 1, Reserve: 2000}}, "reserve"},
		{"agc dead band too wide", SetAGCParams{AGCParams{RampRate: 1, DeadBand: 500}}, "dead_band"},
		{"ffr power", SetFFR{Enable: true, FFRParams: FFRParams{LowTrigger: 49.8, Power: 5000, HoldS: 1, RecoveryP: 1}}, "power"},
		{"nil", nil, "nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Apply(tc.cmd, t0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want refusal mentioning %q, got %v", tc.want, err)
			}
		})
	}
	if c.Mode() != ModeStandby {
		t.Errorf("refused commands changed the mode to %v", c.Mode())
	}
	// A refused manual setpoint must leave the previous one in force.
	mustApply(t, c, ManualSetpoint{P: 200})
	_ = c.Apply(ManualSetpoint{P: 5000}, t0)
	if c.params.manual.P != 200 {
		t.Errorf("refused setpoint changed state: %v", c.params.manual.P)
	}
	// AGC command dead band.
	mustApply(t, c, AGCTarget{P: 500})
	if err := c.Apply(AGCTarget{P: 502}, t0); !errors.Is(err, ErrWithinDeadBand) {
		t.Errorf("want ErrWithinDeadBand, got %v", err)
	}
	mustApply(t, c, AGCTarget{P: 510})
}
