package planttest

import (
	"sync"
	"time"

	"github.com/emsd/emsd/internal/sim"
)

// Sampler records what a simulated plant shows at a fixed interval: the POI
// power its meter serves, the capacity-weighted SOC and the site load.
type Sampler struct {
	// T0 is when sampling started; the sample times are seconds since.
	T0 time.Time

	mu          sync.Mutex
	t, p        []float64
	soc, loadKW []float64
	stop, done  chan struct{}
}

// Sample starts sampling plant every interval until [Sampler.Finish].
func Sample(plant *sim.Plant, every time.Duration) *Sampler {
	s := &Sampler{T0: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-s.stop:
				return
			case now := <-tk.C:
				st := plant.Snapshot()
				var e, c float64
				for _, u := range st.Units {
					for _, b := range u.BMS {
						e += b.SOCPct * b.CapacityKWh
						c += b.CapacityKWh
					}
				}
				s.mu.Lock()
				s.t = append(s.t, now.Sub(s.T0).Seconds())
				s.p = append(s.p, st.POI.PKW)
				s.soc = append(s.soc, e/c)
				s.loadKW = append(s.loadKW, st.POI.LoadKW)
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// Finish stops sampling and returns the sample times (s since T0), the POI
// power (kW, export positive) and the SOC (%).
func (s *Sampler) Finish() (t, p, soc []float64) {
	close(s.stop)
	<-s.done
	return s.t, s.p, s.soc
}

// Load returns the site load (kW) of each sample; call it after Finish.
func (s *Sampler) Load() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadKW
}
