package sim

import (
	"testing"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
)

// TestServesEveryStandardPoint: the simulator knows every point of
// plant.Standards (a value for a read point, an effect for a command
// point), and its built-in profile of the point's kind maps it, writable
// exactly when emsd writes it. A point added to the table and not to the
// simulator fails here.
func TestServesEveryStandardPoint(t *testing.T) {
	profiles, err := devices.LoadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plant.Standards {
		prof := profiles["sim-"+string(s.Kind)]
		if prof == nil {
			t.Fatalf("no built-in profile sim-%s", s.Kind)
		}
		if i := prof.Point(s.Name); i < 0 {
			t.Errorf("%s %s: not in profile %s", s.Kind, s.Name, prof.Name)
		} else if prof.Points[i].Writable != s.Write {
			t.Errorf("%s %s: writable %v in profile %s, want %v", s.Kind, s.Name, prof.Points[i].Writable, prof.Name, s.Write)
		}
		var known bool
		switch s.Kind {
		case plant.KindMeter:
			_, known = meterValues[s.Name]
		case plant.KindPCS:
			_, known = pcsValues[s.Name]
		case plant.KindBMS:
			_, known = bmsValues[s.Name]
		}
		if !known {
			t.Errorf("%s %s: the simulator has no value for it", s.Kind, s.Name)
		}
		if _, applies := pcsApply[s.Name]; s.Write && (s.Kind != plant.KindPCS || !applies) {
			t.Errorf("%s %s: the simulator does nothing when it is written", s.Kind, s.Name)
		}
	}
}
