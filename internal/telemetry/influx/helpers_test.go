package influx

import (
	"context"
	"testing"
	"time"
)

// drained reports whether everything written so far has left the queue, the
// batcher and the backlog.
func drained(w *Writer, total uint64) func() bool {
	return func() bool {
		s := w.Stats()
		return s.Written+s.DroppedTotal() >= total && s.BacklogPoints == 0 && s.QueuedPoints == 0
	}
}

func closeWriter(tb testing.TB, w *Writer, timeout time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}
