package httpapi

import (
	"cmp"
	"math"
	"time"

	"github.com/emsd/emsd/internal/jsonnum"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/dispatch"
	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
	"github.com/emsd/emsd/internal/reactive"
)

// Num is a float that encodes as null in JSON when it is not finite.
type Num = jsonnum.Float

// Value is a measured value with its quality ("good", "stale", "lost",
// "invalid", "refused") and
// age in seconds; Value and AgeS are null when the point was never read.
type Value struct {
	Value   *Num   `json:"value"`
	Quality string `json:"quality"`
	AgeS    *Num   `json:"age_s"`
}

// value converts v at now; nil for a point the profile does not have. A
// value never read is lost, as the process image grades it.
func value(v procimg.Value, now time.Time) *Value {
	if plant.Absent(v) {
		return nil
	}
	out := &Value{Quality: v.Q.String()}
	if v.At.IsZero() {
		out.Quality = procimg.Lost.String()
	} else {
		x, age := Num(v.V), Num(now.Sub(v.At).Seconds())
		out.AgeS = &age
		if !math.IsNaN(v.V) { // a refused read or a sentinel has no value
			out.Value = &x
		}
	}
	return out
}

// State is the body of /api/state.
type State struct {
	// Time is when the state was taken; SnapshotAt is the time of the
	// control loop's last snapshot (null before the first cycle).
	Time       time.Time  `json:"time"`
	SnapshotAt *time.Time `json:"snapshot_at"`
	// Ready is true once every device was read and control runs.
	Ready    bool           `json:"ready"`
	Plant    PlantState     `json:"plant"`
	Dispatch *DispatchState `json:"dispatch,omitempty"`
	Units    []UnitState    `json:"units"`
	// Events are the most recent protection events, oldest first.
	Events []dispatch.Event `json:"events,omitempty"`
	// HA is this controller's role in a hot-standby pair; absent alone.
	HA *Role `json:"ha,omitempty"`
}

// MarshalJSON encodes the plant state and the POI meter's points as one object.
func (s PlantState) MarshalJSON() ([]byte, error) {
	return withPoints(plantFields(s), meterPts, s.Points)
}

// PlantState is the plant at the point of interconnection.
type PlantState struct {
	// Points are the POI meter's standard points.
	Points Points `json:"-"`
	// SOC is the capacity-weighted SOC of the batteries with a good
	// reading; its quality is the worst battery's, its age the oldest.
	SOC *Value `json:"soc_pct,omitempty"`
	// BatteriesGood of Batteries have a good SOC reading.
	BatteriesGood int `json:"batteries_good"`
	Batteries     int `json:"batteries"`
	// UnitsP is the sum of the unit powers with a good reading, kW.
	UnitsP Num `json:"units_p_kw"`
	// Meter is the POI meter's communication health.
	Meter *DeviceHealth `json:"meter,omitempty"`
}

// DispatchState is the dispatcher's mode and its last cycle's report.
type DispatchState struct {
	Mode           dispatch.Mode  `json:"mode"`
	Requested      Num            `json:"requested_kw"` // base mode + overlays, before constraints
	Base           Num            `json:"base_kw"`      // base mode before ramp
	PFR            Num            `json:"pfr_kw"`       // primary frequency response overlay
	FFR            Num            `json:"ffr_kw"`       // fast frequency response overlay
	Target         Num            `json:"target_kw"`    // after all plant constraints
	P              Num            `json:"p_kw"`         // sum of unit setpoints
	Q              Num            `json:"q_kvar"`
	QTarget        Num            `json:"q_target_kvar"` // reactive mode (or manual) request before any limit
	QBinding       string         `json:"q_binding"`     // what limited Q: none, q_limit, apparent_power, voltage_unknown
	AvailDischarge Num            `json:"available_discharge_kw"`
	AvailCharge    Num            `json:"available_charge_kw"`
	Binding        string         `json:"binding_constraint"` // "none" when nothing cut
	Cut            Num            `json:"cut_kw"`             // cut by the binding constraint
	Cuts           map[string]Num `json:"cuts"`               // cut by every stage that cut (apparent_power in kvar)
	Available      int            `json:"units_available"`
	Tripped        int            `json:"units_tripped"`
	EStop          bool           `json:"estop"`
}

// MarshalJSON encodes the unit state and the PCS's points as one object.
func (s UnitState) MarshalJSON() ([]byte, error) { return withPoints(unitFields(s), pcsPts, s.Points) }

// UnitState is one PCS with its batteries.
type UnitState struct {
	ID     string `json:"id"`
	RatedP Num    `json:"rated_p_kw"`
	RatedS Num    `json:"rated_s_kva"`
	// Points are the PCS's standard points.
	Points Points `json:"-"`
	// SOC is capacity-weighted over the unit's good battery readings.
	SOC *Value `json:"soc_pct,omitempty"`
	// ChargeMax and DischargeMax are the unit's BMS power limits, kW, as
	// the dispatcher sees them: the most constrained battery's limit per
	// kWh scaled to the unit's capacity; null unless every battery's
	// limits are good.
	ChargeMax    *Num `json:"charge_max_kw"`
	DischargeMax *Num `json:"discharge_max_kw"`
	// Protection is the dispatcher's protection state: normal, derate,
	// limit or trip.
	Protection string `json:"protection,omitempty"`
	// Acked is the last setpoint the PCS acknowledged.
	Acked     *Acked         `json:"acked,omitempty"`
	PCS       *DeviceHealth  `json:"pcs_health,omitempty"`
	Batteries []BatteryState `json:"batteries"`
}

// Acked is an acknowledged setpoint.
type Acked struct {
	P  Num       `json:"p_kw"`
	Q  Num       `json:"q_kvar"`
	At time.Time `json:"at"`
}

// MarshalJSON encodes the battery state and the BMS's points as one object.
func (s BatteryState) MarshalJSON() ([]byte, error) {
	return withPoints(batteryFields(s), bmsPts, s.Points)
}

// BatteryState is one BMS.
type BatteryState struct {
	Device      string `json:"device"`
	CapacityKWh Num    `json:"capacity_kwh"`
	// Points are the BMS's standard points.
	Points Points        `json:"-"`
	Health *DeviceHealth `json:"health,omitempty"`
}

// DeviceHealth is a device's communication health.
type DeviceHealth struct {
	Device      string     `json:"device"`
	State       string     `json:"state"` // online, stale, lost
	Since       time.Time  `json:"since"`
	Connected   bool       `json:"connected"`
	LastOK      *time.Time `json:"last_ok,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	Reads       uint64     `json:"reads"`
	Writes      uint64     `json:"writes"`
	Errors      uint64     `json:"errors"`
	Reconnects  uint64     `json:"reconnects"`
	// Exceptions counts the device's exception answers (the connection
	// stays); LastException is the latest, Refused the points whose last
	// read it refused.
	Exceptions    uint64   `json:"exceptions"`
	LastException string   `json:"last_exception,omitempty"`
	Refused       []string `json:"refused,omitempty"`
	// Invalid counts values graded invalid (outside their bounds),
	// DecodeErrors values that did not decode, NoValue "not implemented"
	// sentinels.
	Invalid      uint64 `json:"invalid"`
	DecodeErrors uint64 `json:"decode_errors"`
	NoValue      uint64 `json:"no_value"`
	// Extras are the device's points that are not standard points (a
	// vendor's extra registers), by name.
	Extras map[string]*Value `json:"extras,omitempty"`
}

func deviceHealth(d *devices.Device) *DeviceHealth {
	if d == nil {
		return nil
	}
	h := d.Health()
	out := &DeviceHealth{Device: d.Name(), State: h.State.String(), Since: h.Since, Connected: h.Connected,
		LastError: h.LastErr, Reads: h.Reads, Writes: h.Writes, Errors: h.Errors, Reconnects: h.Reconnects,
		Exceptions: h.Exceptions, LastException: h.LastException, Refused: h.Refused,
		Invalid: h.Invalid, DecodeErrors: h.DecodeErrors, NoValue: h.NoValue, Extras: extras(d, time.Now())}
	if !h.LastOK.IsZero() {
		out.LastOK = &h.LastOK
	}
	if !h.LastErrAt.IsZero() {
		out.LastErrorAt = &h.LastErrAt
	}
	return out
}

// extras returns the values of d's readable points that are not standard
// points of its kind nor scale factors, or nil when it has none.
func extras(d *devices.Device, now time.Time) map[string]*Value {
	p := d.Profile()
	sf := map[string]bool{}
	for _, pt := range p.Points {
		if pt.ScalePoint != "" {
			sf[pt.ScalePoint] = true
		}
	}
	var out map[string]*Value
	for i, pt := range p.Points {
		if _, std := plant.LookupStandard(p.Kind, pt.Name); std || pt.Group == "" || sf[pt.Name] {
			continue
		}
		if out == nil {
			out = map[string]*Value{}
		}
		out[pt.Name] = value(d.Value(i, now), now)
	}
	return out
}

// maxEvents bounds the events in a State.
const maxEvents = 20

// Snapshot builds the State of the plant and (if d is not nil) the
// dispatcher at now. Device health is matched to units by the device
// names of plant.DeviceName.
func Snapshot(p Plant, d Dispatch, now time.Time) State {
	v := p.Latest()
	st := State{Time: now, Ready: p.Ready()}
	if !v.At.IsZero() {
		st.SnapshotAt = &v.At
	}
	byName := map[string]*devices.Device{}
	for _, dev := range p.Devices() {
		byName[dev.Name()] = dev
	}
	st.Plant = plantState(&v, now)
	st.Plant.Meter = deviceHealth(byName[plant.Meter])

	var states []dispatch.State
	if d != nil {
		st.Dispatch = dispatchState(d)
		states = d.States()
		ev := d.Events()
		st.Events = ev[max(0, len(ev)-maxEvents):]
	}
	acked, ackedAt := p.Acked()
	st.Units = make([]UnitState, len(v.Units))
	for i := range v.Units {
		uv, us := &v.Units[i], &st.Units[i]
		*us = UnitState{ID: uv.ID, RatedP: Num(uv.RatedP), RatedS: Num(uv.RatedS),
			Points: points(pcsPts, func(s *plant.Standard) *procimg.Value { return s.PCS(uv) }, now),
			PCS:    deviceHealth(byName[plant.DeviceName(uv.ID, plant.KindPCS, 0)]), Batteries: make([]BatteryState, len(uv.BMS))}
		if i < len(states) {
			us.Protection = states[i].String()
		}
		if i < len(acked) && !ackedAt[i].IsZero() {
			us.Acked = &Acked{P: Num(acked[i].P), Q: Num(acked[i].Q), At: ackedAt[i]}
		}
		p := plant.Condense(uv.BMS, now)
		us.SOC = soc(uv.BMS, &p, now)
		us.ChargeMax, us.DischargeMax = limits(&p)
		for j := range uv.BMS {
			b := &uv.BMS[j]
			name := plant.DeviceName(uv.ID, plant.KindBMS, j)
			us.Batteries[j] = BatteryState{Device: name, CapacityKWh: Num(b.CapacityKWh),
				Points: points(bmsPts, func(s *plant.Standard) *procimg.Value { return s.Battery(b) }, now),
				Health: deviceHealth(byName[name])}
		}
	}
	return st
}

func plantState(v *plant.View, now time.Time) PlantState {
	ps := PlantState{UnitsP: Num(plant.Summarise(v).UnitP),
		Points: points(meterPts, func(s *plant.Standard) *procimg.Value { return s.Meter(&v.POI) }, now)}
	var all []plant.BatteryView
	for i := range v.Units {
		all = append(all, v.Units[i].BMS...)
	}
	p := plant.Condense(all, now)
	ps.SOC, ps.BatteriesGood, ps.Batteries = soc(all, &p, now), p.GoodSOC, len(all)
	return ps
}

// soc is the SOC of the batteries bs condensed to p, with the worst
// quality and the oldest age; nil when there are no batteries.
func soc(bs []plant.BatteryView, p *plant.Pack, now time.Time) *Value {
	if len(bs) == 0 {
		return nil
	}
	worst := procimg.Good
	var oldest time.Time
	for i := range bs {
		s := bs[i].SOC
		worst = max(worst, s.Q)
		if !s.At.IsZero() && (oldest.IsZero() || s.At.Before(oldest)) {
			oldest = s.At
		}
	}
	out := &Value{Quality: worst.String()}
	if p.CapacityKWh > 0 {
		x := Num(p.SOC)
		out.Value = &x
	}
	if !oldest.IsZero() {
		age := Num(now.Sub(oldest).Seconds())
		out.AgeS = &age
	}
	return out
}

// limits are the unit's power limits as the dispatcher sees them; nil
// unless every battery's limits are good.
func limits(p *plant.Pack) (chg, dis *Num) {
	if !p.LimitsOK {
		return nil, nil
	}
	c, d := Num(p.ChargeMax), Num(p.DischargeMax)
	return &c, &d
}

func dispatchState(d Dispatch) *DispatchState {
	r := d.Report()
	ds := &DispatchState{Mode: d.Mode(), Requested: Num(r.Requested), Base: Num(r.Base), PFR: Num(r.PFR), FFR: Num(r.FFR),
		Target: Num(r.Target), P: Num(r.P), Q: Num(r.Q), AvailDischarge: Num(r.AvailDischarge), AvailCharge: Num(r.AvailCharge),
		Binding: r.Binding.String(), Cut: Num(r.Cut), Cuts: map[string]Num{},
		QTarget: Num(r.QTarget), QBinding: cmp.Or(string(r.QBinding), string(reactive.BindNone)),
		Available: r.Available, Tripped: r.Tripped, EStop: r.EStop}
	for i, c := range r.Cuts {
		if c != 0 {
			ds.Cuts[dispatch.Constraint(i).String()] = Num(c)
		}
	}
	return ds
}
