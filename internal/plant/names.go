package plant

import "fmt"

// Meter is the device name of the POI meter.
const Meter = "poi"

// DeviceName names a unit's device in the image, logs, metrics and the
// simulator: "<unit>.pcs" for the PCS (j is ignored) and "<unit>.bms<j>"
// for its j-th battery.
func DeviceName(unit string, kind Kind, j int) string {
	if kind == KindPCS {
		return unit + "." + string(KindPCS)
	}
	return fmt.Sprintf("%s.%s%d", unit, kind, j)
}
