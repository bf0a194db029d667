package metrics

import "testing"

type fakeLink struct {
	conns int
	falls uint64
}

func (f *fakeLink) Connections() int  { return f.conns }
func (f *fakeLink) Fallbacks() uint64 { return f.falls }

func TestNorthboundMetricsReadAtScrape(t *testing.T) {
	m := New(Options{})
	l := &fakeLink{conns: 2}
	if err := m.RegisterNorthbound(l); err != nil {
		t.Fatal(err)
	}
	s := serve(t, m)
	f := s.scrape()
	if v := f.must(t, "emsd_northbound_connections"); v != 2 {
		t.Errorf("connections %v, want 2", v)
	}
	l.conns, l.falls = 0, 1
	f = s.scrape()
	if v := f.must(t, "emsd_northbound_connections"); v != 0 {
		t.Errorf("connections %v, want 0", v)
	}
	if v := f.must(t, "emsd_northbound_fallbacks_total"); v != 1 {
		t.Errorf("fallbacks %v, want 1", v)
	}
}
