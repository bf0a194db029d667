package metrics

import (
	"errors"
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/reactive"
)

// Plant is what the scrape-time collector reads from the station;
// *station.Station is one.
type Plant interface {
	Latest() plant.View
	Ready() bool
	Devices() []*devices.Device
}

// Dispatch is what the collector reads from the dispatcher;
// *station.Dispatcher is one.
type Dispatch interface {
	Report() dispatch.Report
	Mode() dispatch.Mode
	States() []dispatch.State
}

// qBindings are the values of the binding label of emsd_dispatch_q_binding.
var qBindings = []reactive.Binding{reactive.BindNone, reactive.BindLimit, reactive.BindApparent, reactive.BindVoltage}

// Modes are the values of the mode label of emsd_mode.
var Modes = []dispatch.Mode{dispatch.ModeStandby, dispatch.ModeManual, dispatch.ModeSchedule,
	dispatch.ModePeakShaving, dispatch.ModeAGC}

// constraints are the stages of the constraint stack, ConstraintNone first.
var constraints = func() []dispatch.Constraint {
	var cs []dispatch.Constraint
	for c := dispatch.ConstraintNone; c.String() != "unknown"; c++ {
		cs = append(cs, c)
	}
	return cs
}()

// protectionStates are the unit protection states in order of severity.
var protectionStates = []dispatch.State{dispatch.StateNormal, dispatch.StateDerate, dispatch.StateLimit, dispatch.StateTrip}

// Attach registers the scrape-time collector of the plant, its devices
// and (if d is not nil) the dispatcher. Call it once, after station.New
// and before Station.Run, so that the devices' observers are resolved
// before the first transaction.
func (m *Metrics) Attach(p Plant, d Dispatch) error {
	if p == nil {
		return errors.New("metrics: Attach needs a plant")
	}
	err := errors.New("metrics: Attach called twice")
	m.attachOnce.Do(func() {
		var keys []obsKey
		for _, dev := range p.Devices() {
			keys = append(keys, obsKey{dev.Name(), devices.Read})
			for _, pt := range dev.Profile().Points {
				if pt.Writable {
					keys = append(keys, obsKey{dev.Name(), devices.Write})
					break
				}
			}
		}
		if len(keys) > 0 {
			m.resolve(keys)
		}
		err = m.reg.Register(&plantCollector{p: p, d: d})
	})
	return err
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dReady        = desc("emsd_station_ready", "1 once every point of every device has been read and control runs.")
	dPlantP       = desc("emsd_plant_p_kw", "Active power at the POI meter, kW (> 0 export).")
	dPlantQ       = desc("emsd_plant_q_kvar", "Reactive power at the POI meter, kvar.")
	dPlantF       = desc("emsd_plant_frequency_hz", "Grid frequency at the POI meter, Hz.")
	dPlantV       = desc("emsd_plant_voltage_v", "Voltage at the POI meter, V.")
	dPlantSOC     = desc("emsd_plant_soc_percent", "Capacity-weighted state of charge over the batteries with a good reading, %.")
	dPlantUnitsP  = desc("emsd_plant_units_p_kw", "Sum of the unit active powers with a good reading, kW.")
	dPlantQuality = desc("emsd_plant_quality", "Quality of a plant quantity: 2 good, 1 stale, 0 lost (soc: the worst battery).", "quantity")

	dDevState      = desc("emsd_device_state", "Device communication state: 2 online, 1 stale, 0 lost.", "device")
	dDevices       = desc("emsd_devices", "Devices in each communication state.", "state")
	dDevErrors     = desc("emsd_device_errors_total", "Failed Modbus transactions and dials.", "device")
	dDevReconnects = desc("emsd_device_reconnects_total", "Connections made after the first.", "device")
	dDevOverruns   = desc("emsd_device_overruns_total", "Reads started more than one period after they were due.", "device")
	dDevDecode     = desc("emsd_device_decode_errors_total", "Point values that could not be decoded.", "device")

	dMode       = desc("emsd_mode", "Active base mode: 1 for the active mode, 0 for the others.", "mode")
	dRequested  = desc("emsd_dispatch_requested_kw", "Plant power asked by the base mode and overlays before any constraint, kW.")
	dBase       = desc("emsd_dispatch_base_kw", "Base-mode request before ramp, kW.")
	dPFR        = desc("emsd_dispatch_pfr_kw", "Primary frequency response contribution, kW.")
	dFFR        = desc("emsd_dispatch_ffr_kw", "Fast frequency response contribution, kW.")
	dTarget     = desc("emsd_dispatch_target_kw", "Plant power handed to the allocator after all plant constraints, kW.")
	dSetP       = desc("emsd_dispatch_setpoint_p_kw", "Sum of the unit active power setpoints, kW.")
	dSetQ       = desc("emsd_dispatch_setpoint_q_kvar", "Sum of the unit reactive power setpoints, kvar.")
	dQTarget    = desc("emsd_dispatch_q_target_kvar", "Plant reactive power asked by the reactive mode (or the manual setpoint) before any limit, kvar.")
	dQBinding   = desc("emsd_dispatch_q_binding", "1 for what limited reactive power in the last cycle (none if nothing did), 0 for the others.", "binding")
	dAvailDis   = desc("emsd_dispatch_available_discharge_kw", "Discharge capacity after all unit constraints, kW.")
	dAvailChg   = desc("emsd_dispatch_available_charge_kw", "Charge capacity after all unit constraints, kW (>= 0).")
	dBinding    = desc("emsd_dispatch_binding_constraint", "1 for the constraint that cut the most active power in the last cycle (none if none did), 0 for the others.", "constraint")
	dCut        = desc("emsd_dispatch_cut_kw", "Active power cut by the binding constraint in the last cycle, kW.")
	dStageCut   = desc("emsd_dispatch_constraint_cut", "Power cut by each constraint stage in the last cycle: kW, kvar for apparent_power.", "constraint")
	dAvailUnits = desc("emsd_units_available", "Units available to dispatch.")
	dTripUnits  = desc("emsd_units_tripped", "Units tripped (latched at 0 kW until reset).")
	dEStop      = desc("emsd_estop", "1 while the plant emergency stop is latched.")
	dUnitProt   = desc("emsd_unit_protection_state", "Unit protection state: 0 normal, 1 derate, 2 limit, 3 trip.", "unit")
	dUnitsProt  = desc("emsd_units_protection", "Units in each protection state.", "state")
)

// plantCollector reads the station and the dispatcher at scrape time.
type plantCollector struct {
	p Plant
	d Dispatch
}

func (c *plantCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dReady, dPlantP, dPlantQ, dPlantF, dPlantV, dPlantSOC, dPlantUnitsP, dPlantQuality,
		dDevState, dDevices, dDevErrors, dDevReconnects, dDevOverruns, dDevDecode} {
		ch <- d
	}
	if c.d == nil {
		return
	}
	for _, d := range []*prometheus.Desc{dMode, dRequested, dBase, dPFR, dFFR, dTarget, dSetP, dSetQ, dQTarget, dQBinding, dAvailDis, dAvailChg,
		dBinding, dCut, dStageCut, dAvailUnits, dTripUnits, dEStop, dUnitProt, dUnitsProt} {
		ch <- d
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// QualityLevel maps a quality to its gauge value: 2 good, 1 stale, 0 lost,
// invalid or refused.
func QualityLevel(q procimg.Quality) float64 {
	switch q {
	case procimg.Good:
		return 2
	case procimg.Stale:
		return 1
	}
	return 0
}

// StateLevel maps a device state to its gauge value: 2 online, 1 stale,
// 0 lost.
func StateLevel(s devices.State) float64 {
	switch s {
	case devices.Online:
		return 2
	case devices.Stale:
		return 1
	}
	return 0
}

func (c *plantCollector) Collect(ch chan<- prometheus.Metric) {
	gauge(ch, dReady, b2f(c.p.Ready()))
	v := c.p.Latest()
	c.collectPlant(ch, &v)

	var states [3]int
	for _, dev := range c.p.Devices() {
		h := dev.Health()
		name := dev.Name()
		gauge(ch, dDevState, StateLevel(h.State), name)
		if int(h.State) >= 0 && int(h.State) < len(states) {
			states[h.State]++
		}
		counter(ch, dDevErrors, h.Errors, name)
		counter(ch, dDevReconnects, h.Reconnects, name)
		counter(ch, dDevOverruns, h.Overruns, name)
		counter(ch, dDevDecode, h.DecodeErrors, name)
	}
	for _, s := range []devices.State{devices.Online, devices.Stale, devices.Lost} {
		gauge(ch, dDevices, float64(states[s]), s.String())
	}

	if c.d != nil {
		c.collectDispatch(ch, &v)
	}
}

// point emits a plant value when it has ever been read, and its quality
// unless the profile lacks the point.
func point(ch chan<- prometheus.Metric, d *prometheus.Desc, quantity string, v procimg.Value) {
	if plant.Absent(v) {
		return
	}
	if !v.At.IsZero() && !math.IsNaN(v.V) {
		gauge(ch, d, v.V)
	}
	gauge(ch, dPlantQuality, QualityLevel(v.Q), quantity)
}

func (c *plantCollector) collectPlant(ch chan<- prometheus.Metric, v *plant.View) {
	point(ch, dPlantP, "p", v.POI.P)
	point(ch, dPlantQ, "q", v.POI.Q)
	point(ch, dPlantF, "f", v.POI.F)
	point(ch, dPlantV, "v", v.POI.V)
	sum := plant.Summarise(v)
	gauge(ch, dPlantUnitsP, sum.UnitP)
	worst, n := procimg.Good, 0
	for i := range v.Units {
		for j := range v.Units[i].BMS {
			n++
			worst = max(worst, v.Units[i].BMS[j].SOC.Q)
		}
	}
	if n == 0 {
		return
	}
	if sum.SOCOK > 0 {
		gauge(ch, dPlantSOC, sum.SOC)
	}
	gauge(ch, dPlantQuality, QualityLevel(worst), "soc")
}

func (c *plantCollector) collectDispatch(ch chan<- prometheus.Metric, v *plant.View) {
	mode := c.d.Mode()
	for _, md := range Modes {
		gauge(ch, dMode, b2f(md == mode), string(md))
	}
	r := c.d.Report()
	gauge(ch, dRequested, r.Requested)
	gauge(ch, dBase, r.Base)
	gauge(ch, dPFR, r.PFR)
	gauge(ch, dFFR, r.FFR)
	gauge(ch, dTarget, r.Target)
	gauge(ch, dSetP, r.P)
	gauge(ch, dSetQ, r.Q)
	gauge(ch, dQTarget, r.QTarget)
	for _, b := range qBindings {
		gauge(ch, dQBinding, b2f(b == r.QBinding || (b == reactive.BindNone && r.QBinding == "")), string(b))
	}
	gauge(ch, dAvailDis, r.AvailDischarge)
	gauge(ch, dAvailChg, r.AvailCharge)
	for _, k := range constraints {
		gauge(ch, dBinding, b2f(k == r.Binding), k.String())
		if k != dispatch.ConstraintNone && int(k) < len(r.Cuts) {
			gauge(ch, dStageCut, r.Cuts[k], k.String())
		}
	}
	gauge(ch, dCut, r.Cut)
	gauge(ch, dAvailUnits, float64(r.Available))
	gauge(ch, dTripUnits, float64(r.Tripped))
	gauge(ch, dEStop, b2f(r.EStop))

	states := c.d.States()
	var count [4]int
	for i, s := range states {
		if i >= len(v.Units) {
			break
		}
		gauge(ch, dUnitProt, float64(s), v.Units[i].ID)
		if int(s) < len(count) {
			count[s]++
		}
	}
	for _, s := range protectionStates {
		gauge(ch, dUnitsProt, float64(count[s]), s.String())
	}
}
