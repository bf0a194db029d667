// Package procimg is the process image: the latest value of every device
// point, each with the time it was read and a quality, and consistent
// snapshots of it that control code reads once per cycle.
//
// Pollers write into the image; control code never reads devices directly.
// Quality follows these rules, evaluated at snapshot time:
//   - Lost: the point was never read, its device is marked lost, or its
//     value is older than the point's LostAfter.
//   - Invalid, Refused: the device's last answer for the point was a value
//     outside its plausible bounds or one that does not decode (Invalid),
//     or an exception reply (Refused); the verdict holds until the next
//     answer, or until the value ages past LostAfter.
//   - Stale: its value is older than the point's StaleAfter.
//   - Good: otherwise.
//
// Only good data drive power: consumers check Value.Good.
package procimg

import (
	"math"
	"sync"
	"time"
)

// Quality is the trust level of a value.
type Quality uint8

// Qualities. Good is the only one that drives control.
const (
	Good Quality = iota
	Stale
	Lost
	// Invalid: the device answered with an implausible or undecodable value.
	Invalid
	// Refused: the device answered the read with an exception.
	Refused
)

func (q Quality) String() string {
	switch q {
	case Good:
		return "good"
	case Stale:
		return "stale"
	case Invalid:
		return "invalid"
	case Refused:
		return "refused"
	}
	return "lost"
}

// verdict reports whether q is a device's answer that age does not improve.
func (q Quality) verdict() bool { return q == Invalid || q == Refused }

// Value is one point's value with its time stamp and quality.
type Value struct {
	V  float64
	At time.Time
	Q  Quality
}

// Good reports whether the value may drive control.
func (v Value) Good() bool { return v.Q == Good }

// Age is how old the value is at now; zero time values have an infinite age.
func (v Value) Age(now time.Time) time.Duration {
	if v.At.IsZero() {
		return 1<<63 - 1
	}
	return now.Sub(v.At)
}

// DeviceID identifies a device slot in an image.
type DeviceID int

// Limits are a point's quality thresholds on value age. A point read every
// 20 ms and one read every second need different limits.
type Limits struct {
	StaleAfter time.Duration
	LostAfter  time.Duration
}

type device struct {
	mu     sync.Mutex
	name   string
	points []string
	vals   []Value
	lim    []Limits
	lost   bool
}

// Image holds the latest values of all devices. Updates and snapshots are
// safe for concurrent use; each device is locked on its own, so a busy
// device never blocks another.
type Image struct {
	mu      sync.RWMutex
	devices []*device
}

// New returns an empty image.
func New() *Image { return &Image{} }

// AddDevice registers a device, its point names in the order the poller
// will address them by index, and each point's limits (lim[i] for
// points[i]). It is called before polling starts.
func (im *Image) AddDevice(name string, points []string, lim []Limits) DeviceID {
	if len(lim) != len(points) {
		panic("procimg: AddDevice needs one Limits per point")
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	d := &device{name: name, points: append([]string(nil), points...), vals: make([]Value, len(points)), lim: append([]Limits(nil), lim...)}
	for i := range d.vals {
		d.vals[i].Q = Lost
	}
	im.devices = append(im.devices, d)
	return DeviceID(len(im.devices) - 1)
}

// Len is the number of devices.
func (im *Image) Len() int {
	im.mu.RLock()
	defer im.mu.RUnlock()
	return len(im.devices)
}

// Name is the device's name.
func (im *Image) Name(id DeviceID) string { return im.dev(id).name }

// Points is the device's point names, indexed like its values.
func (im *Image) Points(id DeviceID) []string { return im.dev(id).points }

func (im *Image) dev(id DeviceID) *device {
	im.mu.RLock()
	defer im.mu.RUnlock()
	return im.devices[id]
}

// Update stores fresh values, read at the time at, for the points at idx.
// A successful read clears the device's lost mark.
func (im *Image) Update(id DeviceID, idx []int, vals []float64, at time.Time) {
	im.Mark(id, idx, vals, Good, at)
}

// Mark stores values the device answered at the time at with quality q:
// Good (as Update), Invalid or Refused. vals may be nil, which stores NaN.
// Any answer clears the device's lost mark.
func (im *Image) Mark(id DeviceID, idx []int, vals []float64, q Quality, at time.Time) {
	d := im.dev(id)
	d.mu.Lock()
	for k, i := range idx {
		v := math.NaN()
		if vals != nil {
			v = vals[k]
		}
		d.vals[i] = Value{V: v, At: at, Q: q}
	}
	d.lost = false
	d.mu.Unlock()
}

// SetLost marks every value of a device lost, at once and regardless of age.
func (im *Image) SetLost(id DeviceID) {
	d := im.dev(id)
	d.mu.Lock()
	d.lost = true
	d.mu.Unlock()
}

// Get returns one value with its quality evaluated at now.
func (im *Image) Get(id DeviceID, point int, now time.Time) Value {
	d := im.dev(id)
	d.mu.Lock()
	v := d.vals[point]
	lost := d.lost
	d.mu.Unlock()
	return grade(v, lost, d.lim[point], now)
}

func grade(v Value, lost bool, lim Limits, now time.Time) Value {
	switch {
	case lost || v.At.IsZero():
		v.Q = Lost
	case lim.LostAfter > 0 && now.Sub(v.At) > lim.LostAfter:
		v.Q = Lost
	case v.Q.verdict():
	case lim.StaleAfter > 0 && now.Sub(v.At) > lim.StaleAfter:
		v.Q = Stale
	default:
		v.Q = Good
	}
	return v
}

// Snapshot is a copy of the whole image at one instant.
type Snapshot struct {
	At time.Time
	// Values holds every device's values, indexed [DeviceID][point].
	Values [][]Value
}

// Value returns one value of the snapshot.
func (s *Snapshot) Value(id DeviceID, point int) Value { return s.Values[id][point] }

// Snapshot copies the image into dst at the instant now, grading every
// value. dst's storage is reused, so a control loop that keeps one Snapshot
// takes its copy without allocating.
func (im *Image) Snapshot(now time.Time, dst *Snapshot) {
	im.mu.RLock()
	devs := im.devices
	im.mu.RUnlock()
	dst.At = now
	if cap(dst.Values) < len(devs) {
		dst.Values = make([][]Value, len(devs))
	}
	dst.Values = dst.Values[:len(devs)]
	for i, d := range devs {
		d.mu.Lock()
		dst.Values[i] = append(dst.Values[i][:0], d.vals...)
		lost := d.lost
		d.mu.Unlock()
		for k := range dst.Values[i] {
			dst.Values[i][k] = grade(dst.Values[i][k], lost, d.lim[k], now)
		}
	}
}
