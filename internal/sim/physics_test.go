package sim

import (
	"math"
	"testing"
	"time"
)

func testPCS() pcsParams {
	return pcsParams{ratedP: 2500, ratedS: 2750, tau: 50 * time.Millisecond, delay: 10 * time.Millisecond,
		rampKWPerS: 1e9, eff: 0.975, qMax: 2750}
}

var open = dcLimits{dischargeKW: 1e9, chargeKW: 1e9, closed: true}

// runPCS steps a converter from `from` to `to` in 1 ms steps.
func runPCS(pp *pcsParams, s *pcsState, from, to time.Duration, dc dcLimits) {
	const dt = time.Millisecond
	for t := from + dt; t <= to; t += dt {
		stepPCS(pp, s, t, dt, dc)
	}
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.4f, want %.4f ± %.4f", what, got, want, tol)
	}
}

func TestPCSLagAndDelay(t *testing.T) {
	pp := testPCS()
	s := newPCSState()
	s.command(0, 1000, 0)
	runPCS(&pp, &s, 0, pp.delay, open)
	near(t, "P at the end of the transport delay", s.p, 0, 1e-9)
	runPCS(&pp, &s, pp.delay, pp.delay+pp.tau, open)
	near(t, "P at delay+τ", s.p, 632.1, 10) // 1 - 1/e
	runPCS(&pp, &s, pp.delay+pp.tau, pp.delay+5*pp.tau, open)
	near(t, "P at delay+5τ", s.p, 993.3, 10)
	near(t, "DC power of a discharge", s.pdc, s.p/pp.eff, 1e-9)
}

func TestPCSRampLimit(t *testing.T) {
	pp := testPCS()
	pp.tau, pp.delay, pp.rampKWPerS = 0, 0, 250 // 10 %/s of 2500 kW
	s := newPCSState()
	s.command(0, -2000, 0)
	runPCS(&pp, &s, 0, time.Second, open)
	near(t, "P after 1 s at 250 kW/s", s.p, -250, 1e-6)
	runPCS(&pp, &s, time.Second, 10*time.Second, open)
	near(t, "P after 10 s", s.p, -2000, 1e-6)
}

func TestLimitPQ(t *testing.T) {
	pp := testPCS()
	p, q := limitPQ(3000, 2000, &pp)
	near(t, "P", p, 2500, 1e-9)
	near(t, "Q", q, math.Sqrt(2750*2750-2500*2500), 1e-9)
	p, q = limitPQ(-1000, -500, &pp)
	near(t, "P within rating", p, -1000, 1e-9)
	near(t, "Q within rating", q, -500, 1e-9)
	p, q = limitPQ(0, 5000, &pp)
	near(t, "P for pure Q", p, 0, 1e-9)
	near(t, "Q alone is limited to S", q, 2750, 1e-9)
	pq := pp
	pq.qMax = 1500
	p, q = limitPQ(0, -5000, &pq)
	near(t, "P for pure Q under a Q limit", p, 0, 1e-9)
	near(t, "Q at zero P is limited to the converter's own limit", q, -1500, 1e-9)
	p, q = limitPQ(2500, 5000, &pq)
	near(t, "P at rated P under a Q limit", p, 2500, 1e-9)
	near(t, "Q at rated P: the smaller of S headroom and own limit", q, math.Min(1500, math.Sqrt(2750*2750-2500*2500)), 1e-9)

	s := newPCSState()
	s.command(0, 2600, 2000)
	runPCS(&pp, &s, 0, time.Second, open)
	if got := math.Hypot(s.p, s.q); got > pp.ratedS+1e-6 {
		t.Errorf("S = %.1f kVA exceeds the rating %.0f", got, pp.ratedS)
	}
	near(t, "P limited to rated P", s.p, 2500, 0.1)
}

func TestPCSTripsAndStops(t *testing.T) {
	pp := testPCS()
	s := newPCSState()
	s.command(0, 1000, 0)
	runPCS(&pp, &s, 0, time.Second, open)
	s.fault = true
	stepPCS(&pp, &s, time.Second+time.Millisecond, time.Millisecond, open)
	if s.p != 0 || s.mode() != 2 || s.faultWord() != FaultGeneral {
		t.Fatalf("faulted PCS: P=%v mode=%d word=%b, want 0, 2, 1", s.p, s.mode(), s.faultWord())
	}
	s.fault = false
	runPCS(&pp, &s, time.Second, 2*time.Second, open)
	near(t, "P after the fault clears", s.p, 1000, 1)
	runPCS(&pp, &s, 2*time.Second, 3*time.Second, dcLimits{})
	if s.p != 0 || s.faultWord() != FaultDCLost {
		t.Errorf("contactors open: P=%v word=%b, want 0 and the DC bit", s.p, s.faultWord())
	}
	s.run = false
	runPCS(&pp, &s, 3*time.Second, 4*time.Second, open)
	if s.p != 0 || s.mode() != 0 {
		t.Errorf("stopped PCS: P=%v mode=%d, want 0 and 0", s.p, s.mode())
	}
}

func TestHeartbeatWatchdog(t *testing.T) {
	pp := testPCS()
	pp.hbTimeout = time.Second
	s := newPCSState()
	s.command(0, 1000, 0)
	runPCS(&pp, &s, 0, 900*time.Millisecond, open)
	if s.hbLost || s.p < 990 {
		t.Fatalf("before the timeout: lost=%v P=%.1f", s.hbLost, s.p)
	}
	runPCS(&pp, &s, 900*time.Millisecond, 1500*time.Millisecond, open)
	if !s.hbLost || s.faultWord()&FaultHeartbeatLost == 0 || s.mode() != 2 {
		t.Fatalf("after the timeout: lost=%v word=%b mode=%d", s.hbLost, s.faultWord(), s.mode())
	}
	near(t, "P after the watchdog expired", s.p, 0, 0)
	s.heartbeat(1500*time.Millisecond, 1)
	runPCS(&pp, &s, 1500*time.Millisecond, 2*time.Second, open)
	if s.hbLost {
		t.Error("a changed heartbeat did not clear the watchdog")
	}
	near(t, "P after the heartbeat resumed", s.p, 1000, 5)
	s.heartbeat(2*time.Second, 1) // same value: not a change
	runPCS(&pp, &s, 2*time.Second, 2600*time.Millisecond, open)
	if !s.hbLost {
		t.Error("rewriting the same heartbeat value kept the watchdog alive")
	}
}

// testUnit is one PCS with batteries of the given capacities at 50 % SOC.
func testUnit(caps ...float64) *unit {
	u := &unit{id: "u", pp: testPCS(), pcs: newPCSState()}
	u.pp.tau, u.pp.delay = 0, 0
	for _, c := range caps {
		bp := batParams{capKWh: c, cells: 240, cRate: 0.5, ambientC: 25}
		u.bp = append(u.bp, bp)
		u.bs = append(u.bs, newBatState(&bp, 50))
	}
	return u
}

func runUnit(u *unit, from, to, dt time.Duration) {
	for t := from + dt; t <= to; t += dt {
		stepUnit(u, t, dt)
	}
}

func TestEfficiency(t *testing.T) {
	u := testUnit(1000)
	u.pcs.command(0, 100, 0)
	runUnit(u, 0, time.Hour, time.Second)
	// 100 kWh AC out takes 100/0.975 kWh from a 1000 kWh battery.
	near(t, "SOC after 1 h at +100 kW", u.bs[0].soc, 50-100/0.975/1000*100, 0.02)

	u = testUnit(1000)
	u.pcs.command(0, -100, 0)
	runUnit(u, 0, time.Hour, time.Second)
	near(t, "SOC after 1 h at -100 kW", u.bs[0].soc, 50+100*0.975/1000*100, 0.02)
}

func TestDCSplitAndEmptyBattery(t *testing.T) {
	u := testUnit(3000, 1000)
	u.pcs.command(0, 1000, 0)
	runUnit(u, 0, time.Second, 5*time.Millisecond)
	near(t, "share of the 3000 kWh battery", u.bs[0].pdc, 0.75*1000/0.975, 0.01)
	near(t, "share of the 1000 kWh battery", u.bs[1].pdc, 0.25*1000/0.975, 0.01)

	u.bs[1].soc = 0 // empty: cannot take its share
	u.pcs.command(time.Second, 2500, 0)
	runUnit(u, time.Second, 2*time.Second, 5*time.Millisecond)
	near(t, "PCS limited to the share of the able battery", u.pcs.p, 0.75*2500, 0.01)
	near(t, "empty battery power", u.bs[1].pdc, 0, 0)
	near(t, "able battery takes all", u.bs[0].pdc, 0.75*2500/0.975, 0.01)

	// It can still be charged.
	u.pcs.command(2*time.Second, -1000, 0)
	runUnit(u, 2*time.Second, 3*time.Second, 5*time.Millisecond)
	near(t, "charge power", u.pcs.p, -1000, 0.01)
	if u.bs[1].soc <= 0 {
		t.Error("the empty battery did not take charge")
	}
}

func TestOCV(t *testing.T) {
	near(t, "OCV(0)", ocv(0), 2.90, 1e-9)
	near(t, "OCV(100)", ocv(100), 3.45, 1e-9)
	near(t, "OCV(50)", ocv(50), 3.295, 1e-9)
	near(t, "OCV(45)", ocv(45), 3.29, 1e-9)
	for s := 0.0; s < 100; s += 0.5 {
		if ocv(s+0.5) < ocv(s) {
			t.Fatalf("OCV falls between %v and %v %%", s, s+0.5)
		}
	}
	bp := batParams{capKWh: 5000, cells: 240, cRate: 0.5, ambientC: 25}
	s := newBatState(&bp, 50)
	near(t, "pack V at rest", s.v, 240*3.295, 1e-6)
	stepBattery(&bp, &s, 1000, 1)
	if !(s.cellVMin < s.cellVMax && s.cellVMax < ocv(52)) {
		t.Errorf("cells under discharge: min %.4f max %.4f", s.cellVMin, s.cellVMax)
	}
	near(t, "current", s.i, 1000*1000/(240*3.295), 1)
	if s.v >= 240*ocv(s.soc) {
		t.Errorf("pack V %.1f under discharge is not below OCV %.1f", s.v, 240*ocv(s.soc))
	}
}

func TestLimitsDerating(t *testing.T) {
	bp := batParams{capKWh: 5000, cells: 240, cRate: 0.5, ambientC: 25}
	cases := []struct {
		soc, temp  float64
		chg, dis   float64
		contactors bool
	}{
		{50, 25, 2500, 2500, true},
		{10, 25, 2500, 2500, true},
		{5, 25, 2500, 1250, true},
		{0, 25, 2500, 0, true},
		{90, 25, 2500, 2500, true},
		{95, 25, 1250, 2500, true},
		{100, 25, 0, 2500, true},
		{50, 48, 1250, 1250, true}, // hottest cell 50 °C: half
		{50, 57, 0, 0, true},       // hottest cell 59 °C
		{50, 4.5, 1250, 2500, true},
		{50, 25, 0, 0, false},
	}
	for _, c := range cases {
		s := batState{soc: c.soc, tempC: c.temp, contactor: c.contactors, forced: -1}
		chg, dis := limits(&bp, &s)
		if math.Abs(chg-c.chg) > 0.01 || math.Abs(dis-c.dis) > 0.01 {
			t.Errorf("SOC %v %%, T %v °C, contactor %v: limits charge %v discharge %v, want %v %v",
				c.soc, c.temp, c.contactors, chg, dis, c.chg, c.dis)
		}
	}
}

func TestAlarmsAndContactor(t *testing.T) {
	bp := batParams{capKWh: 5000, cells: 240, cRate: 0.5, ambientC: 25}
	s := newBatState(&bp, 50)
	if s.level != 0 || s.word != 0 || !s.contactor {
		t.Fatalf("at rest: level %d word %b contactor %v", s.level, s.word, s.contactor)
	}
	s.soc = 96
	updateAlarms(&s)
	if s.level != 1 || s.word != AlarmSOCHigh {
		t.Errorf("SOC 96: level %d word %b, want 1 soc_high", s.level, s.word)
	}
	s.soc = 0.5
	updateElectrical(&bp, &s)
	updateAlarms(&s)
	if s.level != 2 || s.word&AlarmSOCLow == 0 || !s.contactor {
		t.Errorf("SOC 0.5: level %d word %b contactor %v, want 2, soc_low, closed", s.level, s.word, s.contactor)
	}

	s = newBatState(&bp, 50)
	s.tempC = 54 // hottest cell 56 °C
	updateAlarms(&s)
	if s.level != 3 || s.word != AlarmOverTemperature || s.contactor {
		t.Fatalf("hot: level %d word %b contactor %v, want 3, over_temperature, open", s.level, s.word, s.contactor)
	}
	// Open contactor: no power flows, the battery cools and closes again at level ≤ 1.
	for i := 0; i < 3600*3 && !s.contactor; i++ {
		stepBattery(&bp, &s, 1000, 1)
		if s.pdc != 0 {
			t.Fatal("power flows through an open contactor")
		}
	}
	if !s.contactor || s.cellTMax() >= tempHigh[1] {
		t.Errorf("after cooling: contactor %v, hottest cell %.1f °C", s.contactor, s.cellTMax())
	}

	s = newBatState(&bp, 50)
	s.forced = 3
	updateAlarms(&s)
	if s.level != 3 || s.contactor {
		t.Errorf("forced 3: level %d contactor %v", s.level, s.contactor)
	}
	s.forced = 2
	updateAlarms(&s)
	if s.level != 2 || s.contactor {
		t.Errorf("forced 2 after 3: level %d contactor %v, want 2 and still open", s.level, s.contactor)
	}
	s.forced = -1
	updateAlarms(&s)
	if s.level != 0 || !s.contactor {
		t.Errorf("back to physics: level %d contactor %v", s.level, s.contactor)
	}
}

func TestHeating(t *testing.T) {
	bp := batParams{capKWh: 1000, cells: 240, cRate: 1, ambientC: 25}
	s := newBatState(&bp, 50)
	for i := 0; i < 600; i++ {
		stepBattery(&bp, &s, 500, 1) // 0.5C for 10 min
	}
	if s.tempC <= 25.5 || s.tempC > 35 {
		t.Errorf("after 10 min at 0.5C: %.2f °C, want a few degrees above ambient", s.tempC)
	}
}

func TestInitialSOCSpread(t *testing.T) {
	near(t, "first", initialSOC(50, 10, 0, 8), 45, 1e-9)
	near(t, "last", initialSOC(50, 10, 7, 8), 55, 1e-9)
	near(t, "single", initialSOC(50, 10, 0, 1), 50, 1e-9)
	near(t, "clamped", initialSOC(98, 10, 7, 8), 100, 1e-9)
}

func TestMeterBalance(t *testing.T) {
	p, q := poiPower([]float64{1000, 500, -200}, []float64{100, 0, -50}, 1500)
	near(t, "POI P", p, -200, 1e-9)
	near(t, "POI Q", q, 50, 1e-9)
	var m meterState
	m.integrate(3600, 1)
	m.integrate(-1800, 2)
	near(t, "export kWh", m.eExport, 1, 1e-9)
	near(t, "import kWh", m.eImport, 1, 1e-9)
}

func TestFrequencySignals(t *testing.T) {
	s := steps{base: 50}
	s.steps = append(s.steps, struct {
		At time.Duration `yaml:"at"`
		Hz float64       `yaml:"hz"`
	}{time.Second, 49.8})
	near(t, "before the step", s.at(999*time.Millisecond), 50, 0)
	near(t, "at the step", s.at(time.Second), 49.8, 0)
}

// BenchmarkStep steps an 80-unit, 160-battery station once per iteration.
func BenchmarkStep(b *testing.B) {
	p := &Plant{freq: constant(50), load: constant(0)}
	for range 80 {
		u := testUnit(5000, 5000)
		u.pcs.command(0, 1000, 100)
		p.units = append(p.units, u)
	}
	b.ResetTimer()
	for i := range b.N {
		p.stepLocked(time.Duration(i+1)*5*time.Millisecond, 5*time.Millisecond)
	}
}
