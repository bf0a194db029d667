package sim

import (
	"math"
	"sort"
)

// Alarm-word bits of the simulated BMS (as in the sim-bms profile).
const (
	AlarmCellOverVoltage  = 1 << 0
	AlarmCellUnderVoltage = 1 << 1
	AlarmOverTemperature  = 1 << 2
	AlarmUnderTemperature = 1 << 3
	AlarmSOCHigh          = 1 << 4
	AlarmSOCLow           = 1 << 5
)

// Battery model constants.
const (
	// irDropAt1C is the cell voltage drop at a 1C current, V.
	irDropAt1C = 0.05
	// cellImbalancePct is how far the highest and lowest cell's SOC sit
	// from the pack SOC, %.
	cellImbalancePct = 1.0
	// cellVSpread is a fixed extra spread of the extreme cells, V.
	cellVSpread = 0.003
	// thermalTauS is the time constant of cooling towards ambient, s.
	thermalTauS = 1800.0
	// heatPerC2 is the heating rate at a 1C current, °C/s (scales with I²).
	heatPerC2 = 0.02
	// cellTSpread is how far the hottest and coldest cell sit from the mean, °C.
	cellTSpread = 2.0
	// sohPct is the reported state of health.
	sohPct = 100.0
	// nominalCellV converts capacity to ampere-hours.
	nominalCellV = 3.2
)

// Alarm thresholds: levels 1, 2, 3 of each quantity (see the package doc).
var (
	cellVHigh = [3]float64{3.50, 3.60, 3.65} // V, ≥
	cellVLow  = [3]float64{3.00, 2.80, 2.60} // V, ≤
	tempHigh  = [3]float64{45, 50, 55}       // °C, ≥ (hottest cell)
	tempLow   = [3]float64{5, 0, -10}        // °C, ≤ (coldest cell)
	socHigh   = [2]float64{95, 99}           // %, ≥ (levels 1, 2)
	socLow    = [2]float64{5, 1}             // %, ≤ (levels 1, 2)
)

// ocvTable is the open-circuit voltage of an LFP cell against SOC.
var ocvTable = [][2]float64{
	{0, 2.90}, {2, 3.02}, {5, 3.12}, {10, 3.20}, {20, 3.25}, {30, 3.27},
	{40, 3.285}, {50, 3.295}, {60, 3.305}, {70, 3.315}, {80, 3.33},
	{90, 3.35}, {95, 3.37}, {98, 3.40}, {100, 3.45},
}

// ocv is the open-circuit cell voltage at soc (%), interpolated linearly.
func ocv(soc float64) float64 {
	soc = clamp(soc, 0, 100)
	i := sort.Search(len(ocvTable), func(i int) bool { return ocvTable[i][0] >= soc })
	if i == 0 {
		return ocvTable[0][1]
	}
	a, b := ocvTable[i-1], ocvTable[i]
	return a[1] + (b[1]-a[1])*(soc-a[0])/(b[0]-a[0])
}

// batParams are a battery container's fixed parameters.
type batParams struct {
	capKWh   float64
	cells    int
	cRate    float64
	ambientC float64
	// timeScale runs battery time (SOC and temperature) this many times
	// faster than the plant's clock; 0 or 1 is real time.
	timeScale float64
}

// oneC is the current of a 1C discharge, A.
func (bp *batParams) oneC() float64 {
	return bp.capKWh * 1000 / (float64(bp.cells) * nominalCellV)
}

// batState is a battery container's mutable state.
type batState struct {
	soc       float64 // %
	tempC     float64 // mean cell temperature
	pdc       float64 // kW, + discharge
	i         float64 // A, + discharge
	v         float64 // pack V
	cellVMax  float64
	cellVMin  float64
	forced    int // forced alarm level, -1 none
	contactor bool
	level     int    // reported alarm level
	word      uint16 // alarm word
}

func newBatState(bp *batParams, soc float64) batState {
	s := batState{soc: soc, tempC: bp.ambientC, forced: -1, contactor: true}
	updateElectrical(bp, &s)
	updateAlarms(&s)
	return s
}

// canDischarge and canCharge say whether the battery can take its share.
func (s *batState) canDischarge() bool { return s.contactor && s.soc > 0 }
func (s *batState) canCharge() bool    { return s.contactor && s.soc < 100 }

// stepBattery integrates DC power pdc (kW, + discharge) over dt seconds:
// SOC, then current, voltages, temperature and alarms.
func stepBattery(bp *batParams, s *batState, pdc, dt float64) {
	if bp.timeScale > 1 {
		dt *= bp.timeScale
	}
	if !s.contactor {
		pdc = 0
	}
	s.pdc = pdc
	s.soc = clamp(s.soc-pdc*dt/3600/bp.capKWh*100, 0, 100)
	updateElectrical(bp, s)
	c := s.i / bp.oneC()
	s.tempC += ((bp.ambientC-s.tempC)/thermalTauS + heatPerC2*c*c) * dt
	updateAlarms(s)
}

// updateElectrical sets current and voltages from SOC and DC power.
func updateElectrical(bp *batParams, s *batState) {
	v := s.v
	if v <= 0 {
		v = float64(bp.cells) * ocv(s.soc)
	}
	s.i = s.pdc * 1000 / v
	drop := irDropAt1C * s.i / bp.oneC() // + on discharge
	s.v = float64(bp.cells) * (ocv(s.soc) - drop)
	s.cellVMax = ocv(s.soc+cellImbalancePct) - drop + cellVSpread
	s.cellVMin = ocv(s.soc-cellImbalancePct) - drop*1.1 - cellVSpread
}

func (s *batState) cellTMax() float64 { return s.tempC + cellTSpread }
func (s *batState) cellTMin() float64 { return s.tempC - cellTSpread }

// physicsAlarms is the alarm level and word the measurements call for.
func physicsAlarms(s *batState) (int, uint16) {
	level := 0
	var word uint16
	check := func(bit uint16, lv int) {
		if lv > 0 {
			word |= bit
			level = max(level, lv)
		}
	}
	check(AlarmCellOverVoltage, levelAbove(s.cellVMax, cellVHigh[:]))
	check(AlarmCellUnderVoltage, levelBelow(s.cellVMin, cellVLow[:]))
	check(AlarmOverTemperature, levelAbove(s.cellTMax(), tempHigh[:]))
	check(AlarmUnderTemperature, levelBelow(s.cellTMin(), tempLow[:]))
	check(AlarmSOCHigh, levelAbove(s.soc, socHigh[:]))
	check(AlarmSOCLow, levelBelow(s.soc, socLow[:]))
	return level, word
}

func levelAbove(v float64, th []float64) int {
	n := 0
	for i, t := range th {
		if v >= t {
			n = i + 1
		}
	}
	return n
}

func levelBelow(v float64, th []float64) int {
	n := 0
	for i, t := range th {
		if v <= t {
			n = i + 1
		}
	}
	return n
}

// updateAlarms sets the reported level and word and operates the
// contactor: it opens at level 3 (physics or forced) and closes again only
// once no alarm of level 1..3 is forced and physics is back at level ≤ 1.
func updateAlarms(s *batState) {
	lv, word := physicsAlarms(s)
	s.level, s.word = lv, word
	if s.forced >= 0 {
		s.level = s.forced
	}
	switch {
	case lv >= 3 || s.forced >= 3:
		s.contactor = false
	case !s.contactor && s.forced <= 0 && lv <= 1:
		s.contactor = true
	}
}

// limits are the BMS's dynamic charge and discharge power limits, kW:
// capacity × C-rate, derated linearly below 10 % SOC (discharge) and above
// 90 % (charge), above 45 °C (both, 0 at 55 °C), below 5 °C (charge, 0 at
// 0 °C) and below -10 °C (discharge, 0 at -20 °C). Both are 0 while the
// contactor is open.
func limits(bp *batParams, s *batState) (chargeKW, dischargeKW float64) {
	if !s.contactor {
		return 0, 0
	}
	base := bp.capKWh * bp.cRate
	hot := clamp01((55 - s.cellTMax()) / 10)
	dis := base * clamp01(s.soc/10) * hot * clamp01((s.cellTMin()+20)/10)
	chg := base * clamp01((100-s.soc)/10) * hot * clamp01(s.cellTMin()/5)
	return round3(chg), round3(dis)
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// initialSOC spreads the configured SOC deterministically over n
// batteries: battery k of n gets soc + spread·(k/(n-1) - 1/2).
func initialSOC(soc, spread float64, k, n int) float64 {
	if n <= 1 {
		return clamp(soc, 0, 100)
	}
	return clamp(soc+spread*(float64(k)/float64(n-1)-0.5), 0, 100)
}
