package devices

import (
	"testing"

	"github.com/emsd/emsd/internal/plant"
)

// TestEnumEncodesTheSmallestCode: a read-only enum may give one name two
// codes (the simulator encodes read points too); the value encodes as
// the smallest code, whatever the map's order.
func TestEnumEncodesTheSmallestCode(t *testing.T) {
	p := mustProfile(t, enumDoc) // state: 3 and 5 are both fault
	st := &p.Points[p.Point(plant.PointState)]
	for range 20 {
		dst := []uint16{0}
		if err := st.Encode(plant.RunFault, 0, dst); err != nil || dst[0] != 3 {
			t.Fatalf("state fault encodes as %d, %v; want 3, the smaller of its codes 3 and 5", dst[0], err)
		}
	}
}
