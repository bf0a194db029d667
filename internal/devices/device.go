package devices

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goburrow/modbus"
	"go.uber.org/zap"

	"github.com/emsd/emsd/internal/plant"
	"github.com/emsd/emsd/internal/procimg"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultTimeout      = 500 * time.Millisecond
	DefaultBackoffMin   = 100 * time.Millisecond
	DefaultBackoffMax   = 1 * time.Second
	DefaultStalePeriods = 3
	DefaultLostAfter    = 2 * time.Second
)

// Errors returned by Write.
var (
	// ErrOffline means the device is disconnected and waiting out its
	// reconnect backoff; the write was not sent.
	ErrOffline = errors.New("device offline")
	// ErrStopped means the device's Run has returned.
	ErrStopped = errors.New("device stopped")
	// ErrFenced means Options.WriteGate refused the write when it was
	// about to go on the wire; nothing was sent.
	ErrFenced = errors.New("write fenced: this controller may not write now")
)

// Options configure one device.
type Options struct {
	// Name identifies the device in the image, logs and metrics, e.g. "u1.pcs".
	Name string
	// Address is the device's host:port.
	Address string
	// UnitID is the Modbus unit identifier.
	UnitID byte
	// Profile is the device's register map.
	Profile *Profile
	// Periods overrides the poll period of read groups by name; groups
	// absent here use the profile's period.
	Periods map[string]time.Duration
	// Timeout bounds one transaction, dial included.
	Timeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect backoff, which doubles
	// on every consecutive failure and carries jitter (a wait is drawn from
	// [b/2, b]). The first error after a good transaction redials at once.
	// A device that comes back is read again within about BackoffMax (plus
	// Timeout if the dial hangs): keep BackoffMax at or below 1 s for
	// "Online within 2 s".
	BackoffMin, BackoffMax time.Duration
	// StalePeriods: a group whose last good read is older than this many
	// of its periods makes the device Stale.
	StalePeriods float64
	// LostAfter: no successful transaction for this long makes the device
	// Lost, and its image values are marked lost.
	LostAfter time.Duration
	// Observer, when set, is told about every transaction.
	Observer Observer
	// WriteGate, when set, is asked on the device goroutine right before
	// each write request goes on the wire; false refuses the write with
	// ErrFenced. A hot-standby pair's lease fence (package ha) is one: a
	// write queued behind a slow read is checked again when it is sent.
	WriteGate func() bool
	// Ratings are the ratings of the device's unit, from which the
	// default plausibility bounds of its standard points derive.
	Ratings plant.Ratings
}

// Op is the kind of a Modbus transaction.
type Op uint8

// Transaction kinds.
const (
	Read Op = iota
	Write
)

// String returns "read" or "write".
func (o Op) String() string {
	if o == Write {
		return "write"
	}
	return "read"
}

// Observer receives every transaction of a device, for metrics. It is
// called from the device goroutine and must be cheap and non-blocking.
type Observer interface {
	Transaction(device string, op Op, took time.Duration, err error)
}

// State is a device's communication state.
type State int

// Communication states.
const (
	// Online: connected and every read group is fresh.
	Online State = iota
	// Stale: the device answers, but some group's data is older than
	// StalePeriods of its period.
	Stale
	// Lost: no successful transaction for LostAfter (or never).
	Lost
)

// String returns "online", "stale" or "lost".
func (s State) String() string {
	switch s {
	case Online:
		return "online"
	case Stale:
		return "stale"
	case Lost:
		return "lost"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Health is a device's communication health and counters.
type Health struct {
	State State
	// Since is when the device entered State.
	Since time.Time
	// LastOK is the time of the last successful transaction.
	LastOK time.Time
	// LastErr and LastErrAt describe the most recent error.
	LastErr   string
	LastErrAt time.Time
	// Reads and Writes count successful transactions; Errors counts failed
	// transactions and dials; Reconnects counts connections made after the
	// first; Overruns counts reads started more than one period after due.
	Reads, Writes, Errors, Reconnects, Overruns uint64
	// DecodeErrors counts point values that could not be decoded (e.g. a
	// NaN float, a code its enum map lacks); they are stored as invalid.
	DecodeErrors uint64
	// Invalid counts values outside their plausible bounds, stored as
	// invalid; NoValue counts "not implemented" sentinels, stored as
	// invalid without a value.
	Invalid, NoValue uint64
	// Exceptions counts reads and writes the device answered with a
	// Modbus exception; LastException is the latest. Such answers keep
	// the connection: the read block's points are stored as refused.
	Exceptions    uint64
	LastException string
	// Refused names the points whose last read was answered with an
	// exception.
	Refused []string
	// Connected tells whether the device currently holds a connection.
	Connected bool
}

// PointValue is one value to write, in engineering units.
type PointValue struct {
	Point string
	Value float64
}

// block is one planned read request with its reusable buffers.
type block struct {
	Block
	fc      byte // modbus function code
	regs    []uint16
	vals    []float64
	idx     []int
	bad     []int // points stored invalid by this read
	badV    []float64
	at      time.Time
	refused error // the exception the last read was answered with, or nil
}

// group is a read group's schedule and plan.
type group struct {
	name       string
	period     time.Duration
	staleAfter time.Duration
	blocks     []block
	due        time.Time
	lastOK     time.Time
	subs       atomic.Pointer[[]chan struct{}]
}

// Device polls one Modbus TCP device. Create it with New and run it with Run.
type Device struct {
	o      Options
	prof   *Profile
	img    *procimg.Image
	id     procimg.DeviceID
	log    *zap.Logger
	groups []*group
	// sfIdx maps a point to its scale-factor point, or -1.
	sfIdx []int
	// isSF marks points other points use as scale factor.
	isSF []bool
	// sf holds each scale-factor point's last value: bit 16 set when known,
	// low 16 bits the int16 exponent.
	sf []atomic.Uint32
	// lo and hi are each point's plausible range; invalid marks the
	// points in an episode of invalid values (Run goroutine only).
	lo, hi     []float64
	invalid    []bool
	validSince []time.Time
	hadRefused bool // Health.Refused is not empty

	writes  chan *writeReq
	done    chan struct{}
	running atomic.Bool
	subMu   sync.Mutex

	hmu sync.Mutex
	h   Health

	// Owned by the Run goroutine.
	handler   *modbus.TCPClientHandler
	client    modbus.Client
	conn      bool
	connected bool // ever
	fails     int
	retryAt   time.Time
	lastOK    time.Time
	state     State
	errLogged bool
	timer     *time.Timer
}

// MinStale is the smallest stale limit a point gets, whatever its period.
const MinStale = 100 * time.Millisecond

// New validates the options and registers the device in img, with the
// profile's point names in profile order: the image's point index of a
// point equals its index in Profile.Points.
func New(o Options, img *procimg.Image, log *zap.Logger) (*Device, error) {
	if o.Name == "" {
		return nil, errors.New("device: name missing")
	}
	if o.Address == "" {
		return nil, fmt.Errorf("device %s: address missing", o.Name)
	}
	if o.Profile == nil {
		return nil, fmt.Errorf("device %s: no profile (unknown profile name?)", o.Name)
	}
	if img == nil {
		return nil, fmt.Errorf("device %s: no process image", o.Name)
	}
	if log == nil {
		log = zap.NewNop()
	}
	p := o.Profile
	if p.index == nil {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("device %s: %w", o.Name, err)
		}
	}
	// Negative durations are refused as given (0 means the default);
	// ranges are checked once the defaults are in.
	switch {
	case o.Timeout < 0:
		return nil, fmt.Errorf("device %s: timeout %v must be positive", o.Name, o.Timeout)
	case o.BackoffMin < 0:
		return nil, fmt.Errorf("device %s: backoff minimum %v must not be negative", o.Name, o.BackoffMin)
	case o.LostAfter < 0:
		return nil, fmt.Errorf("device %s: lost-after %v must be positive", o.Name, o.LostAfter)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.BackoffMin == 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = max(DefaultBackoffMax, o.BackoffMin)
	}
	if o.StalePeriods == 0 {
		o.StalePeriods = DefaultStalePeriods
	}
	if o.LostAfter == 0 {
		o.LostAfter = DefaultLostAfter
	}
	switch {
	case o.BackoffMax < o.BackoffMin:
		return nil, fmt.Errorf("device %s: backoff %v..%v is not a positive range", o.Name, o.BackoffMin, o.BackoffMax)
	case o.StalePeriods < 1:
		return nil, fmt.Errorf("device %s: stale periods %v must be at least 1", o.Name, o.StalePeriods)
	}
	for name, per := range o.Periods {
		if _, ok := p.Group(name); !ok {
			return nil, fmt.Errorf("device %s: profile %s has no read group %q", o.Name, p.Name, name)
		}
		if per <= 0 {
			return nil, fmt.Errorf("device %s: period of group %q must be positive", o.Name, name)
		}
	}

	d := &Device{
		o:          o,
		prof:       p,
		img:        img,
		log:        log,
		sfIdx:      make([]int, len(p.Points)),
		isSF:       make([]bool, len(p.Points)),
		sf:         make([]atomic.Uint32, len(p.Points)),
		lo:         make([]float64, len(p.Points)),
		hi:         make([]float64, len(p.Points)),
		invalid:    make([]bool, len(p.Points)),
		validSince: make([]time.Time, len(p.Points)),
		writes:     make(chan *writeReq, 16),
		done:       make(chan struct{}),
		state:      Lost,
	}
	for i := range p.Points {
		pt := &p.Points[i]
		d.lo[i], d.hi[i] = math.Inf(-1), math.Inf(1)
		if std, ok := plant.LookupStandard(p.Kind, pt.Name); ok && !pt.Writable {
			d.lo[i], d.hi[i] = std.Range(o.Ratings)
		}
		if pt.Min != nil {
			d.lo[i] = *pt.Min
		}
		if pt.Max != nil {
			d.hi[i] = *pt.Max
		}
		d.sfIdx[i] = -1
		if sp := p.Points[i].ScalePoint; sp != "" {
			j := p.Point(sp)
			d.sfIdx[i] = j
			d.isSF[j] = true
		}
	}
	var maxPeriod time.Duration
	for _, g := range p.Groups {
		per := g.Period
		if v, ok := o.Periods[g.Name]; ok {
			per = v
		}
		plan := p.Plan(g.Name)
		if len(plan) == 0 {
			continue
		}
		gr := &group{
			name:       g.Name,
			period:     per,
			staleAfter: time.Duration(o.StalePeriods * float64(per)),
		}
		for _, b := range plan {
			bl := block{
				Block: b,
				regs:  make([]uint16, b.Count),
				vals:  make([]float64, len(b.Points)),
				idx:   make([]int, len(b.Points)),
				bad:   make([]int, 0, len(b.Points)),
				badV:  make([]float64, 0, len(b.Points)),
				fc:    modbus.FuncCodeReadHoldingRegisters,
			}
			switch b.Table {
			case Input:
				bl.fc = modbus.FuncCodeReadInputRegisters
			case Coil:
				bl.fc = modbus.FuncCodeReadCoils
			case Discrete:
				bl.fc = modbus.FuncCodeReadDiscreteInputs
			}
			gr.blocks = append(gr.blocks, bl)
		}
		gr.subs.Store(new([]chan struct{}))
		d.groups = append(d.groups, gr)
		maxPeriod = max(maxPeriod, per)
	}
	// Each point is graded by its own group's period: a value is stale
	// after StalePeriods of them (never less than MinStale, so scheduling
	// jitter on a busy host does not flap fast points), and lost after
	// LostAfter. Points in no group (writable ones) use the slowest group.
	names := make([]string, len(p.Points))
	lims := make([]procimg.Limits, len(p.Points))
	for i := range p.Points {
		names[i] = p.Points[i].Name
		per := maxPeriod
		for _, g := range d.groups {
			if g.name == p.Points[i].Group {
				per = g.period
			}
		}
		stale := max(time.Duration(o.StalePeriods*float64(per)), MinStale)
		lims[i] = procimg.Limits{StaleAfter: stale, LostAfter: max(o.LostAfter, stale)}
	}
	d.id = img.AddDevice(o.Name, names, lims)
	d.h.State = Lost
	d.h.Since = time.Now()
	return d, nil
}

// ID is the device's slot in the process image.
func (d *Device) ID() procimg.DeviceID { return d.id }

// Name is the device's name.
func (d *Device) Name() string { return d.o.Name }

// Profile is the device's register map.
func (d *Device) Profile() *Profile { return d.prof }

// Health returns a copy of the device's health. Safe from any goroutine.
func (d *Device) Health() Health {
	d.hmu.Lock()
	defer d.hmu.Unlock()
	h := d.h
	h.Refused = append([]string(nil), d.h.Refused...)
	return h
}

// Subscribe returns a channel of capacity one that is signalled, without
// blocking, after every successful read of the named group: a consumer
// woken by it reads the fresh values from the image. A slow consumer
// misses signals, never values. It returns nil (a channel that never
// fires) for a group the device does not poll.
func (d *Device) Subscribe(group string) <-chan struct{} {
	for _, g := range d.groups {
		if g.name != group {
			continue
		}
		d.subMu.Lock()
		defer d.subMu.Unlock()
		old := *g.subs.Load()
		subs := make([]chan struct{}, len(old), len(old)+1)
		copy(subs, old)
		c := make(chan struct{}, 1)
		subs = append(subs, c)
		g.subs.Store(&subs)
		return c
	}
	return nil
}

// Periods returns the effective poll period of every group the device polls.
func (d *Device) Periods() map[string]time.Duration {
	out := make(map[string]time.Duration, len(d.groups))
	for _, g := range d.groups {
		out[g.name] = g.period
	}
	return out
}

// Value returns the image's value of the point at index i of the profile,
// graded at now; plant.Missing-like (lost, never read) for i < 0.
func (d *Device) Value(i int, now time.Time) procimg.Value {
	if i < 0 || i >= len(d.prof.Points) {
		return procimg.Value{Q: procimg.Lost}
	}
	return d.img.Get(d.id, i, now)
}
