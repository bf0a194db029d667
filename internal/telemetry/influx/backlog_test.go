package influx

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/testutil"
	"github.com/emsd/emsd/internal/testutil/influxd"
)

func lines(from, n int) []byte {
	var b []byte
	for i := from; i < from+n; i++ {
		b = fmt.Appendf(b, "m seq=%di %d\n", i, i)
	}
	return b
}

// TestBacklogOrderAndCrashRepair checks, on disk only, that segments come back
// oldest first after a reopen and that a torn last line is cut.
func TestBacklogOrderAndCrashRepair(t *testing.T) {
	dir := t.TempDir()
	b, err := openBacklog(dir, 1<<20, 10, SyncEveryBatch)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // 5 batches of 4 points, segments of at most 10 points
		if dropped, err := b.append(lines(i*4, 4), 4); err != nil || dropped != 0 {
			t.Fatal(dropped, err)
		}
	}
	if len(b.segs) != 3 || b.points != 20 {
		t.Fatalf("segments %+v, points %d", b.segs, b.points)
	}
	if err := b.close(); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of an append leaves half a line.
	f, err := os.OpenFile(b.path(3), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("m seq=99i 9"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b, err = openBacklog(dir, 1<<20, 10, SyncEveryBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	if b.points != 20 || b.bytes != int64(len(lines(0, 20))) {
		t.Fatalf("after reopen: %d points, %d bytes", b.points, b.bytes)
	}
	if _, err := b.append(lines(20, 4), 4); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for !b.empty() {
		seg, data, err := b.oldest()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, data...)
		if err := b.remove(seg.id); err != nil {
			t.Fatal(err)
		}
	}
	if want := lines(0, 24); string(got) != string(want) {
		t.Fatalf("replayed\n%s\nwant\n%s", got, want)
	}
}

// TestCloseWithHungServer stops influxd's process (SIGSTOP: connections hang
// rather than fail): Close must give up at its deadline, persist everything to
// the backlog, and a later Writer must replay it once the server runs again.
func TestCloseWithHungServer(t *testing.T) {
	srv := influxd.Start(t)
	srv.CreateDB(t, testDB)
	state := t.TempDir()
	cfg := testConfig(t, srv, state)
	cfg.WriteTimeout = time.Minute

	srv.Signal(t, syscall.SIGSTOP)
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const total = 2500
	base := time.Unix(1_700_000_000, 0)
	for i := range total {
		w.Write(seqPoint("hung", int64(i), base.Add(time.Duration(i)*time.Millisecond)))
	}
	start := time.Now()
	closeWriter(t, w, time.Second)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v with a 1s deadline", d)
	}
	if s := w.Stats(); s.BacklogPoints != total || s.Written != 0 || s.DroppedTotal() != 0 {
		t.Fatalf("after Close: %+v", s)
	}

	srv.Signal(t, syscall.SIGCONT)
	w2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "backlog replayed", drained(w2, total))
	closeWriter(t, w2, 5*time.Second)
	if got := srv.Count(t, testDB, "hung"); got != total {
		t.Errorf("count(*) = %d, want %d", got, total)
	}
	if segs, _ := filepath.Glob(filepath.Join(state, BacklogDirName, "*"+segSuffix)); len(segs) != 0 {
		t.Errorf("segments left: %v", segs)
	}
}
