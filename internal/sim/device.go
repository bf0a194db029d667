package sim

import (
	"cmp"
	"fmt"
	"io"
	"log"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/simonvetter/modbus"
	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
)

// Server settings.
const (
	// maxClients bounds concurrent connections per device.
	maxClients = 32
	// maxHeld bounds the connections a blackholed device keeps hanging;
	// older ones are closed silently (their client has long given up).
	maxHeld = 8
	// idleTimeout closes a connection idle this long.
	idleTimeout = 60 * time.Second
)

// device is one simulated device and its Modbus TCP server.
type device struct {
	plant  *Plant
	name   string
	addr   string
	unitID uint8
	prof   *devices.Profile
	kind   plant.Kind
	unit   int // index into plant.units, -1 for the meter
	bms    int // battery index, -1 unless a BMS

	sf      map[string]int16  // fixed scale-factor exponents by point name
	holding map[uint16]uint16 // shadow of the writable holding registers; guarded by plant.mu

	mu        sync.Mutex // guards the fields below
	srv       *modbus.ModbusServer
	up        bool
	down      chan struct{} // closed when the server stops
	delay     time.Duration
	blackhole bool
	bhOff     chan struct{} // closed when the blackhole ends
	held      []chan struct{}
	writes    map[string]*ClientWrites // by client address (one per connection)
}

// addDevice registers a device served with its configured profile.
func (p *Plant) addDevice(name, path string, cd *config.Device, kind plant.Kind, u, b int) error {
	prof, ok := p.profiles[cd.Profile]
	if !ok {
		return fmt.Errorf("sim: %s (%s): unknown profile %q", name, path, cd.Profile)
	}
	if prof.Kind != kind {
		return fmt.Errorf("sim: %s (%s): profile %q is a %s profile, a %s is needed", name, path, cd.Profile, prof.Kind, kind)
	}
	uid := 1
	if cd.UnitID != nil {
		uid = *cd.UnitID
	}
	d := &device{
		plant: p, name: name, addr: cd.Address, unitID: uint8(uid), prof: prof, kind: kind,
		unit: u, bms: b, holding: map[uint16]uint16{}, down: closedChan(),
	}
	d.sf = p.scaleFactors(d)
	if err := p.initHolding(d); err != nil {
		return fmt.Errorf("sim: %s: %w", name, err)
	}
	p.devs = append(p.devs, d)
	p.byName[name] = d
	return nil
}

// stdLog adapts zap for the Modbus server's own messages, at debug level:
// they include the expected "closing link" of every dropped connection.
func stdLog(l *zap.Logger) *log.Logger {
	sl, err := zap.NewStdLogAt(l, zap.DebugLevel)
	if err != nil {
		return log.New(io.Discard, "", 0)
	}
	return sl
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// listen starts the device's server on its address.
func (d *device) listen() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.up {
		return nil
	}
	srv, err := modbus.NewServer(&modbus.ServerConfiguration{
		URL:        "tcp://" + d.addr,
		Timeout:    idleTimeout,
		MaxClients: maxClients,
		Logger:     stdLog(d.plant.log.Named("modbus").With(zap.String("device", d.name))),
	}, d)
	if err != nil {
		return fmt.Errorf("sim: device %s on %s: %w", d.name, d.addr, err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("sim: device %s: cannot listen on %s: %w", d.name, d.addr, err)
	}
	d.srv, d.up = srv, true
	d.down = make(chan struct{})
	return nil
}

// stop closes the listener and every connection.
func (d *device) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.up {
		return
	}
	d.up = false
	close(d.down)
	d.held = nil
	_ = d.srv.Stop()
	d.srv = nil
}

func (d *device) drop() {
	d.stop()
	d.plant.log.Info("sim: device dropped", zap.String("device", d.name), zap.String("addr", d.addr))
}

func (d *device) restore() error {
	if err := d.listen(); err != nil {
		return err
	}
	d.plant.log.Info("sim: device restored", zap.String("device", d.name), zap.String("addr", d.addr))
	return nil
}

func (d *device) setDelay(v time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delay = v
}

func (d *device) setBlackhole(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on == d.blackhole {
		return
	}
	d.blackhole = on
	if on {
		d.bhOff = make(chan struct{})
	} else {
		close(d.bhOff)
		d.held = nil
	}
}

// errDrop makes the server close the connection without answering.
var errDrop = modbus.ErrProtocolError

// gate applies the injected faults to one request: it waits out the delay
// and holds a blackholed request until the blackhole ends or the device
// stops, then drops the connection. A nil return serves the request.
func (d *device) gate(uid uint8) error {
	d.mu.Lock()
	delay, down := d.delay, d.down
	d.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-down:
			t.Stop()
			return errDrop
		}
	}
	d.mu.Lock()
	if d.blackhole {
		rel := make(chan struct{})
		d.held = append(d.held, rel)
		if len(d.held) > maxHeld {
			close(d.held[0])
			d.held = d.held[1:]
		}
		off := d.bhOff
		d.mu.Unlock()
		select {
		case <-rel:
		case <-off:
		case <-down:
		}
		return errDrop
	}
	d.mu.Unlock()
	select {
	case <-down:
		return errDrop
	default:
	}
	if uid != d.unitID {
		return modbus.ErrGWTargetFailedToRespond
	}
	return nil
}

// HandleCoils implements modbus.RequestHandler: the devices have no coils.
func (d *device) HandleCoils(*modbus.CoilsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

// HandleDiscreteInputs implements modbus.RequestHandler: the devices have no discrete inputs.
func (d *device) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

// HandleHoldingRegisters implements modbus.RequestHandler.
func (d *device) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	if err := d.gate(req.UnitId); err != nil {
		return nil, err
	}
	if req.IsWrite {
		err := d.plant.write(d, req.Addr, req.Args)
		if err == nil {
			d.countWrite(req.ClientAddr)
		}
		return nil, err
	}
	return d.plant.read(d, devices.Holding, req.Addr, req.Quantity), nil
}

// HandleInputRegisters implements modbus.RequestHandler.
func (d *device) HandleInputRegisters(req *modbus.InputRegistersRequest) ([]uint16, error) {
	if err := d.gate(req.UnitId); err != nil {
		return nil, err
	}
	return d.plant.read(d, devices.Input, req.Addr, req.Quantity), nil
}

// read encodes the registers [addr, addr+n) of a table from the current
// state. Unmapped registers read 0.
func (p *Plant) read(d *device, table devices.Table, addr, n uint16) []uint16 {
	out := make([]uint16, n)
	lo, hi := int(addr), int(addr)+int(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.nowLocked()
	var buf [4]uint16
	// Whole points first, then bit fields on top of them.
	for pass := 0; pass < 2; pass++ {
		for i := range d.prof.Points {
			pt := &d.prof.Points[i]
			if pt.Table != table || pt.End() <= lo || int(pt.Address) >= hi || (pt.BitWidth > 0) != (pass == 1) {
				continue
			}
			w := buf[:pt.Words()]
			clear(w)
			switch {
			case pt.Writable:
				for k := range w {
					w[k] = d.holding[pt.Address+uint16(k)]
				}
			case pass == 1:
				v := p.valueLocked(d, pt.Name, t)
				field := uint64(math.Round(math.Max(0, (v-pt.Offset)/scaleOf(pt, 0)))) & (1<<pt.BitWidth - 1)
				pt.PutRaw(field<<pt.BitOffset, w)
			default:
				v := p.valueLocked(d, pt.Name, t)
				sf := d.sfOf(pt)
				_ = pt.Encode(clampTo(pt, sf, v), sf, w) // clamped, so only a non-finite value fails: reads 0
			}
			for k, r := range w {
				if a := int(pt.Address) + k; a >= lo && a < hi {
					if pass == 1 {
						out[a-lo] |= r
					} else {
						out[a-lo] = r
					}
				}
			}
		}
	}
	return out
}

// write stores registers written by a client and applies the writable
// points they touch. Every register must belong to a writable point.
func (p *Plant) write(d *device, addr uint16, regs []uint16) error {
	var touched []*devices.Point
	for k := range regs {
		a := int(addr) + k
		found := false
		for i := range d.prof.Points {
			pt := &d.prof.Points[i]
			if pt.Table == devices.Holding && pt.Writable && a >= int(pt.Address) && a < pt.End() {
				found = true
				if len(touched) == 0 || touched[len(touched)-1] != pt {
					touched = append(touched, pt)
				}
			}
		}
		if !found {
			return modbus.ErrIllegalDataAddress
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := make([]uint16, len(regs))
	for k, r := range regs {
		old[k] = d.holding[addr+uint16(k)]
		d.holding[addr+uint16(k)] = r
	}
	vals := make([]float64, len(touched))
	var buf [4]uint16
	for i, pt := range touched {
		w := buf[:pt.Words()]
		for k := range w {
			w[k] = d.holding[pt.Address+uint16(k)]
		}
		v, err := pt.Decode(w, d.sfOf(pt))
		if err != nil {
			for k := range regs {
				d.holding[addr+uint16(k)] = old[k]
			}
			return modbus.ErrIllegalDataValue
		}
		vals[i] = v
	}
	t := p.nowLocked()
	for i, pt := range touched {
		p.applyLocked(d, pt.Name, vals[i], t)
	}
	return nil
}

// applyLocked applies a written value of a standard point.
func (p *Plant) applyLocked(d *device, name string, v float64, t time.Duration) {
	if apply, ok := pcsApply[name]; ok && d.kind == plant.KindPCS {
		apply(&p.units[d.unit].pcs, t, v)
	}
}

// initHolding encodes the initial value of every writable point.
func (p *Plant) initHolding(d *device) error {
	var buf [4]uint16
	for i := range d.prof.Points {
		pt := &d.prof.Points[i]
		if !pt.Writable {
			continue
		}
		v := 0.0
		if d.kind == plant.KindPCS && pt.Name == plant.PointRun {
			v = 1
		}
		w := buf[:pt.Words()]
		if err := pt.Encode(clampTo(pt, d.sfOf(pt), v), d.sfOf(pt), w); err != nil {
			return err
		}
		for k := range w {
			d.holding[pt.Address+uint16(k)] = w[k]
		}
	}
	return nil
}

// valueLocked is the engineering value of a standard point now; 0 for
// points the simulator does not know.
func (p *Plant) valueLocked(d *device, name string, t time.Duration) float64 {
	if sf, ok := d.sf[name]; ok {
		return float64(sf)
	}
	switch d.kind {
	case plant.KindMeter:
		if v, ok := meterValues[name]; ok {
			return v(p, t)
		}
	case plant.KindPCS:
		if v, ok := pcsValues[name]; ok {
			return v(&p.units[d.unit].pcs)
		}
	case plant.KindBMS:
		if v, ok := bmsValues[name]; ok {
			u := p.units[d.unit]
			return v(&u.bs[d.bms], &u.bp[d.bms])
		}
	}
	return 0
}

// The simulator's side of every standard point (plant.Standards) it
// serves: the value of a read point now, by kind, and what a written
// command point does.
var (
	meterValues = map[string]func(p *Plant, t time.Duration) float64{
		plant.PointP:       func(p *Plant, t time.Duration) float64 { pk, _ := p.poiLocked(t); return pk },
		plant.PointQ:       func(p *Plant, t time.Duration) float64 { _, qk := p.poiLocked(t); return qk },
		plant.PointF:       func(p *Plant, t time.Duration) float64 { return p.freqLocked(t) },
		plant.PointV:       func(p *Plant, t time.Duration) float64 { return p.voltageLocked(t) },
		plant.PointEImport: func(p *Plant, _ time.Duration) float64 { return p.meter.eImport },
		plant.PointEExport: func(p *Plant, _ time.Duration) float64 { return p.meter.eExport },
	}
	pcsValues = map[string]func(s *pcsState) float64{
		plant.PointP:         func(s *pcsState) float64 { return s.p },
		plant.PointQ:         func(s *pcsState) float64 { return s.q },
		plant.PointState:     func(s *pcsState) float64 { return float64(s.mode()) },
		plant.PointFaultWord: func(s *pcsState) float64 { return float64(s.faultWord()) },
		plant.PointFault:     func(s *pcsState) float64 { return b2f(s.faultWord()&FaultGeneral != 0) },
		plant.PointPSet:      func(s *pcsState) float64 { return s.pset },
		plant.PointQSet:      func(s *pcsState) float64 { return s.qset },
		plant.PointRun:       func(s *pcsState) float64 { return b2f(s.run) },
		plant.PointHeartbeat: func(s *pcsState) float64 { return float64(s.hb) },
		plant.PointAlive:     func(s *pcsState) float64 { return float64(s.alive) },
	}
	bmsValues = map[string]func(b *batState, bp *batParams) float64{
		plant.PointSOC:          func(b *batState, _ *batParams) float64 { return b.soc },
		plant.PointSOH:          func(*batState, *batParams) float64 { return sohPct },
		plant.PointV:            func(b *batState, _ *batParams) float64 { return b.v },
		plant.PointI:            func(b *batState, _ *batParams) float64 { return b.i },
		plant.PointCellVMax:     func(b *batState, _ *batParams) float64 { return b.cellVMax },
		plant.PointCellVMin:     func(b *batState, _ *batParams) float64 { return b.cellVMin },
		plant.PointCellTMax:     func(b *batState, _ *batParams) float64 { return b.cellTMax() },
		plant.PointCellTMin:     func(b *batState, _ *batParams) float64 { return b.cellTMin() },
		plant.PointChargeMax:    func(b *batState, bp *batParams) float64 { c, _ := limits(bp, b); return c },
		plant.PointDischargeMax: func(b *batState, bp *batParams) float64 { _, d := limits(bp, b); return d },
		plant.PointAlarmLevel:   func(b *batState, _ *batParams) float64 { return float64(b.level) },
		plant.PointAlarmWord:    func(b *batState, _ *batParams) float64 { return float64(b.word) },
		plant.PointContactor:    func(b *batState, _ *batParams) float64 { return b2f(b.contactor) },
	}
	pcsApply = map[string]func(s *pcsState, t time.Duration, v float64){
		plant.PointPSet:      func(s *pcsState, t time.Duration, v float64) { s.command(t, v, s.qset) },
		plant.PointQSet:      func(s *pcsState, t time.Duration, v float64) { s.command(t, s.pset, v) },
		plant.PointRun:       func(s *pcsState, _ time.Duration, v float64) { s.run = v != 0 },
		plant.PointHeartbeat: func(s *pcsState, t time.Duration, v float64) { s.heartbeat(t, uint16(int64(v))) },
	}
)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// sfOf is the scale-factor exponent applied to a point.
func (d *device) sfOf(pt *devices.Point) int16 {
	if pt.ScalePoint == "" {
		return 0
	}
	return d.sf[pt.ScalePoint]
}

// scaleFactors picks a fixed exponent for every scale-factor point of the
// device's profile: the smallest in -3..6 at which the largest value of
// every point using it still fits the point's wire type.
func (p *Plant) scaleFactors(d *device) map[string]int16 {
	need := map[string]int16{}
	for i := range d.prof.Points {
		pt := &d.prof.Points[i]
		if pt.ScalePoint == "" {
			continue
		}
		b := math.Abs(p.bound(d, pt.Name)) + math.Abs(pt.Offset)
		e := int16(-3)
		if pt.Type != devices.Float32 && pt.Type != devices.Float64 {
			_, hi := rangeOf(pt.Type)
			for e < 6 && b/scaleOf(pt, e) > hi {
				e++
			}
		}
		if cur, ok := need[pt.ScalePoint]; !ok || e > cur {
			need[pt.ScalePoint] = e
		}
	}
	return need
}

// bound is the largest magnitude a standard point of the device can take.
func (p *Plant) bound(d *device, name string) float64 {
	cells := float64(p.units[max(d.unit, 0)].bp[0].cells)
	switch d.kind {
	case plant.KindMeter:
		var s float64
		for _, u := range p.units {
			s += u.pp.ratedS
		}
		switch name {
		case plant.PointP, plant.PointQ:
			return 2*s + math.Abs(p.cfg.Simulator.Grid.LoadKW)
		case plant.PointF:
			return 100
		case plant.PointV:
			return 1.2 * p.voltage()
		}
		return 1e7
	case plant.KindPCS:
		return 1.2 * p.units[d.unit].pp.ratedS
	case plant.KindBMS:
		u := p.units[d.unit]
		bp := &u.bp[d.bms]
		switch name {
		case plant.PointV:
			return cells * 3.8
		case plant.PointI:
			return 1.2 * u.pp.ratedS / u.pp.eff * 1000 / (cells * 2.6)
		case plant.PointChargeMax, plant.PointDischargeMax:
			return bp.capKWh * bp.cRate
		case plant.PointCellTMax, plant.PointCellTMin:
			return 150
		case plant.PointSOC, plant.PointSOH:
			return 100
		}
		return 10
	}
	return 1
}

// scaleOf is the factor from raw to engineering value (before offset).
func scaleOf(pt *devices.Point, sf int16) float64 {
	s := pt.Scale
	if s == 0 {
		s = 1
	}
	return s * math.Pow10(int(sf))
}

// rangeOf is the raw range of an integer wire type.
func rangeOf(t devices.Type) (float64, float64) {
	switch t {
	case devices.Int16:
		return math.MinInt16, math.MaxInt16
	case devices.Uint16:
		return 0, math.MaxUint16
	case devices.Int32:
		return math.MinInt32, math.MaxInt32
	case devices.Uint32:
		return 0, math.MaxUint32
	case devices.Int64:
		return -(1 << 53), 1 << 53
	case devices.Uint64:
		return 0, 1 << 53
	}
	return math.Inf(-1), math.Inf(1)
}

// clampTo saturates v to what the point can carry at exponent sf.
func clampTo(pt *devices.Point, sf int16, v float64) float64 {
	if pt.Type == devices.Float32 || pt.Type == devices.Float64 {
		return v
	}
	lo, hi := rangeOf(pt.Type)
	s := scaleOf(pt, sf)
	a, b := lo*s+pt.Offset, hi*s+pt.Offset
	if a > b {
		a, b = b, a
	}
	return clamp(v, a, b)
}

// DeviceStatus is a device's address and injected faults.
type DeviceStatus struct {
	Name      string        `json:"name"`
	Address   string        `json:"address"`
	Profile   string        `json:"profile"`
	Up        bool          `json:"up"`
	Delay     time.Duration `json:"delay_ns"`
	Blackhole bool          `json:"blackhole"`
}

// ClientWrites counts the accepted write requests of one client
// connection to one device.
type ClientWrites struct {
	Device string    `json:"device"`
	Client string    `json:"client"` // the connection's remote address, host:port
	Writes uint64    `json:"writes"`
	First  time.Time `json:"first"` // wall-clock time of the first write
	Last   time.Time `json:"last"`  // and of the last
}

// countWrite counts one accepted write request from client.
func (d *device) countWrite(client string) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.writes == nil {
		d.writes = map[string]*ClientWrites{}
	}
	w := d.writes[client]
	if w == nil {
		w = &ClientWrites{Device: d.name, Client: client, First: now}
		d.writes[client] = w
	}
	w.Writes++
	w.Last = now
}

// Writes lists, for every device and client connection that wrote to it,
// how many write requests the device accepted and when, ordered by device
// and client. It tells apart the writers of a hot-standby pair.
func (p *Plant) Writes() []ClientWrites {
	var out []ClientWrites
	for _, d := range p.devs {
		d.mu.Lock()
		for _, w := range d.writes {
			out = append(out, *w)
		}
		d.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b ClientWrites) int {
		return cmp.Or(cmp.Compare(a.Device, b.Device), cmp.Compare(a.Client, b.Client))
	})
	return out
}

// DeviceStatus lists every device with its address and injected faults.
func (p *Plant) DeviceStatus() []DeviceStatus {
	out := make([]DeviceStatus, len(p.devs))
	for i, d := range p.devs {
		d.mu.Lock()
		out[i] = DeviceStatus{Name: d.name, Address: d.addr, Profile: d.prof.Name, Up: d.up, Delay: d.delay, Blackhole: d.blackhole}
		d.mu.Unlock()
	}
	return out
}
