package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/config"
	"github.com/emsd/emsd/internal/devices"
	"github.com/emsd/emsd/internal/plant"
)

// Errors returned by the fault-injection methods, for errors.Is.
var (
	// ErrNotFound: no such device, unit or battery.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: a value out of range.
	ErrInvalid = errors.New("invalid value")
)

// maxCatchUp bounds the time integrated in one go after the stepper was
// held up (e.g. the process was suspended); the rest is skipped.
const maxCatchUp = time.Second

// Plant is a simulated storage plant: one physics model stepped by one
// goroutine, and one Modbus TCP server per configured device.
type Plant struct {
	cfg      *config.Config
	profiles devices.Profiles
	log      *zap.Logger
	step     time.Duration

	mu       sync.Mutex // guards everything below and the physics state
	t0       time.Time  // simulated time 0 (Start)
	simT     time.Duration
	units    []*unit
	meter    meterState
	freq     signal
	load     signal
	volt     signal // grid source line voltage, V
	grid     thevenin
	freqOver *float64
	loadOver *float64
	voltOver signal // the control API's source voltage, from its call on

	devs   []*device
	byName map[string]*device

	runMu   sync.Mutex // serialises Start, Close and device up/down
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
	httpSrv *http.Server
}

// unit is one PCS and its batteries.
type unit struct {
	id  string
	pp  pcsParams
	pcs pcsState
	bp  []batParams
	bs  []batState
}

// New builds a plant from the configuration; every device's profile must be
// in profiles and be of the device's kind. Traces are loaded here. Nothing
// listens until Start.
func New(cfg *config.Config, profiles devices.Profiles, log *zap.Logger) (*Plant, error) {
	if log == nil {
		log = zap.NewNop()
	}
	sc := &cfg.Simulator
	p := &Plant{
		cfg:      cfg,
		profiles: profiles,
		log:      log,
		step:     orDefault(sc.Step, 5*time.Millisecond),
		t0:       time.Now(),
		byName:   map[string]*device{},
	}
	var err error
	if p.freq, err = frequencySource(&sc.Grid, cfg.Site.NominalHz); err != nil {
		return nil, fmt.Errorf("sim: simulator.grid.frequency_trace: %w", err)
	}
	if p.load, err = loadSource(&sc.Grid); err != nil {
		return nil, fmt.Errorf("sim: simulator.grid.load_trace: %w", err)
	}
	if p.volt, err = voltageSource(&sc.Grid); err != nil {
		return nil, fmt.Errorf("sim: simulator.grid.voltage_trace: %w", err)
	}

	hb := 5 * time.Second
	if sc.PCS.HeartbeatTimeout != nil {
		hb = *sc.PCS.HeartbeatTimeout
	}
	nBat := 0
	for _, u := range cfg.Units {
		nBat += len(u.BMS)
	}
	k := 0
	var ratedKW float64
	cells := sc.Battery.Cells
	if cells <= 0 {
		cells = 240
	}
	ambient := sc.Battery.AmbientC
	if ambient == 0 {
		ambient = 25
	}
	for _, cu := range cfg.Units {
		ratedS := cu.RatedSKVA
		if ratedS == 0 {
			ratedS = 1.1 * cu.RatedPKW
		}
		if !(cu.RatedPKW > 0) {
			return nil, fmt.Errorf("sim: unit %s: rated_p_kw %v must be positive", cu.ID, cu.RatedPKW)
		}
		if len(cu.BMS) == 0 {
			return nil, fmt.Errorf("sim: unit %s has no bms", cu.ID)
		}
		u := &unit{
			id: cu.ID,
			pp: pcsParams{
				ratedP:     cu.RatedPKW,
				ratedS:     ratedS,
				tau:        orDefault(sc.PCS.Tau, 50*time.Millisecond),
				delay:      sc.PCS.Delay,
				rampKWPerS: orDefaultF(sc.PCS.RampPctPerS, 1000) / 100 * cu.RatedPKW,
				eff:        orDefaultF(sc.PCS.Efficiency, 0.975),
				qMax:       orDefaultF(sc.PCS.QMaxPct, 100) / 100 * ratedS,
				hbTimeout:  hb,
			},
			pcs: newPCSState(),
		}
		for j, cb := range cu.BMS {
			if !(cb.CapacityKWh > 0) {
				return nil, fmt.Errorf("sim: unit %s bms %d: capacity_kwh %v must be positive", cu.ID, j, cb.CapacityKWh)
			}
			bp := batParams{
				capKWh:    cb.CapacityKWh,
				cells:     cells,
				cRate:     orDefaultF(sc.Battery.CRate, 0.5),
				ambientC:  ambient,
				timeScale: sc.Battery.TimeScale,
			}
			soc := initialSOC(orDefaultF(sc.Battery.SOCPct, 50), sc.Battery.SOCSpreadPct, k, nBat)
			k++
			u.bp = append(u.bp, bp)
			u.bs = append(u.bs, newBatState(&bp, soc))
		}
		p.units = append(p.units, u)
		ratedKW += cu.RatedPKW
	}
	p.grid = newThevenin(sc.Grid.SCR, orDefaultF(sc.Grid.XR, 10), ratedKW, p.voltage())

	if err := p.addDevice(plant.Meter, "site.poi.meter", &cfg.Site.POI.Meter, plant.KindMeter, -1, -1); err != nil {
		return nil, err
	}
	for i, cu := range cfg.Units {
		if err := p.addDevice(plant.DeviceName(cu.ID, plant.KindPCS, 0), fmt.Sprintf("units[%d].pcs", i), &cu.PCS, plant.KindPCS, i, -1); err != nil {
			return nil, err
		}
		if p.profiles[cu.PCS.Profile].Point(plant.PointHeartbeat) < 0 {
			p.units[i].pp.hbTimeout = 0 // nothing can feed the watchdog
		}
		for j := range cu.BMS {
			if err := p.addDevice(plant.DeviceName(cu.ID, plant.KindBMS, j), fmt.Sprintf("units[%d].bms[%d]", i, j),
				&cu.BMS[j].Device, plant.KindBMS, i, j); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func orDefault(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}

func orDefaultF(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}

// Start binds every device server, starts the physics and, when configured,
// the HTTP control API. It returns once all of them listen; an address in
// use is an error naming the device and the address. Simulated time starts
// here: scripted frequency steps and the heartbeat watchdogs count from now.
func (p *Plant) Start(ctx context.Context) error {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	if p.started {
		return errors.New("sim: plant already started")
	}
	p.mu.Lock()
	p.t0 = time.Now()
	p.simT = 0
	p.mu.Unlock()
	for i, d := range p.devs {
		if err := d.listen(); err != nil {
			for _, o := range p.devs[:i] {
				o.stop()
			}
			return err
		}
	}
	if addr := p.cfg.Simulator.ControlAddr; addr != "" {
		if err := p.startHTTP(addr); err != nil {
			for _, d := range p.devs {
				d.stop()
			}
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	p.cancel = cancel
	p.done = make(chan struct{})
	go p.run(ctx)
	p.started = true
	p.log.Info("simulated plant listening", zap.Int("devices", len(p.devs)),
		zap.String("control", p.cfg.Simulator.ControlAddr), zap.Duration("step", p.step))
	return nil
}

// Close stops the physics, every server and the control API.
func (p *Plant) Close() error {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	if !p.started {
		return nil
	}
	p.started = false
	p.cancel()
	<-p.done
	var errs []error
	if p.httpSrv != nil {
		errs = append(errs, p.httpSrv.Close())
		p.httpSrv = nil
	}
	for _, d := range p.devs {
		d.stop()
	}
	return errors.Join(errs...)
}

// run steps the physics every step until ctx ends.
func (p *Plant) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTicker(p.step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p.advance(now)
		}
	}
}

// advance integrates the physics up to wall-clock time now in steps of at
// most p.step.
func (p *Plant) advance(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	target := now.Sub(p.t0)
	if target-p.simT > maxCatchUp {
		p.simT = target - maxCatchUp
	}
	for p.simT < target {
		dt := min(p.step, target-p.simT)
		p.simT += dt
		p.stepLocked(p.simT, dt)
	}
}

// stepLocked advances the whole plant from t-dt to t.
func (p *Plant) stepLocked(t, dt time.Duration) {
	sec := dt.Seconds()
	var sumP, sumQ float64
	for _, u := range p.units {
		stepUnit(u, t, dt)
		sumP += u.pcs.p
		sumQ += u.pcs.q
	}
	poi, _ := poiPower([]float64{sumP}, []float64{sumQ}, p.loadLocked(t))
	p.meter.integrate(poi, sec)
}

// stepUnit advances one PCS and its batteries. The DC power splits over
// the batteries that can take it, in proportion to capacity; the PCS is
// limited to the share of its rating those batteries stand for.
func stepUnit(u *unit, t, dt time.Duration) {
	var total, dis, chg float64
	closed := false
	for j := range u.bs {
		c := u.bp[j].capKWh
		total += c
		if u.bs[j].contactor {
			closed = true
		}
		if u.bs[j].canDischarge() {
			dis += c
		}
		if u.bs[j].canCharge() {
			chg += c
		}
	}
	dc := dcLimits{closed: closed}
	if total > 0 {
		pm := math.Min(u.pp.ratedP, u.pp.ratedS)
		dc.dischargeKW = pm * dis / total
		dc.chargeKW = pm * chg / total
	}
	stepPCS(&u.pp, &u.pcs, t, dt, dc)
	pdc := u.pcs.pdc
	able := dis
	if pdc < 0 {
		able = chg
	}
	for j := range u.bs {
		share := 0.0
		if able > 0 && ((pdc > 0 && u.bs[j].canDischarge()) || (pdc < 0 && u.bs[j].canCharge())) {
			share = pdc * u.bp[j].capKWh / able
		}
		stepBattery(&u.bp[j], &u.bs[j], share, dt.Seconds())
	}
}

// now is the current simulated time; p.mu must be held.
func (p *Plant) nowLocked() time.Duration { return time.Since(p.t0) }

func (p *Plant) freqLocked(t time.Duration) float64 {
	if p.freqOver != nil {
		return *p.freqOver
	}
	return p.freq.at(t)
}

func (p *Plant) loadLocked(t time.Duration) float64 {
	if p.loadOver != nil {
		return *p.loadOver
	}
	return p.load.at(t)
}

// sourceLocked is the grid source voltage at simulated time t.
func (p *Plant) sourceLocked(t time.Duration) float64 {
	if p.voltOver != nil {
		return p.voltOver.at(t)
	}
	return p.volt.at(t)
}

// voltageLocked is the POI line voltage at simulated time t: the source
// voltage moved by the plant's P and Q through the grid impedance.
func (p *Plant) voltageLocked(t time.Duration) float64 {
	pk, qk := p.poiLocked(t)
	return p.grid.poi(p.sourceLocked(t), pk, qk)
}

// poiLocked is the POI power balance at simulated time t.
func (p *Plant) poiLocked(t time.Duration) (pkw, qkvar float64) {
	for _, u := range p.units {
		pkw += u.pcs.p
		qkvar += u.pcs.q
	}
	return pkw - p.loadLocked(t), qkvar
}

// Devices lists the device names: "poi", "<unit>.pcs", "<unit>.bms<j>",
// in configuration order.
func (p *Plant) Devices() []string {
	out := make([]string, len(p.devs))
	for i, d := range p.devs {
		out[i] = d.name
	}
	return out
}

func (p *Plant) device(name string) (*device, error) {
	d, ok := p.byName[name]
	if !ok {
		return nil, fmt.Errorf("sim: device %q: %w (devices: %s)", name, ErrNotFound, strings.Join(p.Devices(), ", "))
	}
	return d, nil
}

// DropDevice stops a device's server: its listener and connections close
// (comm loss). Dropping a dropped device does nothing.
func (p *Plant) DropDevice(name string) error {
	d, err := p.device(name)
	if err != nil {
		return err
	}
	p.runMu.Lock()
	defer p.runMu.Unlock()
	d.drop()
	return nil
}

// RestoreDevice listens again on a dropped device's address. Restoring a
// device that is up does nothing.
func (p *Plant) RestoreDevice(name string) error {
	d, err := p.device(name)
	if err != nil {
		return err
	}
	p.runMu.Lock()
	defer p.runMu.Unlock()
	if !p.started {
		return fmt.Errorf("sim: device %s: the plant is not running", name)
	}
	return d.restore()
}

// DelayDevice delays every reply of a device by d (0 removes the delay).
// The request is served after the delay, so a write takes effect then.
func (p *Plant) DelayDevice(name string, delay time.Duration) error {
	d, err := p.device(name)
	if err != nil {
		return err
	}
	if delay < 0 {
		return fmt.Errorf("sim: device %s: delay %v: %w (must be ≥ 0)", name, delay, ErrInvalid)
	}
	d.setDelay(delay)
	return nil
}

// Blackhole makes a device accept connections and read requests but never
// answer (on). Off answers new requests again; connections that had a
// request swallowed are closed, as a client would have given up on them.
func (p *Plant) Blackhole(name string, on bool) error {
	d, err := p.device(name)
	if err != nil {
		return err
	}
	d.setBlackhole(on)
	return nil
}

func (p *Plant) unit(id string) (*unit, error) {
	for _, u := range p.units {
		if u.id == id {
			return u, nil
		}
	}
	ids := make([]string, len(p.units))
	for i, u := range p.units {
		ids[i] = u.id
	}
	return nil, fmt.Errorf("sim: unit %q: %w (units: %s)", id, ErrNotFound, strings.Join(ids, ", "))
}

// SetPCSFault sets or clears a unit's PCS general fault (fault_word bit 0);
// a faulted PCS trips to 0 kW at once and follows its setpoint again once cleared.
func (p *Plant) SetPCSFault(unit string, on bool) error {
	u, err := p.unit(unit)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	u.pcs.fault = on
	if on {
		u.pcs.p, u.pcs.q, u.pcs.pdc = 0, 0, 0
	}
	return nil
}

// SetBMSAlarm forces battery bms (from 0) of unit to report alarm level
// 0..3; level 3 opens the contactor. -1 returns it to physics-driven alarms.
func (p *Plant) SetBMSAlarm(unit string, bms int, level int) error {
	u, err := p.unit(unit)
	if err != nil {
		return err
	}
	if bms < 0 || bms >= len(u.bs) {
		return fmt.Errorf("sim: unit %s has no bms %d (0..%d): %w", unit, bms, len(u.bs)-1, ErrNotFound)
	}
	if level < -1 || level > 3 {
		return fmt.Errorf("sim: alarm level %d: %w (must be -1..3)", level, ErrInvalid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	u.bs[bms].forced = level
	updateAlarms(&u.bs[bms])
	return nil
}

// SetFrequency sets the grid frequency, overriding the configured source from now on.
func (p *Plant) SetFrequency(hz float64) { p.StepFrequency(hz) }

// StepFrequency is SetFrequency returning the instant the new value became
// readable at the meter: the meter serves it to any read after that instant.
func (p *Plant) StepFrequency(hz float64) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.freqOver = &hz
	return time.Now()
}

// SetVoltage moves the grid source voltage to v (V) linearly over ramp
// (0: a step), from now on, overriding the configured source.
func (p *Plant) SetVoltage(v float64, ramp time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.nowLocked()
	p.voltOver = ramps{base: p.sourceLocked(t), steps: []config.VoltageStep{{At: t, V: v, Ramp: ramp}}}
}

// SetLoad sets the site load behind the POI, kW, overriding the configured source.
func (p *Plant) SetLoad(kw float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loadOver = &kw
}

// Snapshot returns the plant's ground truth.
func (p *Plant) Snapshot() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.nowLocked()
	st := State{At: time.Now(), Units: make([]UnitState, len(p.units))}
	pk, qk := p.poiLocked(t)
	st.POI = MeterState{
		PKW: pk, QKVar: qk, FHz: p.freqLocked(t), VV: p.voltageLocked(t), LoadKW: p.loadLocked(t),
		EImportKWh: p.meter.eImport, EExportKWh: p.meter.eExport,
	}
	for i, u := range p.units {
		s := &u.pcs
		us := UnitState{ID: u.id, PCS: PCSState{
			PKW: s.p, QKVar: s.q, PDCKW: s.pdc, PSetKW: s.pset, QSetKVar: s.qset, Run: s.run,
			Fault: s.fault, HeartbeatLost: s.hbLost, DCLost: s.dcLost, FaultWord: s.faultWord(),
			Mode: s.mode(), Heartbeat: s.hb, HeartbeatAge: t - s.hbChanged,
		}}
		for j := range u.bs {
			b := &u.bs[j]
			chg, dis := limits(&u.bp[j], b)
			us.BMS = append(us.BMS, BMSState{
				CapacityKWh: u.bp[j].capKWh, SOCPct: b.soc, SOHPct: sohPct, VV: b.v, IA: b.i, PDCKW: b.pdc,
				CellVMax: b.cellVMax, CellVMin: b.cellVMin, TempC: b.tempC, CellTMax: b.cellTMax(), CellTMin: b.cellTMin(),
				ChargeMaxKW: chg, DischargeMaxKW: dis, AlarmLevel: b.level, AlarmWord: b.word,
				ForcedAlarm: b.forced, Contactor: b.contactor,
			})
		}
		st.Units[i] = us
	}
	return st
}

// voltage is the nominal line voltage.
func (p *Plant) voltage() float64 { return orDefaultF(p.cfg.Simulator.Grid.VoltageV, 10000) }

// parseBool accepts the forms the control API documents.
func parseBool(s string) (bool, error) {
	switch s {
	case "true", "1", "on":
		return true, nil
	case "false", "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", s)
}
