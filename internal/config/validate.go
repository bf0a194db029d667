package config

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/emsd/emsd/internal/devices"
)

func sortStrings(s []string) { sort.Strings(s) }

// DefaultPCSWatchdog is control.pcs_watchdog when the configuration does not
// set it: a converter's usual communication watchdog. Too short a value makes
// a comm blip look like a stopped PCS, so its share is reordered and then
// ramped back; too long only delays the hand-over of a PCS that did stop.
const DefaultPCSWatchdog = 5 * time.Second

// applyDefaults fills every unset value with its documented default.
func (c *Config) applyDefaults() {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Site.NominalHz, 50)
	var sumP float64
	for i := range c.Units {
		u := &c.Units[i]
		def(&u.RatedSKVA, 1.1*u.RatedPKW)
		sumP += u.RatedPKW
		if u.PCS.Profile == "" {
			u.PCS.Profile = "sim-pcs"
		}
		for j := range u.BMS {
			if u.BMS[j].Profile == "" {
				u.BMS[j].Profile = "sim-bms"
			}
		}
	}
	if c.Site.POI.Meter.Profile == "" {
		c.Site.POI.Meter.Profile = "sim-meter"
	}
	def(&c.Site.POI.ImportLimitKW, sumP)
	def(&c.Site.POI.ExportLimitKW, sumP)

	d := &c.Devices
	defD(&d.Timeout, 500*time.Millisecond)
	defD(&d.BackoffMin, 100*time.Millisecond)
	defD(&d.BackoffMax, time.Second)
	def(&d.StaleAfter, 3)
	defD(&d.LostAfter, 2*time.Second)

	k := &c.Control
	defD(&k.Period, 100*time.Millisecond)
	defD(&k.HeartbeatPeriod, time.Second)
	if k.SummaryPeriod == nil {
		p := 5 * time.Second
		k.SummaryPeriod = &p
	}
	defD(&k.ShutdownTimeout, 10*time.Second)
	if k.PCSWatchdog == nil {
		w := DefaultPCSWatchdog
		k.PCSWatchdog = &w
	}
	def(&k.SOCMinPct, 5)
	def(&k.SOCMaxPct, 95)

	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "auto"
	}
	if c.StateDir == "" {
		c.StateDir = "/var/lib/emsd"
	}

	c.telemetryDefaults()

	s := &c.Simulator
	defD(&s.Step, 5*time.Millisecond)
	defD(&s.PCS.Tau, 50*time.Millisecond)
	defD(&s.PCS.Delay, 10*time.Millisecond)
	def(&s.PCS.RampPctPerS, 1000)
	def(&s.PCS.Efficiency, 0.975)
	if s.PCS.HeartbeatTimeout == nil {
		t := 5 * time.Second
		s.PCS.HeartbeatTimeout = &t
	}
	def(&s.Battery.SOCPct, 50)
	def(&s.Battery.SOCSpreadPct, 10)
	def(&s.Battery.AmbientC, 25)
	def(&s.Battery.CRate, 0.5)
	def(&s.Battery.TimeScale, 1)
	if s.Battery.Cells == 0 {
		s.Battery.Cells = 240
	}
	def(&s.Grid.FrequencyHz, c.Site.NominalHz)
	def(&s.Grid.TraceSpeed, 1)
	defD(&s.Grid.AuxLoad.Period, 10*time.Minute)
	def(&s.Grid.VoltageV, 10000)
}

// checker collects validation errors with their paths and lines.
type checker struct {
	file  string
	lines map[string]int
	errs  []error
}

func (k *checker) bad(path, format string, a ...any) {
	k.errs = append(k.errs, &Error{File: k.file, Line: k.lines[path], Path: path, Msg: fmt.Sprintf(format, a...)})
}

func (k *checker) positive(path string, v float64) {
	if !(v > 0) {
		k.bad(path, "must be greater than 0 (got %v)", v)
	}
}

func (k *checker) within(path string, v, lo, hi float64) {
	if v < lo || v > hi {
		k.bad(path, "must be within %v..%v (got %v)", lo, hi, v)
	}
}

func (k *checker) duration(path string, v, lo, hi time.Duration) {
	if v < lo || v > hi {
		k.bad(path, "must be within %v..%v (got %v)", lo, hi, v)
	}
}

// validate checks every value against its range and the plant for consistency.
func (c *Config) validate(lines map[string]int) error {
	k := &checker{file: c.File, lines: lines}
	if c.Site.Name == "" {
		k.bad("site.name", "missing")
	}
	k.positive("site.rated_p_kw", c.Site.RatedPKW)
	k.positive("site.rated_e_kwh", c.Site.RatedEKWh)
	if c.Site.NominalHz != 50 && c.Site.NominalHz != 60 {
		k.bad("site.nominal_hz", "must be 50 or 60 (got %v)", c.Site.NominalHz)
	}
	k.positive("site.poi.import_limit_kw", c.Site.POI.ImportLimitKW)
	k.positive("site.poi.export_limit_kw", c.Site.POI.ExportLimitKW)

	addrs := map[string]string{}
	dev := func(path string, d *Device) {
		if d.Address == "" {
			k.bad(path+".address", "missing (host:port)")
		} else if host, port, err := net.SplitHostPort(d.Address); err != nil {
			k.bad(path+".address", "%q is not host:port: %v", d.Address, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			k.bad(path+".address", "port %q is not 1..65535", port)
		} else if c.Simulator.Enabled && !isLoopback(host) {
			k.bad(path+".address", "%q is not on loopback, but the simulator serves every device locally", d.Address)
		}
		uid := 1
		if d.UnitID != nil {
			uid = *d.UnitID
		}
		if uid < 0 || uid > 255 {
			k.bad(path+".unit_id", "must be within 0..255 (got %d)", uid)
		}
		key := fmt.Sprintf("%s/%d", d.Address, uid)
		if c.Simulator.Enabled {
			key = d.Address
		}
		if prev, dup := addrs[key]; dup && d.Address != "" {
			k.bad(path+".address", "%s is already used by %s", d.Address, prev)
		}
		addrs[key] = path
		if d.Timeout != 0 {
			k.duration(path+".timeout", d.Timeout, time.Millisecond, time.Minute)
		}
		for g, p := range d.Poll {
			k.duration(path+".poll."+g, p, time.Millisecond, time.Hour)
		}
	}
	dev("site.poi.meter", &c.Site.POI.Meter)

	if len(c.Units) == 0 {
		k.bad("units", "at least one unit is needed")
	}
	ids := map[string]int{}
	var sumP float64
	for i := range c.Units {
		u := &c.Units[i]
		p := fmt.Sprintf("units[%d]", i)
		if u.ID == "" {
			k.bad(p+".id", "missing")
		} else if j, dup := ids[u.ID]; dup {
			k.bad(p+".id", "%q is already the id of units[%d]", u.ID, j)
		}
		ids[u.ID] = i
		k.positive(p+".rated_p_kw", u.RatedPKW)
		sumP += u.RatedPKW
		if u.RatedSKVA < u.RatedPKW {
			k.bad(p+".rated_s_kva", "must be at least rated_p_kw (%v), got %v", u.RatedPKW, u.RatedSKVA)
		}
		dev(p+".pcs", &u.PCS)
		if len(u.BMS) == 0 {
			k.bad(p+".bms", "at least one BMS is needed")
		}
		for j := range u.BMS {
			bp := fmt.Sprintf("%s.bms[%d]", p, j)
			dev(bp, &u.BMS[j].Device)
			k.positive(bp+".capacity_kwh", u.BMS[j].CapacityKWh)
		}
	}
	if c.Site.RatedPKW > 0 && sumP > 0 && sumP < c.Site.RatedPKW*0.999 {
		k.bad("site.rated_p_kw", "%v kW is more than the units' total of %v kW", c.Site.RatedPKW, sumP)
	}

	d := &c.Devices
	k.duration("devices.timeout", d.Timeout, time.Millisecond, time.Minute)
	k.duration("devices.backoff_min", d.BackoffMin, time.Millisecond, time.Minute)
	k.duration("devices.backoff_max", d.BackoffMax, d.BackoffMin, 10*time.Minute)
	k.within("devices.stale_periods", d.StaleAfter, 1, 1000)
	k.duration("devices.lost_after", d.LostAfter, 10*time.Millisecond, time.Hour)

	ct := &c.Control
	k.duration("control.period", ct.Period, time.Millisecond, 10*time.Second)
	k.duration("control.heartbeat_period", ct.HeartbeatPeriod, 10*time.Millisecond, time.Minute)
	k.duration("control.summary_period", *ct.SummaryPeriod, 0, time.Hour)
	k.duration("control.shutdown_timeout", ct.ShutdownTimeout, 100*time.Millisecond, 5*time.Minute)
	if ct.ShutdownRampKWPerS < 0 {
		k.bad("control.shutdown_ramp_kw_per_s", "must not be negative (got %v)", ct.ShutdownRampKWPerS)
	}
	k.duration("control.pcs_watchdog", *ct.PCSWatchdog, 0, 10*time.Minute)
	k.within("control.soc_min_pct", ct.SOCMinPct, 0, 100)
	k.within("control.soc_max_pct", ct.SOCMaxPct, 0, 100)
	if ct.SOCMinPct >= ct.SOCMaxPct {
		k.bad("control.soc_min_pct", "must be below soc_max_pct (%v), got %v", ct.SOCMaxPct, ct.SOCMinPct)
	}

	c.validateDispatch(k)
	c.validateTelemetry(k)

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		k.bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "console", "json":
	default:
		k.bad("log.format", "%q is not one of auto, console, json", c.Log.Format)
	}

	s := &c.Simulator
	if s.Enabled {
		k.duration("simulator.step", s.Step, 100*time.Microsecond, time.Second)
		k.duration("simulator.pcs.tau", s.PCS.Tau, 0, time.Minute)
		k.duration("simulator.pcs.delay", s.PCS.Delay, 0, 10*time.Second)
		k.within("simulator.pcs.ramp_pct_per_s", s.PCS.RampPctPerS, 0.01, 1e6)
		k.within("simulator.pcs.efficiency", s.PCS.Efficiency, 0.5, 1)
		k.duration("simulator.pcs.heartbeat_timeout", *s.PCS.HeartbeatTimeout, 0, time.Hour)
		k.within("simulator.battery.soc_pct", s.Battery.SOCPct, 0, 100)
		k.within("simulator.battery.soc_spread_pct", s.Battery.SOCSpreadPct, 0, 100)
		k.within("simulator.battery.ambient_c", s.Battery.AmbientC, -40, 60)
		k.within("simulator.battery.c_rate", s.Battery.CRate, 0.05, 10)
		k.within("simulator.battery.time_scale", s.Battery.TimeScale, 1, 1e5)
		k.within("simulator.battery.cells", float64(s.Battery.Cells), 1, 2000)
		k.within("simulator.grid.frequency_hz", s.Grid.FrequencyHz, 40, 70)
		var last time.Duration = -1
		for i, st := range s.Grid.Steps {
			p := fmt.Sprintf("simulator.grid.frequency_steps[%d]", i)
			k.within(p+".hz", st.Hz, 40, 70)
			if st.At <= last {
				k.bad(p+".at", "steps must be in increasing time order")
			}
			last = st.At
		}
		k.within("simulator.grid.trace_speed", s.Grid.TraceSpeed, 0.001, 1e5)
		k.within("simulator.grid.aux_load.kw", s.Grid.AuxLoad.KW, 0, 1e7)
		k.within("simulator.grid.aux_load.swing_kw", s.Grid.AuxLoad.SwingKW, 0, s.Grid.AuxLoad.KW)
		k.duration("simulator.grid.aux_load.period", s.Grid.AuxLoad.Period, time.Second, 24*time.Hour)
		k.positive("simulator.grid.voltage_v", s.Grid.VoltageV)
	} else if s.ControlAddr != "" {
		k.bad("simulator.control_addr", "set, but the simulator is not enabled")
	}
	return errors.Join(k.errs...)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckProfiles checks that every device names a known profile of the right
// kind and that its poll overrides name groups of that profile.
func (c *Config) CheckProfiles(p devices.Profiles) error {
	k := &checker{file: c.File, lines: c.lines}
	check := func(path string, d *Device, kind devices.Kind) {
		pr, ok := p[d.Profile]
		if !ok {
			names := make([]string, 0, len(p))
			for n := range p {
				names = append(names, n)
			}
			sort.Strings(names)
			k.bad(path+".profile", "unknown profile %q (known: %v)", d.Profile, names)
			return
		}
		if pr.Kind != kind {
			k.bad(path+".profile", "%q is a %s profile, a %s is expected here", d.Profile, pr.Kind, kind)
		}
		for g := range d.Poll {
			if _, ok := pr.Group(g); !ok {
				k.bad(path+".poll."+g, "profile %q has no read group %q", d.Profile, g)
			}
		}
	}
	check("site.poi.meter", &c.Site.POI.Meter, devices.Meter)
	for i := range c.Units {
		u := &c.Units[i]
		check(fmt.Sprintf("units[%d].pcs", i), &u.PCS, devices.PCS)
		for j := range u.BMS {
			check(fmt.Sprintf("units[%d].bms[%d]", i, j), &u.BMS[j].Device, devices.BMS)
		}
	}
	return errors.Join(k.errs...)
}

// UnitIDOf returns the device's Modbus unit id, defaulted.
func (d *Device) UnitIDOf() byte {
	if d.UnitID == nil {
		return 1
	}
	return byte(*d.UnitID)
}

// TimeoutOr returns the device's own timeout, or def.
func (d *Device) TimeoutOr(def time.Duration) time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return def
}
