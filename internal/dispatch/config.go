package dispatch

import (
	"fmt"
	"math"
	"time"
)

// Config is the static configuration of a Controller. Start from
// DefaultConfig and override; New refuses invalid values and names the field.
type Config struct {
	RatedP   float64 `json:"rated_p"`   // plant rated active power, kW
	NominalF float64 `json:"nominal_f"` // nominal frequency, Hz (50 or 60)
	RampRate float64 `json:"ramp_rate"` // base-mode ramp limit, kW/s
	MaxDt    float64 `json:"max_dt"`    // longest time step the ramps integrate over, s

	// POI limits in kW (>= 0); nil means none. They never make a POI
	// violation worse: the battery is kept from adding to an excess, but is
	// not forced to compensate for the site load (that is peak shaving).
	POIImportLimit *float64 `json:"poi_import_limit,omitempty"`
	POIExportLimit *float64 `json:"poi_export_limit,omitempty"`

	// SOC window, %: power tapers linearly from the soft to the hard limit.
	SOCMin     float64 `json:"soc_min"`
	SOCSoftMin float64 `json:"soc_soft_min"`
	SOCSoftMax float64 `json:"soc_soft_max"`
	SOCMax     float64 `json:"soc_max"`

	// Cell limits (V, °C): power tapers linearly from soft to hard.
	// High voltage and low temperature limit charging, low voltage limits
	// discharging, high temperature limits both.
	CellVHighSoft float64 `json:"cell_v_high_soft"`
	CellVHighHard float64 `json:"cell_v_high_hard"`
	CellVLowSoft  float64 `json:"cell_v_low_soft"`
	CellVLowHard  float64 `json:"cell_v_low_hard"`
	TempHighSoft  float64 `json:"temp_high_soft"`
	TempHighHard  float64 `json:"temp_high_hard"`
	TempLowSoft   float64 `json:"temp_low_soft"`
	TempLowHard   float64 `json:"temp_low_hard"`

	// Protection. DerateFactor scales both directions at alarm level 1.
	// At level 2 the stressed direction is scaled by LimitFactor and the
	// other by DerateFactor. BMSTimeout is how long BMS data may be bad
	// before the unit trips.
	DerateFactor float64       `json:"derate_factor"`
	LimitFactor  float64       `json:"limit_factor"`
	BMSTimeout   time.Duration `json:"bms_timeout"`

	// SOCBalanceGain tilts the split toward SOC balance: a unit's share is
	// multiplied by 1 ± gain·(SOC - mean SOC)/100 (floored at 0).
	SOCBalanceGain float64 `json:"soc_balance_gain"`

	// Defaults for run-time parameters.
	AGC  AGCParams  `json:"agc"`
	PFR  PFRParams  `json:"pfr"`
	Peak PeakParams `json:"peak"`
}

// DefaultConfig returns a complete configuration for a plant of the given
// rated power with LFP cell limits and GB/T 40595 frequency-response defaults.
func DefaultConfig(ratedP float64) Config {
	return Config{
		RatedP:        ratedP,
		NominalF:      50,
		RampRate:      ratedP * 0.1, // full power in 10 s
		MaxDt:         5,
		SOCMin:        5,
		SOCSoftMin:    10,
		SOCSoftMax:    90,
		SOCMax:        95,
		CellVHighSoft: 3.55, CellVHighHard: 3.65,
		CellVLowSoft: 2.90, CellVLowHard: 2.70,
		TempHighSoft: 50, TempHighHard: 55,
		TempLowSoft: 5, TempLowHard: 0,
		DerateFactor:   0.5,
		LimitFactor:    0,
		BMSTimeout:     5 * time.Second,
		SOCBalanceGain: 2,
		AGC: AGCParams{
			RampRate:      ratedP * 0.2 / 1000, // 20 % of rated per minute, MW/min
			DeadBand:      ratedP * 0.005,
			Ki:            0.2,
			IntegralLimit: ratedP * 0.1,
		},
		PFR: PFRParams{DroopPct: 2, DeadBand: 0.033},
		Peak: PeakParams{
			ImportLimit:   ratedP,
			RechargeBelow: ratedP / 2,
			RechargeP:     ratedP / 4,
			RechargeSOC:   90,
		},
	}
}

// fieldError names the offending configuration or command field.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func checkRange(field string, v, lo, hi float64) error {
	if !finite(v) || v < lo || v > hi {
		return fieldError(field, "%g is outside [%g, %g]", v, lo, hi)
	}
	return nil
}

func checkPositive(field string, v float64) error {
	if !finite(v) || v <= 0 {
		return fieldError(field, "must be a finite number > 0, got %g", v)
	}
	return nil
}

func checkNonNeg(field string, v float64) error {
	if !finite(v) || v < 0 {
		return fieldError(field, "must be a finite number >= 0, got %g", v)
	}
	return nil
}

func checkOrder(loName string, lo float64, hiName string, hi float64) error {
	if !(lo < hi) {
		return fieldError(hiName, "must be greater than %s (%g), got %g", loName, lo, hi)
	}
	return nil
}

// Validate checks every field and returns the first problem, naming the field.
func (c *Config) Validate() error {
	for _, check := range [...]func() error{c.validatePlant, c.validateSOC, c.validateCell,
		c.validateProtection, c.validateParams} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// validatePlant checks the plant rating, frequency, ramp and POI limits.
func (c *Config) validatePlant() error {
	if err := checkPositive("rated_p", c.RatedP); err != nil {
		return err
	}
	if c.NominalF != 50 && c.NominalF != 60 {
		return fieldError("nominal_f", "must be 50 or 60, got %g", c.NominalF)
	}
	if err := checkPositive("ramp_rate", c.RampRate); err != nil {
		return err
	}
	if err := checkRange("max_dt", c.MaxDt, 0.001, 60); err != nil {
		return err
	}
	if c.POIImportLimit != nil {
		if err := checkNonNeg("poi_import_limit", *c.POIImportLimit); err != nil {
			return err
		}
	}
	if c.POIExportLimit != nil {
		if err := checkNonNeg("poi_export_limit", *c.POIExportLimit); err != nil {
			return err
		}
	}
	return nil
}

// validateSOC checks the SOC window: 0 <= min <= soft min < soft max <= max <= 100.
func (c *Config) validateSOC() error {
	for _, f := range []struct {
		n string
		v float64
	}{{"soc_min", c.SOCMin}, {"soc_soft_min", c.SOCSoftMin}, {"soc_soft_max", c.SOCSoftMax}, {"soc_max", c.SOCMax}} {
		if err := checkRange(f.n, f.v, 0, 100); err != nil {
			return err
		}
	}
	if c.SOCSoftMin < c.SOCMin {
		return fieldError("soc_soft_min", "must be >= soc_min (%g), got %g", c.SOCMin, c.SOCSoftMin)
	}
	if err := checkOrder("soc_soft_min", c.SOCSoftMin, "soc_soft_max", c.SOCSoftMax); err != nil {
		return err
	}
	if c.SOCMax < c.SOCSoftMax {
		return fieldError("soc_max", "must be >= soc_soft_max (%g), got %g", c.SOCSoftMax, c.SOCMax)
	}
	return nil
}

// validateCell checks the cell voltage and temperature tapers.
func (c *Config) validateCell() error {
	for _, p := range []struct {
		ln   string
		l    float64
		hn   string
		h    float64
		span [2]float64
	}{
		{"cell_v_high_soft", c.CellVHighSoft, "cell_v_high_hard", c.CellVHighHard, [2]float64{0.5, 6}},
		{"cell_v_low_hard", c.CellVLowHard, "cell_v_low_soft", c.CellVLowSoft, [2]float64{0.5, 6}},
		{"temp_high_soft", c.TempHighSoft, "temp_high_hard", c.TempHighHard, [2]float64{-60, 120}},
		{"temp_low_hard", c.TempLowHard, "temp_low_soft", c.TempLowSoft, [2]float64{-60, 120}},
	} {
		if err := checkRange(p.ln, p.l, p.span[0], p.span[1]); err != nil {
			return err
		}
		if err := checkRange(p.hn, p.h, p.span[0], p.span[1]); err != nil {
			return err
		}
		if err := checkOrder(p.ln, p.l, p.hn, p.h); err != nil {
			return err
		}
	}
	if err := checkOrder("cell_v_low_soft", c.CellVLowSoft, "cell_v_high_soft", c.CellVHighSoft); err != nil {
		return err
	}
	return checkOrder("temp_low_soft", c.TempLowSoft, "temp_high_soft", c.TempHighSoft)
}

// validateProtection checks the protection factors and timeout and the SOC balance gain.
func (c *Config) validateProtection() error {
	if err := checkRange("derate_factor", c.DerateFactor, 0, 1); err != nil {
		return err
	}
	if err := checkRange("limit_factor", c.LimitFactor, 0, c.DerateFactor); err != nil {
		return err
	}
	if c.BMSTimeout <= 0 {
		return fieldError("bms_timeout", "must be > 0, got %v", c.BMSTimeout)
	}
	return checkRange("soc_balance_gain", c.SOCBalanceGain, 0, 10)
}

// validateParams checks the run-time parameter defaults.
func (c *Config) validateParams() error {
	if err := c.AGC.validate(c.RatedP); err != nil {
		return fmt.Errorf("agc.%w", err)
	}
	if err := c.PFR.validate(c.RatedP); err != nil {
		return fmt.Errorf("pfr.%w", err)
	}
	if err := c.Peak.Validate(); err != nil {
		return fmt.Errorf("peak.%w", err)
	}
	return nil
}
