package config

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/emsd/emsd/internal/northbound/points"
)

// Fallbacks of northbound.fallback.
const (
	FallbackHold     = "hold"     // keep the last AGC target
	FallbackZero     = "zero"     // AGC target 0 kW
	FallbackSchedule = "schedule" // schedule mode (with the schedule uploaded)
)

// Northbound is the link to the grid's dispatch centre (docs/northbound.md).
// Setpoints and commands from it act only while remote control is on
// (mqtt.remote_control: the station's one remote/local switch).
type Northbound struct {
	// IEC104 is the IEC 60870-5-104 slave.
	IEC104 IEC104 `yaml:"iec104"`
	// Modbus is the Modbus TCP slave over the same points table.
	Modbus NorthModbus `yaml:"modbus"`
	// Fallback is what the plant does when every dispatch connection is
	// lost, or no setpoint came within setpoint_timeout, while a dispatch
	// setpoint is in force: hold (keep the last target), zero (AGC target
	// 0 kW) or schedule (schedule mode, refused without a schedule).
	// Default zero.
	Fallback string `yaml:"fallback"`
	// SetpointTimeout is the longest time between setpoints from dispatch
	// before the fallback applies; 0 is no limit. Default 0.
	SetpointTimeout time.Duration `yaml:"setpoint_timeout"`
}

// IEC104 is the IEC 60870-5-104 slave for the dispatch centre.
type IEC104 struct {
	// Enabled turns the server on. Default false.
	Enabled bool `yaml:"enabled"`
	// Listen is the listen address. Default 127.0.0.1:2404.
	Listen string `yaml:"listen"`
	// CommonAddress is the station's common address of ASDU, 1..65534. Default 1.
	CommonAddress int `yaml:"common_address"`
	// Allow lists the dispatch masters' IP addresses; any other client is
	// refused and logged. Default [127.0.0.1].
	Allow []string `yaml:"allow"`
	// MaxConnections bounds the simultaneous masters (main and backup
	// channels). Default 4.
	MaxConnections int `yaml:"max_connections"`
	// T0..T3 are the protocol timers: connection, send acknowledgement,
	// receive acknowledgement and idle test. Default 30s, 15s, 10s, 20s.
	T0 time.Duration `yaml:"t0"`
	T1 time.Duration `yaml:"t1"`
	T2 time.Duration `yaml:"t2"`
	T3 time.Duration `yaml:"t3"`
	// K is the most unacknowledged I-frames sent, W the most received
	// before acknowledging (W ≤ K). Default 12 and 8.
	K int `yaml:"k"`
	W int `yaml:"w"`
	// Scan is how often values are compared against their deadband for
	// spontaneous transmission. Default 200ms.
	Scan time.Duration `yaml:"scan"`
	// Cycle is the period of the cyclic transmission of every measurand;
	// 0 is off. Default 30s.
	Cycle *time.Duration `yaml:"cycle"`
	// SelectTimeout bounds the time between a command's select and its
	// execute. Default 10s.
	SelectTimeout time.Duration `yaml:"select_timeout"`
	// Points is the points table: ioa, type, quantity, unit, scale,
	// deadband per entry. Default: the table in docs/northbound.md.
	Points []points.Point `yaml:"points"`
}

// NorthModbus is the Modbus TCP slave for an RTU or PPC.
type NorthModbus struct {
	// Enabled turns the server on. Default false.
	Enabled bool `yaml:"enabled"`
	// Listen is the listen address. Default 127.0.0.1:5020.
	Listen string `yaml:"listen"`
	// UnitID is the slave's unit identifier. Default 1.
	UnitID int `yaml:"unit_id"`
	// Allow lists the clients' IP addresses; any other is refused and
	// logged. Default [127.0.0.1].
	Allow []string `yaml:"allow"`
	// MaxConnections bounds the simultaneous clients. Default 4.
	MaxConnections int `yaml:"max_connections"`
}

func (c *Config) northboundDefaults() {
	n := &c.Northbound
	if n.Fallback == "" {
		n.Fallback = FallbackZero
	}
	i := &n.IEC104
	setS := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	setI := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setS(&i.Listen, "127.0.0.1:2404")
	setI(&i.CommonAddress, 1)
	setI(&i.MaxConnections, 4)
	setD(&i.T0, 30*time.Second)
	setD(&i.T1, 15*time.Second)
	setD(&i.T2, 10*time.Second)
	setD(&i.T3, 20*time.Second)
	setI(&i.K, 12)
	setI(&i.W, 8)
	setD(&i.Scan, 200*time.Millisecond)
	setD(&i.SelectTimeout, 10*time.Second)
	if i.Cycle == nil {
		d := 30 * time.Second
		i.Cycle = &d
	}
	if i.Allow == nil {
		i.Allow = []string{"127.0.0.1"}
	}
	if i.Points == nil {
		i.Points = points.DefaultPoints()
	}
	for j := range i.Points {
		if i.Points[j].Scale == 0 && !c.written(fmt.Sprintf("northbound.iec104.points[%d].scale", j)) {
			i.Points[j].Scale = 1
		}
	}
	m := &n.Modbus
	setS(&m.Listen, "127.0.0.1:5020")
	setI(&m.UnitID, 1)
	setI(&m.MaxConnections, 4)
	if m.Allow == nil {
		m.Allow = []string{"127.0.0.1"}
	}
}

func (c *Config) validateNorthbound(k *checker) {
	n := &c.Northbound
	if n.Fallback != FallbackHold && n.Fallback != FallbackZero && n.Fallback != FallbackSchedule {
		k.bad("northbound.fallback", "%q is not hold, zero or schedule", n.Fallback)
	}
	k.duration("northbound.setpoint_timeout", n.SetpointTimeout, 0, 24*time.Hour)
	i := &n.IEC104
	k.within("northbound.iec104.common_address", float64(i.CommonAddress), 1, 65534)
	k.within("northbound.iec104.max_connections", float64(i.MaxConnections), 1, 64)
	k.duration("northbound.iec104.t0", i.T0, time.Second, 255*time.Second)
	k.duration("northbound.iec104.t1", i.T1, time.Second, 255*time.Second)
	k.duration("northbound.iec104.t2", i.T2, time.Second, 255*time.Second)
	k.duration("northbound.iec104.t3", i.T3, time.Second, 48*time.Hour)
	if i.T2 >= i.T1 {
		k.bad("northbound.iec104.t2", "%v must be shorter than t1 (%v)", i.T2, i.T1)
	}
	if i.T3 <= i.T1 {
		k.bad("northbound.iec104.t3", "%v must be longer than t1 (%v): an idle master is closed when a test frame goes unanswered for t1", i.T3, i.T1)
	}
	k.within("northbound.iec104.k", float64(i.K), 2, 32767)
	k.within("northbound.iec104.w", float64(i.W), 1, 32767)
	if i.W > i.K {
		k.bad("northbound.iec104.w", "%d must not exceed k (%d)", i.W, i.K)
	}
	k.duration("northbound.iec104.scan", i.Scan, 10*time.Millisecond, time.Minute)
	k.duration("northbound.iec104.cycle", *i.Cycle, 0, 24*time.Hour)
	k.duration("northbound.iec104.select_timeout", i.SelectTimeout, 100*time.Millisecond, 10*time.Minute)
	units := map[string]bool{}
	for _, u := range c.Units {
		units[u.ID] = true
	}
	for j, p := range i.Points {
		if id := p.UnitOf(); id != "" && !units[id] {
			k.bad(fmt.Sprintf("northbound.iec104.points[%d].quantity", j), "%q names no unit of units[].id", p.Quantity)
		}
	}
	for _, err := range points.Check(i.Points) {
		var pe *points.PointError
		if errors.As(err, &pe) {
			k.bad(fmt.Sprintf("northbound.iec104.points[%d].%s", pe.Index, pe.Field), "%s", pe.Msg)
		}
	}
	m := &n.Modbus
	k.within("northbound.modbus.unit_id", float64(m.UnitID), 1, 247)
	k.within("northbound.modbus.max_connections", float64(m.MaxConnections), 1, 64)
	for path, allow := range map[string][]string{"northbound.iec104.allow": i.Allow, "northbound.modbus.allow": m.Allow} {
		for j, a := range allow {
			if net.ParseIP(a) == nil {
				k.bad(fmt.Sprintf("%s[%d]", path, j), "%q is not an IP address", a)
			}
		}
	}
}

// written tells whether the file sets path (rather than a default).
func (c *Config) written(path string) bool {
	_, ok := c.lines[path]
	return ok
}
