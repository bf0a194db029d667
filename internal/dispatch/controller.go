package dispatch

import (
	"fmt"
	"math"
	"time"

	"github.com/emsd/emsd/internal/reactive"
)

// Controller holds all dispatch state between cycles: the active mode and
// its parameters, ramp and integrator states, protection latches, timers and
// reusable buffers. It is not safe for concurrent use; the runtime calls
// Apply and Step from one goroutine (or under one lock).
type Controller struct {
	cfg                  Config
	importLim, exportLim float64 // +Inf when not set

	mode        Mode
	modeChanged bool
	params      params // what the modes and overlays run on, set by Apply

	// Mode and overlay state, kept by Step: c.agc runs on c.params.agc,
	// c.ffr on c.params.ffr. Manual, schedule, peak shaving and PFR keep none.
	agc  agcState
	ffr  ffrState
	site siteLoad       // the site-load feed-forward of AGC
	volt reactive.State // the voltage loop, on c.params.reactive

	estop, estopNew bool
	resetAll        bool
	resetIDs        []string

	started   bool
	last      time.Time
	rampState float64 // base-mode output the ramp limiter starts from, kW
	satHi     bool    // last output was cut below the request
	satLo     bool    // last output was cut above the request
	lastOver  float64 // overlay power (PFR+FFR) delivered last cycle, kW

	// per-unit state and buffers, indexed like Input.Units
	ids    []string
	states []State
	lost   []bool // PCS data not good and not held last cycle
	shares []Share
	pbuf   []float64
	qbuf   []float64
	hbuf   []float64 // reactive headroom, kvar
	events []Event
}

// params are the run-time parameters of the base modes and the overlays,
// each named for its mode; operators set them with commands.
type params struct {
	manual ManualSetpoint
	sched  *schedule // nil until a schedule is uploaded
	peak   PeakParams
	agc    AGCParams
	pfr    PFRParams
	pfrOn  bool
	ffr    FFRParams
	ffrOn  bool
	// reactive is the Q mode; off leaves Q to the manual setpoint.
	reactive reactive.Params
}

// New validates cfg and returns a Controller in standby with frequency
// response disabled and the config's run-time parameter defaults.
func New(cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dispatch config: %w", err)
	}
	c := &Controller{cfg: cfg, mode: ModeStandby,
		params:    params{agc: cfg.AGC, pfr: cfg.PFR, peak: cfg.Peak, reactive: reactive.Params{Mode: reactive.ModeOff}},
		importLim: math.Inf(1), exportLim: math.Inf(1)}
	if cfg.POIImportLimit != nil {
		c.importLim = *cfg.POIImportLimit
	}
	if cfg.POIExportLimit != nil {
		c.exportLim = *cfg.POIExportLimit
	}
	return c, nil
}

// Rebase makes the next Step start from the plant as measured, as the
// first Step does: the ramp limiter starts from the units' measured output
// instead of what this controller last ordered. A standby of a hot-standby
// pair calls it when it becomes the active controller, since its own
// orders were never written.
func (c *Controller) Rebase() { c.started = false }

// Mode returns the active base mode.
func (c *Controller) Mode() Mode { return c.mode }

// Config returns the configuration the controller was built with.
func (c *Controller) Config() Config { return c.cfg }

// DroopParams returns the current primary frequency response parameters
// for the runtime's fast path, and whether the response is enabled.
func (c *Controller) DroopParams() (DroopParams, bool) { return c.droop(), c.params.pfrOn }

// droop is what Droop needs from the plant and the PFR parameters.
func (c *Controller) droop() DroopParams {
	p := &c.params.pfr
	return DroopParams{RatedP: c.cfg.RatedP, NominalF: c.cfg.NominalF, DroopPct: p.DroopPct,
		DeadBand: p.DeadBand, Limit: p.Limit}
}

// AGCTarget returns the AGC target at the POI, kW, and whether one was set.
func (c *Controller) AGCTarget() (float64, bool) { return c.agc.target, c.agc.targetSet }

// PFR returns the primary frequency response parameters and whether it is on.
func (c *Controller) PFR() (PFRParams, bool) { return c.params.pfr, c.params.pfrOn }

// Reactive returns the reactive-power parameters in force.
func (c *Controller) Reactive() reactive.Params { return c.params.reactive }

// States returns the protection state of each unit as of the last Step.
// The slice aliases an internal buffer valid until the next Step.
func (c *Controller) States() []State { return c.states }

// deref turns a pointer to a command into the command value (nil for a nil pointer).
func deref(cmd Command) Command {
	switch p := cmd.(type) {
	case *SetMode:
		return derefOf(p)
	case *ManualSetpoint:
		return derefOf(p)
	case *ScheduleUpload:
		return derefOf(p)
	case *SetPeakShaving:
		return derefOf(p)
	case *AGCTarget:
		return derefOf(p)
	case *SetAGCParams:
		return derefOf(p)
	case *SetPFR:
		return derefOf(p)
	case *SetFFR:
		return derefOf(p)
	case *EStop:
		return derefOf(p)
	case *Reset:
		return derefOf(p)
	case *SetReactive:
		return derefOf(p)
	}
	return cmd
}

func derefOf[T Command](p *T) Command {
	if p == nil {
		return nil
	}
	return *p
}

// grow sizes the per-unit buffers for n units (allocates only when n grows).
func (c *Controller) grow(n int) {
	if cap(c.states) < n {
		ids := make([]string, n)
		copy(ids, c.ids)
		states := make([]State, n)
		copy(states, c.states)
		lost := make([]bool, n)
		copy(lost, c.lost)
		c.ids, c.states, c.lost = ids, states, lost
		c.shares = make([]Share, n)
		c.pbuf = make([]float64, n)
		c.qbuf = make([]float64, n)
		c.hbuf = make([]float64, n)
		c.events = make([]Event, 0, 2*n+8)
	}
	c.ids, c.states, c.lost = c.ids[:n], c.states[:n], c.lost[:n]
	c.shares = c.shares[:n]
	c.pbuf, c.qbuf, c.hbuf = c.pbuf[:n], c.qbuf[:n], c.hbuf[:n]
}

func (c *Controller) resetFor(id string) bool {
	if c.resetAll {
		return true
	}
	for _, r := range c.resetIDs {
		if r == id {
			return true
		}
	}
	return false
}

func (c *Controller) event(unit string, from, to State, cause Cause, t time.Time) {
	c.events = append(c.events, Event{Unit: unit, From: from, To: to, Cause: cause, Time: t})
}
