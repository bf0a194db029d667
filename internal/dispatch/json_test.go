package dispatch

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCommandJSON(t *testing.T) {
	var pfr SetPFR
	if err := json.Unmarshal([]byte(`{"enable":true,"droop_pct":3,"dead_band":0.033,"limit":0,"reserve":10}`), &pfr); err != nil {
		t.Fatal(err)
	}
	if !pfr.Enable || pfr.DroopPct != 3 || pfr.DeadBand != 0.033 || pfr.Reserve != 10 {
		t.Fatalf("decoded %+v", pfr)
	}
	var up ScheduleUpload
	if err := json.Unmarshal([]byte(`{"segments":[{"start":"00:00","end":"24:00","p":5}]}`), &up); err != nil {
		t.Fatal(err)
	}
	c := mustNew(t, DefaultConfig(1000))
	mustApply(t, c, &up) // pointers to commands are accepted too
	mustApply(t, c, &pfr)
	if err := c.Apply((*SetMode)(nil), t0); err == nil {
		t.Fatal("nil pointer command accepted")
	}
	b, err := json.Marshal(Event{Unit: "u1", From: StateNormal, To: StateTrip, Cause: CausePCSFault})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"from":"normal"`) || !strings.Contains(s, `"to":"trip"`) || !strings.Contains(s, `"cause":"pcs_fault"`) {
		t.Fatalf("event JSON %s", s)
	}
}
