package kpi

import (
	"errors"
	"math"
)

// AGCParams sets how AGC commands are scored. Fractions are of Pe.
type AGCParams struct {
	Pe          float64 // rated power, in the unit of the series (e.g. MW)
	Vn          float64 // standard ramp rate, fraction of Pe per minute (North China 0.015)
	A           float64 // accuracy allowance a, fraction of Pe (North China 0.015, Mengxi 0.008)
	T           float64 // response-time constant in s (North China 20, Mengxi 60)
	Band        float64 // "left the old command" / "arrived" band, fraction of Pe (0.01)
	Threshold   float64 // a command counts if it moves more than this from the previous one (0.01)
	MinDuration float64 // commands lasting this long or less (s) are discarded (Mengxi 30, else 0)
	Mengxi      bool    // K1 = V/Vn, reset to 0.1 above 4.2, instead of max(0.1, 2 - Vn/V)
}

// NorthChinaAGC returns the North China parameters for rated power pe:
// Vn 1.5 % Pe/min, a 1.5 %, T 20 s, band and threshold 1 % Pe.
func NorthChinaAGC(pe float64) AGCParams {
	return AGCParams{Pe: pe, Vn: 0.015, A: 0.015, T: 20, Band: 0.01, Threshold: 0.01}
}

// MengxiAGC returns the Mengxi variant for rated power pe: K1 = V/Vn (0.1
// above 4.2), a 0.8 %, T 60 s, commands of 30 s or less discarded. Vn, band
// and threshold are as in North China.
func MengxiAGC(pe float64) AGCParams {
	p := NorthChinaAGC(pe)
	p.A, p.T, p.MinDuration, p.Mengxi = 0.008, 60, 30, true
	return p
}

// AGCCommand is the scoring of one AGC command. Times are absolute (the
// time base of the input series); NaN marks a time that was never reached.
type AGCCommand struct {
	Start, End   float64 // command time; next counted command or end of record
	From, To     float64 // previous and new command
	LeaveTime    float64 // output left the band around From towards To
	ArriveTime   float64 // output reached the band around To
	ResponseTime float64 // t_resp = LeaveTime - Start
	Rate         float64 // V in units of Pe's unit per minute; +Inf if instantaneous
	RateMeasured bool    // false when the bands overlap (|To-From| <= 2·Band·Pe) or no arrival
	MeanError    float64 // ΔP: mean |To - P| over measured samples after arrival
	K1, K2, K3   float64
	Kp           float64 // K1·K2·K3, at most 8
}

// AGCResult holds the scored commands and their mean indices (all 0 when
// no command was scored).
type AGCResult struct {
	Commands                       []AGCCommand
	Discarded                      int // commands dropped for lasting MinDuration or less
	MeanK1, MeanK2, MeanK3, MeanKp float64
}

// AGCScore scores how the measured output (measT, meas) follows the AGC
// commands (cmdT, cmd), both in the unit of p.Pe.
//
// Commands are held from one sample to the next. The first command sample
// is the initial set point and is not scored; a later sample starts a new
// command when it differs from the current command by more than
// Threshold·Pe. A command ends at the next one, or at the last measured
// sample; it is discarded if that takes MinDuration or less. With b =
// Band·Pe and the output taken as piecewise linear between samples:
//
//   - LeaveTime: first time after Start that the output is beyond From + b
//     in the direction of To (From - b when going down).
//   - ArriveTime: first time after Start that the output reaches the near
//     edge of the band around To (To - b going up, To + b going down).
//   - V: the distance between those two band edges, |To - From| - 2b, over
//     ArriveTime - LeaveTime, per minute. When the bands overlap V is not
//     measurable and K1 is set to 1 (neutral).
//   - ΔP: mean |To - P| over the measured samples in [ArriveTime, End).
//   - t_resp = LeaveTime - Start.
//
// K1 = max(0.1, 2 - Vn·Pe/V) (Mengxi: V/(Vn·Pe), 0.1 above 4.2, not floored
// below), K2 = max(0.1, 2 - ΔP/(A·Pe)), K3 = max(0.1, 2 - t_resp/T),
// Kp = min(8, K1·K2·K3). An output that never leaves the old band gets
// K3 = 0.1; one that never arrives gets K1 = K2 = 0.1.
func AGCScore(cmdT, cmd, measT, meas []float64, p AGCParams) (AGCResult, error) {
	if err := checkSeries("command", cmdT, cmd); err != nil {
		return AGCResult{}, err
	}
	if err := checkSeries("measured", measT, meas); err != nil {
		return AGCResult{}, err
	}
	if !(p.Pe > 0 && p.Vn > 0 && p.A > 0 && p.T > 0 && p.Band > 0 && p.Threshold >= 0 && p.MinDuration >= 0) {
		return AGCResult{}, errors.New("kpi: AGC parameters must be positive (Threshold, MinDuration non-negative)")
	}
	type change struct{ t, from, to float64 }
	var changes []change
	cur := cmd[0]
	for i := 1; i < len(cmd); i++ {
		if math.Abs(cmd[i]-cur) > p.Threshold*p.Pe {
			changes = append(changes, change{cmdT[i], cur, cmd[i]})
			cur = cmd[i]
		}
	}
	var res AGCResult
	tEnd := measT[len(measT)-1]
	for i, c := range changes {
		end := tEnd
		if i+1 < len(changes) {
			end = math.Min(end, changes[i+1].t)
		}
		if end <= c.t {
			break // no measurement left
		}
		if end-c.t <= p.MinDuration {
			res.Discarded++
			continue
		}
		res.Commands = append(res.Commands, scoreCommand(measT, meas, c.t, end, c.from, c.to, p))
	}
	if n := float64(len(res.Commands)); n > 0 {
		for _, c := range res.Commands {
			res.MeanK1 += c.K1 / n
			res.MeanK2 += c.K2 / n
			res.MeanK3 += c.K3 / n
			res.MeanKp += c.Kp / n
		}
	}
	return res, nil
}

func scoreCommand(t, v []float64, start, end, from, to float64, p AGCParams) AGCCommand {
	b := p.Band * p.Pe
	dir := sign(to - from)
	c := AGCCommand{Start: start, End: end, From: from, To: to,
		LeaveTime: math.NaN(), ArriveTime: math.NaN(), ResponseTime: math.NaN(),
		MeanError: math.NaN(), K1: 0.1, K2: 0.1, K3: 0.1}
	left := false
	if tl, ok := crossing(t, v, start, end, from+dir*b, dir); ok {
		left = true
		c.LeaveTime, c.ResponseTime = tl, tl-start
		c.K3 = math.Max(0.1, 2-c.ResponseTime/p.T)
	}
	if ta, ok := crossing(t, v, start, end, to-dir*b, dir); ok {
		c.ArriveTime = ta
		var sum float64
		w := window(t, v, ta, end)
		for _, x := range w {
			sum += math.Abs(to - x)
		}
		c.MeanError = sum / float64(len(w))
		c.K2 = math.Max(0.1, 2-c.MeanError/(p.A*p.Pe))
		c.K1 = 1
		if dist := math.Abs(to-from) - 2*b; left && dist > 0 {
			c.RateMeasured = true
			c.Rate = math.Inf(1)
			if dt := ta - c.LeaveTime; dt > 0 {
				c.Rate = dist / dt * 60
			}
			vn := p.Vn * p.Pe
			if p.Mengxi {
				c.K1 = c.Rate / vn
				if c.K1 > 4.2 {
					c.K1 = 0.1
				}
			} else {
				c.K1 = math.Max(0.1, 2-vn/c.Rate)
			}
		}
	}
	c.Kp = math.Min(8, c.K1*c.K2*c.K3)
	return c
}
