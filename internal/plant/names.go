package plant

import "fmt"

// Device kinds, as they appear in device names.
const (
	KindPCS = "pcs"
	KindBMS = "bms"
)

// Meter is the device name of the POI meter.
const Meter = "poi"

// DeviceName names a unit's device in the image, logs, metrics and the
// simulator: "<unit>.pcs" for the PCS (j is ignored) and "<unit>.bms<j>"
// for its j-th battery.
func DeviceName(unit, kind string, j int) string {
	if kind == KindPCS {
		return unit + "." + KindPCS
	}
	return fmt.Sprintf("%s.%s%d", unit, kind, j)
}
