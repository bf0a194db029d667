package northbound

// Quality grades a value as the dispatch centre sees it.
type Quality uint8

// Qualities. A stale value goes out as not topical (NT), a lost one as
// invalid (IV); neither is ever sent as good.
const (
	Good Quality = iota
	Stale
	Lost
)

// Value is one quantity's value (in emsd units; 0 or 1 for a single
// point) and its quality.
type Value struct {
	V float64
	Q Quality
}

// Values are the plant's quantities by name. A quantity missing from it
// is lost.
type Values map[string]Value

// Get returns the value of quantity q, lost when it is missing.
func (v Values) Get(q string) Value {
	x, ok := v[q]
	if !ok {
		return Value{Q: Lost}
	}
	return x
}

// Source returns the plant's values now. It is called from the servers'
// goroutines and must be safe for concurrent use.
type Source func() Values
