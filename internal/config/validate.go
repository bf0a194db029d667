package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
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
	// profiles_dir is relative to the configuration file.
	if d := c.ProfilesDir; d != "" && !filepath.IsAbs(d) && c.File != "" {
		c.ProfilesDir = filepath.Join(filepath.Dir(c.File), d)
	}

	c.telemetryDefaults()
	c.haDefaults()
	c.northboundDefaults()

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
	def(&s.Grid.XR, 10)
	def(&s.PCS.QMaxPct, 100)
}

// checker collects validation errors with their paths and lines.
type checker struct {
	file  string
	lines map[string]int
	errs  []error
}

// bad reports a problem at path, on its line, or on the line of the
// nearest key the user wrote above it when path itself was not written.
func (k *checker) bad(path, format string, a ...any) {
	line, at := 0, path
	for at != "" {
		if l, ok := k.lines[at]; ok {
			line = l
			break
		}
		at = at[:max(strings.LastIndexAny(at, ".["), 0)]
	}
	k.errs = append(k.errs, &Error{File: k.file, Line: line, Path: path, Msg: fmt.Sprintf(format, a...)})
}

// written tells whether the file sets path (rather than a default).
func (k *checker) written(path string) bool {
	_, ok := k.lines[path]
	return ok
}

// required reports a value that is not written, or written but not
// greater than 0; what says what the value is.
func (k *checker) required(path string, v float64, what string) {
	if !k.written(path) {
		k.bad(path, "missing (%s)", what)
		return
	}
	k.positive(path, v)
}

func (k *checker) positiveIfWritten(path string, v float64) {
	if k.written(path) {
		k.positive(path, v)
	}
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
	if d := c.ProfilesDir; d != "" {
		if fi, err := os.Stat(d); err != nil {
			k.bad("profiles_dir", "%v", err)
		} else if !fi.IsDir() {
			k.bad("profiles_dir", "%s is not a directory", d)
		}
	}
	if c.Site.Name == "" {
		k.bad("site.name", "missing")
	}
	k.required("site.rated_p_kw", c.Site.RatedPKW, "plant rated active power, kW")
	k.required("site.rated_e_kwh", c.Site.RatedEKWh, "plant rated energy, kWh")
	if c.Site.NominalHz != 50 && c.Site.NominalHz != 60 {
		k.bad("site.nominal_hz", "must be 50 or 60 (got %v)", c.Site.NominalHz)
	}
	// Unwritten, the limits default to the units' sum, checked with the units.
	k.positiveIfWritten("site.poi.import_limit_kw", c.Site.POI.ImportLimitKW)
	k.positiveIfWritten("site.poi.export_limit_kw", c.Site.POI.ExportLimitKW)

	addrs := map[string]string{}
	var local []endpoint // devices on this host: served by the simulator, or on loopback
	dev := func(path string, d *Device) {
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
		if d.Address == "" {
			k.bad(path+".address", "missing (host:port)")
		} else if host, port, ok := k.hostPort(path+".address", d.Address, 1); !ok {
			// reported
		} else if prev, dup := addrs[key]; dup {
			k.bad(path+".address", "%s is already used by %s", d.Address, prev)
		} else if c.Simulator.Enabled && !isLoopback(host) {
			k.bad(path+".address", "%q is not on loopback, but the simulator serves every device locally", d.Address)
		} else {
			addrs[key] = path
			if c.Simulator.Enabled || isLoopback(host) {
				local = append(local, endpoint{path + ".address", d.Address, host, port})
			}
		}
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
	unitsRated := true
	for i := range c.Units {
		u := &c.Units[i]
		p := fmt.Sprintf("units[%d]", i)
		if u.ID == "" {
			k.bad(p+".id", "missing")
		} else if j, dup := ids[u.ID]; dup {
			k.bad(p+".id", "%q is already the id of units[%d]", u.ID, j)
		}
		ids[u.ID] = i
		k.required(p+".rated_p_kw", u.RatedPKW, "PCS rated active power, kW")
		unitsRated = unitsRated && u.RatedPKW > 0
		sumP += u.RatedPKW
		if k.written(p+".rated_s_kva") && u.RatedSKVA < u.RatedPKW {
			k.bad(p+".rated_s_kva", "must be at least rated_p_kw (%v), got %v", u.RatedPKW, u.RatedSKVA)
		}
		dev(p+".pcs", &u.PCS)
		if len(u.BMS) == 0 {
			k.bad(p+".bms", "at least one BMS is needed")
		}
		for j := range u.BMS {
			bp := fmt.Sprintf("%s.bms[%d]", p, j)
			dev(bp, &u.BMS[j].Device)
			k.required(bp+".capacity_kwh", u.BMS[j].CapacityKWh, "usable energy, kWh")
		}
	}
	if unitsRated && sumP > 0 && sumP < c.Site.RatedPKW*0.999 {
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
	c.validateNorthbound(k)
	c.validateListeners(k, local)
	c.validateHA(k)

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
		k.within("simulator.pcs.q_max_pct", s.PCS.QMaxPct, 1, 100)
		c.validateSimVoltage(k)
	} else if s.ControlAddr != "" {
		k.bad("simulator.control_addr", "set, but the simulator is not enabled")
	}
	return errors.Join(k.errs...)
}

// validateSimVoltage checks the simulated grid's Thevenin source.
func (c *Config) validateSimVoltage(k *checker) {
	g := &c.Simulator.Grid
	k.within("simulator.grid.scr", g.SCR, 0, 1e4)
	if g.SCR > 0 && g.SCR < 1 {
		k.bad("simulator.grid.scr", "%g: below 1 the plant cannot export its rated power (0 means a stiff grid)", g.SCR)
	}
	k.within("simulator.grid.x_r", g.XR, 0.1, 100)
	var at, end time.Duration = -1, -1
	for i, st := range g.VoltageSteps {
		p := fmt.Sprintf("simulator.grid.voltage_steps[%d]", i)
		k.within(p+".v", st.V, 0.8*g.VoltageV, 1.15*g.VoltageV)
		k.duration(p+".ramp", st.Ramp, 0, time.Hour)
		if st.At <= at || st.At < end {
			k.bad(p+".at", "steps must be in increasing time order, none before the previous one's ramp ends")
		}
		at, end = st.At, st.At+st.Ramp
	}
}

// endpoint is an address on this host: one the daemon listens on, or a
// device or broker it reaches there.
type endpoint struct {
	path, addr, host string
	port             int
}

// hostPort checks a host:port address with a port of at least minPort.
func (k *checker) hostPort(path, addr string, minPort int) (host string, port int, ok bool) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		k.bad(path, "%q is not host:port: %v", addr, err)
		return "", 0, false
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < minPort || port > 65535 {
		k.bad(path, "port %q is not %d..65535", p, minPort)
		return "", 0, false
	}
	return host, port, true
}

// validateListeners checks the daemon's own listeners (the simulator's
// fault-injection API, the embedded broker, the HTTP server) and refuses
// any two addresses on this host that would share a port: a listener and
// a device or broker, or two listeners. Devices among themselves are
// checked with the devices.
func (c *Config) validateListeners(k *checker, local []endpoint) {
	type listener struct {
		path, addr string
		minPort    int
	}
	var ls []listener
	if a := c.Simulator.ControlAddr; a != "" && c.Simulator.Enabled {
		ls = append(ls, listener{"simulator.control_addr", a, 0})
	}
	m := &c.MQTT
	if a := m.EmbeddedBroker; a != "" {
		ls = append(ls, listener{"mqtt.embedded_broker", a, 1})
	}
	for i, b := range m.Brokers {
		u, err := url.Parse(b)
		if m.Enabled && err == nil && u.Port() != "" && isLoopback(u.Hostname()) && u.Host != m.EmbeddedBroker {
			ls = append(ls, listener{fmt.Sprintf("mqtt.brokers[%d]", i), u.Host, 1})
		}
	}
	if a := *c.HTTP.Addr; a != "" {
		ls = append(ls, listener{"http.addr", a, 0})
	}
	if n := &c.Northbound; n.IEC104.Enabled {
		ls = append(ls, listener{"northbound.iec104.listen", n.IEC104.Listen, 1})
	}
	if n := &c.Northbound; n.Modbus.Enabled {
		ls = append(ls, listener{"northbound.modbus.listen", n.Modbus.Listen, 1})
	}
	// Defaults first, so that a clash is reported on the key the user wrote.
	sort.SliceStable(ls, func(i, j int) bool { return !k.written(ls[i].path) && k.written(ls[j].path) })
	seen := local
	for _, l := range ls {
		host, port, ok := k.hostPort(l.path, l.addr, l.minPort)
		if !ok {
			continue
		}
		if l.path == "mqtt.embedded_broker" && !isLoopback(host) {
			k.bad(l.path, "%q is not on loopback: the embedded broker admits every client", l.addr)
		}
		clash := slices.IndexFunc(seen, func(e endpoint) bool { return port != 0 && e.port == port && sameHost(e.host, host) })
		if clash < 0 {
			seen = append(seen, endpoint{l.path, l.addr, host, port})
			continue
		}
		by := seen[clash].path
		if !k.written(by) {
			by += " (default " + seen[clash].addr + ")"
		}
		k.bad(l.path, "%s is already used by %s", l.addr, by)
	}
}

// sameHost tells whether two listen or dial hosts can be one address:
// equal, both loopback names, or either the wildcard.
func sameHost(a, b string) bool {
	norm := func(h string) (string, bool) {
		if h == "localhost" {
			return "127.0.0.1", false
		}
		if ip := net.ParseIP(h); ip != nil {
			return ip.String(), ip.IsUnspecified()
		}
		return h, h == ""
	}
	na, wa := norm(a)
	nb, wb := norm(b)
	return wa || wb || na == nb
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
	check := func(path string, d *Device, kind plant.Kind) {
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
	check("site.poi.meter", &c.Site.POI.Meter, plant.KindMeter)
	for i := range c.Units {
		u := &c.Units[i]
		check(fmt.Sprintf("units[%d].pcs", i), &u.PCS, plant.KindPCS)
		for j := range u.BMS {
			check(fmt.Sprintf("units[%d].bms[%d]", i, j), &u.BMS[j].Device, plant.KindBMS)
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
