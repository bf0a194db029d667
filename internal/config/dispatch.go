package config

import (
	"strings"
	"time"
	"unicode"

	"github.com/emsd/emsd/internal/dispatch"
)

// Dispatch sets the control brain. Every key is optional; the defaults are
// those of dispatch.DefaultConfig for the site's rated power.
type Dispatch struct {
	// Mode is the base mode at start: standby, manual, schedule,
	// peak_shaving or agc. Default standby.
	Mode string `yaml:"mode"`
	// RampKWPerS limits the base mode's slope. Default 10 % of rated P per s.
	RampKWPerS float64 `yaml:"ramp_kw_per_s"`
	// SOCSoftMinPct and SOCSoftMaxPct start the taper towards the hard SOC
	// window (control.soc_min_pct/soc_max_pct). Default hard ± 5.
	SOCSoftMinPct float64 `yaml:"soc_soft_min_pct"`
	SOCSoftMaxPct float64 `yaml:"soc_soft_max_pct"`
	// Cell sets the cell voltage and temperature tapers.
	Cell CellLimits `yaml:"cell"`
	// DerateFactor scales unit limits at BMS alarm level 1. Default 0.5.
	DerateFactor *float64 `yaml:"derate_factor"`
	// LimitFactor scales the stressed direction at alarm level 2. Default 0.
	LimitFactor *float64 `yaml:"limit_factor"`
	// BMSTimeout trips a unit whose BMS data has been bad this long. Default 5s.
	BMSTimeout time.Duration `yaml:"bms_timeout"`
	// SOCBalanceGain tilts the split towards SOC balance. Default 2.
	SOCBalanceGain *float64 `yaml:"soc_balance_gain"`
	// FrequencyResponse is primary frequency response (一次调频).
	FrequencyResponse PFR `yaml:"frequency_response"`
	// AGC sets tracking of grid-operator targets.
	AGC AGC `yaml:"agc"`
	// PeakShaving sets the C&I peak-shaving mode.
	PeakShaving Peak `yaml:"peak_shaving"`
}

// CellLimits are soft and hard cell limits (V, °C); zero keeps the default.
type CellLimits struct {
	VHighSoft float64  `yaml:"v_high_soft"`
	VHighHard float64  `yaml:"v_high_hard"`
	VLowSoft  float64  `yaml:"v_low_soft"`
	VLowHard  float64  `yaml:"v_low_hard"`
	THighSoft float64  `yaml:"t_high_soft"`
	THighHard float64  `yaml:"t_high_hard"`
	TLowSoft  float64  `yaml:"t_low_soft"`
	TLowHard  *float64 `yaml:"t_low_hard"`
}

// PFR is primary frequency response.
type PFR struct {
	// Enabled turns the overlay on at start. Default false.
	Enabled bool `yaml:"enabled"`
	// DroopPct is the droop, 0.5..5 %. Default 2 (GB/T 40595).
	DroopPct float64 `yaml:"droop_pct"`
	// DeadBandHz is the dead band. Default 0.033 Hz.
	DeadBandHz float64 `yaml:"dead_band_hz"`
	// LimitKW caps the response; 0 is none, else at least 20 % of rated P.
	LimitKW float64 `yaml:"limit_kw"`
	// ReserveKW is headroom kept free of the base mode in each direction.
	ReserveKW float64 `yaml:"reserve_kw"`
}

// AGC sets target tracking.
type AGC struct {
	// RampMWPerMin limits the target's slope. Default 20 % of rated per minute.
	RampMWPerMin float64 `yaml:"ramp_mw_per_min"`
	// DeadBandKW ignores smaller target changes. Default 0.5 % of rated.
	DeadBandKW *float64 `yaml:"dead_band_kw"`
	// Ki is the POI integral trim gain, 1/s. Default 0.2.
	Ki *float64 `yaml:"ki"`
	// IntegralLimitKW clamps the trim. Default 10 % of rated.
	IntegralLimitKW float64 `yaml:"integral_limit_kw"`
}

// Peak sets peak shaving.
type Peak struct {
	// ImportLimitKW is the POI import to stay at or below. Default rated P.
	ImportLimitKW *float64 `yaml:"import_limit_kw"`
	// RechargeBelowKW: recharge while import is below this. Default rated/2.
	RechargeBelowKW *float64 `yaml:"recharge_below_kw"`
	// RechargeKW is the recharge power. Default rated/4.
	RechargeKW *float64 `yaml:"recharge_kw"`
	// RechargeSOCPct is the SOC to recharge up to. Default 90.
	RechargeSOCPct float64 `yaml:"recharge_soc_pct"`
	// ExportLimitKW, if set, keeps export at or below it (anti-backflow).
	ExportLimitKW *float64 `yaml:"export_limit_kw"`
	// MarginKW is a guard band the controller keeps below the import limit,
	// against meter and converter lag on fast load changes. Default 0.
	MarginKW float64 `yaml:"margin_kw"`
}

// DispatchConfig builds the controller's configuration from the defaults
// and the file's settings.
func (c *Config) DispatchConfig() dispatch.Config {
	d := &c.Dispatch
	dc := dispatch.DefaultConfig(c.Site.RatedPKW)
	dc.NominalF = c.Site.NominalHz
	imp, exp := c.Site.POI.ImportLimitKW, c.Site.POI.ExportLimitKW
	dc.POIImportLimit, dc.POIExportLimit = &imp, &exp
	dc.SOCMin, dc.SOCMax = c.Control.SOCMinPct, c.Control.SOCMaxPct
	dc.SOCSoftMin, dc.SOCSoftMax = dc.SOCMin+5, dc.SOCMax-5
	set := func(dst *float64, v float64) {
		if v != 0 {
			*dst = v
		}
	}
	setP := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&dc.RampRate, d.RampKWPerS)
	set(&dc.SOCSoftMin, d.SOCSoftMinPct)
	set(&dc.SOCSoftMax, d.SOCSoftMaxPct)
	set(&dc.CellVHighSoft, d.Cell.VHighSoft)
	set(&dc.CellVHighHard, d.Cell.VHighHard)
	set(&dc.CellVLowSoft, d.Cell.VLowSoft)
	set(&dc.CellVLowHard, d.Cell.VLowHard)
	set(&dc.TempHighSoft, d.Cell.THighSoft)
	set(&dc.TempHighHard, d.Cell.THighHard)
	set(&dc.TempLowSoft, d.Cell.TLowSoft)
	setP(&dc.TempLowHard, d.Cell.TLowHard)
	setP(&dc.DerateFactor, d.DerateFactor)
	setP(&dc.LimitFactor, d.LimitFactor)
	if d.BMSTimeout != 0 {
		dc.BMSTimeout = d.BMSTimeout
	}
	setP(&dc.SOCBalanceGain, d.SOCBalanceGain)
	set(&dc.PFR.DroopPct, d.FrequencyResponse.DroopPct)
	set(&dc.PFR.DeadBand, d.FrequencyResponse.DeadBandHz)
	dc.PFR.Limit = d.FrequencyResponse.LimitKW
	dc.PFR.Reserve = d.FrequencyResponse.ReserveKW
	set(&dc.AGC.RampRate, d.AGC.RampMWPerMin)
	setP(&dc.AGC.DeadBand, d.AGC.DeadBandKW)
	setP(&dc.AGC.Ki, d.AGC.Ki)
	set(&dc.AGC.IntegralLimit, d.AGC.IntegralLimitKW)
	setP(&dc.Peak.ImportLimit, d.PeakShaving.ImportLimitKW)
	setP(&dc.Peak.RechargeBelow, d.PeakShaving.RechargeBelowKW)
	setP(&dc.Peak.RechargeP, d.PeakShaving.RechargeKW)
	set(&dc.Peak.RechargeSOC, d.PeakShaving.RechargeSOCPct)
	dc.Peak.ExportLimit = d.PeakShaving.ExportLimitKW
	dc.Peak.Margin = d.PeakShaving.MarginKW
	return dc
}

// dispatchKeys maps the controller's field names to this file's keys, so
// that a refusal by the controller names the key the user wrote.
var dispatchKeys = map[string]string{
	"rated_p": "site.rated_p_kw", "nominal_f": "site.nominal_hz",
	"poi_import_limit": "site.poi.import_limit_kw", "poi_export_limit": "site.poi.export_limit_kw",
	"ramp_rate": "dispatch.ramp_kw_per_s", "soc_min": "control.soc_min_pct", "soc_max": "control.soc_max_pct",
	"soc_soft_min": "dispatch.soc_soft_min_pct", "soc_soft_max": "dispatch.soc_soft_max_pct",
	"cell_v_high_soft": "dispatch.cell.v_high_soft", "cell_v_high_hard": "dispatch.cell.v_high_hard",
	"cell_v_low_soft": "dispatch.cell.v_low_soft", "cell_v_low_hard": "dispatch.cell.v_low_hard",
	"temp_high_soft": "dispatch.cell.t_high_soft", "temp_high_hard": "dispatch.cell.t_high_hard",
	"temp_low_soft": "dispatch.cell.t_low_soft", "temp_low_hard": "dispatch.cell.t_low_hard",
	"derate_factor": "dispatch.derate_factor", "limit_factor": "dispatch.limit_factor",
	"bms_timeout": "dispatch.bms_timeout", "soc_balance_gain": "dispatch.soc_balance_gain",
	"pfr.droop_pct": "dispatch.frequency_response.droop_pct", "pfr.dead_band": "dispatch.frequency_response.dead_band_hz",
	"pfr.limit": "dispatch.frequency_response.limit_kw", "pfr.reserve": "dispatch.frequency_response.reserve_kw",
	"agc.ramp_rate": "dispatch.agc.ramp_mw_per_min", "agc.dead_band": "dispatch.agc.dead_band_kw",
	"agc.ki": "dispatch.agc.ki", "agc.integral_limit": "dispatch.agc.integral_limit_kw",
	"peak.import_limit": "dispatch.peak_shaving.import_limit_kw", "peak.recharge_below": "dispatch.peak_shaving.recharge_below_kw",
	"peak.recharge_p": "dispatch.peak_shaving.recharge_kw", "peak.recharge_soc": "dispatch.peak_shaving.recharge_soc_pct",
	"peak.export_limit": "dispatch.peak_shaving.export_limit_kw", "peak.margin": "dispatch.peak_shaving.margin_kw",
}

func (c *Config) validateDispatch(k *checker) {
	if m := c.Dispatch.Mode; m != "" && !dispatch.Mode(m).Valid() {
		k.bad("dispatch.mode", "%q is not one of standby, manual, schedule, peak_shaving, agc", m)
	}
	if len(k.errs) > 0 {
		return // the controller's cross-checks would only repeat errors reported already
	}
	dc := c.DispatchConfig()
	err := dc.Validate()
	if err == nil {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		field, msg, ok := strings.Cut(line, ": ")
		path, known := dispatchKeys[field]
		if !ok || !known {
			k.bad("dispatch", "%s", line)
			continue
		}
		if at := k.blame(field, path, msg); at != path {
			k.bad(at, "with this value, the default of %s fails: %s", path, msg)
			continue
		}
		k.bad(path, "%s", msg)
	}
}

// derivedFrom names the key whose value sets another key's default.
var derivedFrom = map[string]string{
	"dispatch.soc_soft_min_pct": "control.soc_min_pct",
	"dispatch.soc_soft_max_pct": "control.soc_max_pct",
}

// blame returns the key the user wrote behind the controller's refusal of
// field (key path): path itself if written, else the key its default
// derives from, else a written key among the fields msg compares it with.
func (k *checker) blame(field, path, msg string) string {
	cands := []string{path, derivedFrom[path]}
	group, _, _ := strings.Cut(field, ".")
	for _, w := range strings.FieldsFunc(msg, func(r rune) bool { return !unicode.IsLetter(r) && r != '_' && r != '.' }) {
		for _, f := range []string{w, group + "." + w} {
			if p, ok := dispatchKeys[f]; ok {
				cands = append(cands, p, derivedFrom[p])
			}
		}
	}
	for _, c := range cands {
		if k.written(c) {
			return c
		}
	}
	return path
}
