package command

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/reactive"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func points(n int, p string) string {
	return "[" + strings.TrimSuffix(strings.Repeat(p+",", n), ",") + "]"
}

func TestParseValid(t *testing.T) {
	cases := []struct {
		name, payload string
		want          dispatch.Command
	}{
		{NameMode, `{"id":"a","mode":"manual"}`, dispatch.SetMode{Mode: dispatch.ModeManual}},
		{NameSetpoint, `{"id":"a","p":-500.5,"q":20}`, dispatch.ManualSetpoint{P: -500.5, Q: 20}},
		{NamePeakShaving, `{"id":"a","import_limit":1000,"recharge_below":500,"recharge_p":200,"recharge_soc":90,"export_limit":0}`,
			dispatch.SetPeakShaving{PeakParams: dispatch.PeakParams{ImportLimit: 1000, RechargeBelow: 500, RechargeP: 200, RechargeSOC: 90, ExportLimit: ptr(0.0)}}},
		{NameSchedule, `{"id":"a","segments":[{"start":"00:00","end":"12:00","p":-100},{"start":"12:00","end":"24:00","p":100}]}`,
			dispatch.ScheduleUpload{Segments: []dispatch.Segment{{Start: "00:00", End: "12:00", P: -100}, {Start: "12:00", End: "24:00", P: 100}}}},
		{NameAGCParams, `{"id":"a","ramp_rate":10,"dead_band":50,"ki":0.2,"integral_limit":1000}`,
			dispatch.SetAGCParams{AGCParams: dispatch.AGCParams{RampRate: 10, DeadBand: 50, Ki: 0.2, IntegralLimit: 1000}}},
		{NameAGCTarget, `{"id":"a","p":1e4}`, dispatch.AGCTarget{P: 10000}},
		{NameFrequencyResp, `{"id":"a","enable":true,"droop_pct":2,"dead_band":0.033,"limit":0,"reserve":0}`,
			dispatch.SetPFR{Enable: true, PFRParams: dispatch.PFRParams{DroopPct: 2, DeadBand: 0.033}}},
		{NameFrequencyResp, `{"id":"a","enable":false}`, dispatch.SetPFR{}},
		{NameFastFrequency, `{"id":"a","enable":true,"low_trigger":49.7,"power":1000,"hold_s":10,"recovery_p":100}`,
			dispatch.SetFFR{Enable: true, FFRParams: dispatch.FFRParams{LowTrigger: 49.7, Power: 1000, HoldS: 10, RecoveryP: 100}}},
		{NameReactive, `{"id":"a","mode":"voltage","v_ref":10200,"dead_band":20,"ki":5,"q_max":3000,"q_min":-3000,"priority":"q"}`,
			dispatch.SetReactive{Params: reactive.Params{Mode: reactive.ModeVoltage, VRef: 10200, DeadBand: 20, Ki: 5, QMax: 3000, QMin: -3000, Priority: reactive.QFirst}}},
		{NameReactive, `{"id":"a","mode":"off"}`, dispatch.SetReactive{Params: reactive.Params{Mode: reactive.ModeOff}}},
		{NameEStop, `{"id":"a","reason":"fire alarm"}`, dispatch.EStop{Reason: "fire alarm"}},
		{NameEStop, `{"id":"a"}`, dispatch.EStop{}},
		{NameReset, `{"id":"a","unit":"pcs3"}`, dispatch.Reset{Unit: "pcs3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := Parse(c.name, []byte(c.payload), t0)
			if err != nil {
				t.Fatalf("Parse(%s): %v", c.payload, err)
			}
			if req.ID != "a" || req.Name != c.name || !req.ExpiresAt.IsZero() {
				t.Errorf("envelope = %+v", req)
			}
			if !reflect.DeepEqual(req.Cmd, c.want) {
				t.Errorf("cmd = %#v, want %#v", req.Cmd, c.want)
			}
		})
	}
	if len(Names()) != 11 {
		t.Errorf("Names() = %v", Names())
	}
}

func TestParseSchedulePoints(t *testing.T) {
	req, err := Parse(NameSchedule, []byte(`{"id":"day-ahead","points":`+points(96, "12.5")+`}`), t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Cmd.(dispatch.ScheduleUpload).Points; len(got) != 96 || got[95] != 12.5 {
		t.Errorf("points = %v", got)
	}
}

func TestParseExpiry(t *testing.T) {
	req, err := Parse(NameMode, []byte(`{"id":"x","expires_at":"2025-06-01T12:00:05+08:00","mode":"agc"}`), t0.Add(-8*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 6, 1, 4, 0, 5, 0, time.UTC); !req.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", req.ExpiresAt, want)
	}
	req, err = Parse(NameMode, []byte(`{"id":"x","expires_at":"2025-06-01T12:00:00Z","mode":"agc"}`), t0)
	if !errors.Is(err, ErrStale) || req.ID != "x" {
		t.Errorf("at expiry: req %+v err %v, want stale with id", req, err)
	}
}

func TestParseErrors(t *testing.T) {
	big := `{"id":"big","points":` + points(20000, "1234.5678") + `}`
	cases := []struct {
		label, name, payload string
		is                   error
		reason               string // substring of the error
		id                   string // id the failed Request must still carry
	}{
		{"unknown command", "launch", `{"id":"a"}`, ErrUnknownCommand, `unknown command "launch"`, "a"},
		{"empty", NameMode, ``, ErrMalformed, "empty payload", ""},
		{"not JSON", NameMode, `mode=manual`, ErrMalformed, "invalid JSON at byte", ""},
		{"truncated", NameMode, `{"id":"a","mode":"man`, ErrMalformed, "invalid JSON", "a"},
		{"array", NameMode, `[1,2]`, ErrMalformed, "expected a JSON object, got an array", ""},
		{"null", NameMode, `null`, ErrMalformed, "expected a JSON object, got null", ""},
		{"trailing", NameMode, `{"id":"a","mode":"manual"} {"id":"b"}`, ErrMalformed, "trailing data", "a"},
		{"trailing junk", NameMode, `{"id":"a","mode":"manual"}x`, ErrMalformed, "trailing data", "a"},
		{"unknown field", NameMode, `{"id":"a","mode":"manual","force":true}`, ErrMalformed, `unknown field "force"`, "a"},
		{"case", NameSetpoint, `{"id":"a","P":100,"q":0}`, ErrMalformed, `did you mean "p"`, "a"},
		{"nested unknown", NameSchedule, `{"id":"a","tou":{"charge_p":1,"bogus":2}}`, ErrMalformed, `unknown field "tou.bogus"`, "a"},
		{"field at wrong level", NameSchedule, `{"id":"a","segments":[{"start":"00:00","end":"24:00","p":1,"mode":"x"}]}`, ErrMalformed, `unknown field "segments[0].mode"`, "a"},
		{"duplicate", NameMode, `{"id":"a","mode":"standby","mode":"manual"}`, ErrMalformed, `duplicate field "mode"`, "a"},
		{"wrong type", NameSetpoint, `{"id":"a","p":"100","q":0}`, ErrMalformed, "p: expected a number, got string", "a"},
		{"wrong type bool", NameFrequencyResp, `{"id":"a","enable":"yes"}`, ErrMalformed, "enable: expected true or false, got string", "a"},
		{"reactive without its gain", NameReactive, `{"id":"a","mode":"voltage","v_ref":10000,"q_max":100,"q_min":-100}`, ErrInvalid, "ki: 0 is outside", "a"},
		{"reactive unknown mode", NameReactive, `{"id":"a","mode":"vars"}`, ErrInvalid, `mode: unknown reactive mode "vars"`, "a"},
		{"overflow", NameSetpoint, `{"id":"a","p":1e999,"q":0}`, ErrMalformed, "p: expected a number", "a"},
		{"missing id", NameMode, `{"mode":"manual"}`, ErrMalformed, "id: required", ""},
		{"empty id", NameMode, `{"id":"","mode":"manual"}`, ErrMalformed, "id: must not be empty", ""},
		{"id type", NameMode, `{"id":42,"mode":"manual"}`, ErrMalformed, "id: expected a string, got number", ""},
		{"long id", NameMode, `{"id":"` + strings.Repeat("x", 65) + `","mode":"manual"}`, ErrMalformed, "longer than 64", ""},
		{"control id", NameMode, `{"id":"a\nb","mode":"manual"}`, ErrMalformed, "non-printable", ""},
		{"bad expiry", NameMode, `{"id":"a","expires_at":"tomorrow","mode":"manual"}`, ErrMalformed, "expires_at", "a"},
		{"expired", NameMode, `{"id":"a","expires_at":"2025-06-01T11:59:59Z","mode":"manual"}`, ErrStale, "expired at 2025-06-01T11:59:59Z", "a"},
		{"unknown mode", NameMode, `{"id":"a","mode":"turbo"}`, ErrInvalid, `mode: unknown mode "turbo"`, "a"},
		{"out of range", NameFrequencyResp, `{"id":"a","enable":true,"droop_pct":9,"dead_band":0.03}`, ErrInvalid, "droop_pct: 9 is outside [0.5, 5]", "a"},
		{"ffr range", NameFastFrequency, `{"id":"a","enable":true,"low_trigger":40,"power":1,"hold_s":1,"recovery_p":1}`, ErrInvalid, "low_trigger", "a"},
		{"schedule short", NameSchedule, `{"id":"a","points":[1,2]}`, ErrInvalid, "need 96 points", "a"},
		{"peak negative", NamePeakShaving, `{"id":"a","import_limit":-1,"recharge_below":0,"recharge_p":0,"recharge_soc":50}`, ErrInvalid, "import_limit", "a"},
		{"deep", NameSchedule, `{"id":"a","points":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, ErrMalformed, "nested deeper", "a"},
		{"oversize", NameSchedule, big, ErrTooLarge, "exceeds the limit of 65536", "big"},
	}
	for _, c := range cases {
		t.Run(c.label, func(t *testing.T) {
			req, err := Parse(c.name, []byte(c.payload), t0)
			if err == nil {
				t.Fatalf("Parse(%.80s) = %+v, want error", c.payload, req)
			}
			if !errors.Is(err, c.is) {
				t.Errorf("err = %v, want %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.reason) {
				t.Errorf("err = %q, want it to contain %q", err, c.reason)
			}
			if req.ID != c.id || req.Name != c.name || req.Cmd != nil {
				t.Errorf("req = %+v, want id %q name %q and no command", req, c.id, c.name)
			}
		})
	}
}

func TestPeekID(t *testing.T) {
	cases := map[string]string{
		`{"x":{"id":"no"},"id":"yes"}`: "yes",
		`{"x":{"id":"no"}}`:            "",
		`{"x":["id","no"],"id":"k"}`:   "k",
		`{"a":"id","id":"v"}`:          "v",
		`{"a":1,"id":"w","b":`:         "w",
		`{"id":7}`:                     "",
		`["id","no"]`:                  "",
		`{"id":"x\u0000"}`:             "",
	}
	for in, want := range cases {
		if got := peekID([]byte(in)); got != want {
			t.Errorf("peekID(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestParseLimit(t *testing.T) {
	p := []byte(`{"id":"a","mode":"manual"}`)
	if _, err := parse(NameMode, p, t0, len(p)); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	if _, err := parse(NameMode, p, t0, len(p)-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
}

// FuzzParse checks that Parse never panics and either returns a valid
// command or an error. The seeds run as a test in normal runs.
func FuzzParse(f *testing.F) {
	seeds := map[string][]string{
		NameMode:          {`{"id":"a","mode":"manual"}`, `{"id":"a","mode":"x"}`, `{"mode":"agc","id":"b","expires_at":"2030-01-01T00:00:00Z"}`},
		NameSetpoint:      {`{"id":"a","p":1,"q":2}`, `{"id":"a","p":NaN}`, `{"id":"a","p":1e308,"q":-1e308}`},
		NamePeakShaving:   {`{"id":"a","import_limit":10,"recharge_below":5,"recharge_p":1,"recharge_soc":80,"export_limit":null}`},
		NameSchedule:      {`{"id":"a","points":` + points(96, "0") + `}`, `{"id":"a","tou":{"periods":[{"start":"00:00","end":"24:00","kind":"flat"}],"charge_p":1,"discharge_p":1,"charge_to_soc":90,"discharge_to_soc":10}}`, `{"id":"a","segments":[]}`},
		NameAGCParams:     {`{"id":"a","ramp_rate":1,"dead_band":0,"ki":0,"integral_limit":0}`},
		NameAGCTarget:     {`{"id":"a","p":-3}`},
		NameFrequencyResp: {`{"id":"a","enable":true,"droop_pct":4,"dead_band":0.05}`},
		NameFastFrequency: {`{"id":"a","enable":true,"high_trigger":50.2,"power":1,"hold_s":1,"recovery_p":1}`},
		NameEStop:         {`{"id":"a"}`, `{"id":"\u00e9\ud800"}`},
		NameReset:         {`{"id":"a","unit":""}`, `{"id":"a"}{}`, `{"id":"a",}`, `{"id":"a","unit":"x","unit":"y"}`},
		"nope":            {`{}`},
	}
	for name, ps := range seeds {
		for _, p := range ps {
			f.Add(name, []byte(p))
		}
	}
	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		req, err := Parse(name, payload, t0)
		if err != nil {
			if req.Cmd != nil {
				t.Fatalf("error %v with a command %#v", err, req.Cmd)
			}
			if req.ID != "" && checkID(req.ID) != nil {
				t.Fatalf("unusable id %q returned with error %v", req.ID, err)
			}
			return
		}
		if req.Cmd == nil {
			t.Fatal("no error and no command")
		}
		if err := req.Cmd.Validate(); err != nil {
			t.Fatalf("accepted a command that does not validate: %v", err)
		}
		if checkID(req.ID) != nil || req.Name != name {
			t.Fatalf("bad envelope %+v", req)
		}
	})
}
