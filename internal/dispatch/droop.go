package dispatch

// DroopParams is everything Droop needs; it is a plain value so the
// runtime's event-driven fast path can recompute on every frequency reading.
type DroopParams struct {
	RatedP   float64 // plant rated power, kW
	NominalF float64 // Hz
	DroopPct float64 // droop, % (0.5..5)
	DeadBand float64 // dead band half-width, Hz
	Limit    float64 // max |ΔP|, kW; 0 = no limit
}

// Droop returns the primary frequency response ΔP in kW for frequency f:
// ΔP/P_rated = -(Δf beyond the dead band / f_nominal) / droop.
// It is zero inside the dead band, positive (discharge) for low frequency
// and negative (charge) for high frequency, and clipped to ±Limit when set.
// Degenerate parameters (droop or nominal frequency <= 0, a negative or NaN
// dead band) and a non-finite f give 0.
func Droop(f float64, p DroopParams) float64 {
	if p.DroopPct <= 0 || p.NominalF <= 0 || !finite(f) || !(p.DeadBand >= 0) {
		return 0
	}
	df := f - p.NominalF
	df -= clamp(df, -p.DeadBand, p.DeadBand) // what lies beyond the dead band
	if df == 0 {
		return 0
	}
	dp := -(df / p.NominalF) / (p.DroopPct / 100) * p.RatedP
	if p.Limit > 0 {
		dp = clamp(dp, -p.Limit, p.Limit)
	}
	return dp
}

// PFRParams are the operator-settable primary frequency response parameters.
type PFRParams struct {
	DroopPct float64 `json:"droop_pct"` // 0.5..5 %
	DeadBand float64 `json:"dead_band"` // Hz, 0..0.5
	Limit    float64 `json:"limit"`     // kW; 0 = none, else >= 20 % of rated
	Reserve  float64 `json:"reserve"`   // kW of headroom in each direction the base mode may not use
}

func (p *PFRParams) validate(ratedP float64) error {
	if err := checkRange("droop_pct", p.DroopPct, 0.5, 5); err != nil {
		return err
	}
	if err := checkRange("dead_band", p.DeadBand, 0, 0.5); err != nil {
		return err
	}
	if err := checkNonNeg("limit", p.Limit); err != nil {
		return err
	}
	if p.Limit > 0 && p.Limit < 0.2*ratedP { // ratedP 0 (no plant): never, the limit is >= 0
		return fieldError("limit", "%g kW is below 20 %% of rated power (%g kW)", p.Limit, 0.2*ratedP)
	}
	if err := checkNonNeg("reserve", p.Reserve); err != nil {
		return err
	}
	if ratedP > 0 && p.Reserve > ratedP {
		return fieldError("reserve", "%g kW exceeds rated power %g kW", p.Reserve, ratedP)
	}
	return nil
}

// clamp limits v to [lo, hi] (lo <= hi; a NaN v stays NaN).
func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }

// approach moves v toward target by at most step (step >= 0).
func approach(v, target, step float64) float64 { return clamp(target, v-step, v+step) }
