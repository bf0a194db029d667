package command

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// A payload of exactly the limit is kept whole and not marked cut.
func TestTruncatePayloadAtTheLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"abc", 3, "abc", false},
		{"abcd", 3, "abc", true},
		{"aé", 3, "aé", false}, // é is 2 bytes: 3 in all
		{"aé", 2, "a", true},
		{"ab😀", 5, "ab", true}, // never half a rune
	} {
		s, cut := truncatePayload([]byte(tc.in), tc.n)
		if s != tc.want || cut != tc.cut {
			t.Errorf("truncatePayload(%q, %d) = %q, %v; want %q, %v", tc.in, tc.n, s, cut, tc.want, tc.cut)
		}
	}
}

type recordingSink struct{ got []Record }

func (r *recordingSink) Audit(x Record) error { r.got = append(r.got, x); return nil }

type failingSink struct{ err error }

func (f failingSink) Audit(Record) error { return f.err }

// One failing sink neither stops the others nor hides the other failures.
func TestMultiAuditWritesEverySinkAndJoinsErrors(t *testing.T) {
	rec := &recordingSink{}
	e1, e2 := errors.New("disk full"), errors.New("influx down")
	m := MultiAudit{failingSink{e1}, rec, failingSink{e2}}
	err := m.Audit(Record{ID: "m1"})
	if !errors.Is(err, e1) || !errors.Is(err, e2) {
		t.Errorf("joined error %v, want both sinks' errors", err)
	}
	if len(rec.got) != 1 || rec.got[0].ID != "m1" {
		t.Errorf("the healthy sink got %+v", rec.got)
	}
	if err := (MultiAudit{rec}).Audit(Record{ID: "m2"}); err != nil {
		t.Errorf("all sinks healthy: %v", err)
	}
}

// Records go to the file of their UTC day, whatever the time zone of their
// time stamp, and a day seen again appends to its file.
func TestFileAuditOneFilePerUTCDay(t *testing.T) {
	dir := t.TempDir()
	fa, err := OpenFileAudit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := fa.Close(); err != nil {
		t.Fatalf("Close before any record: %v", err)
	}
	fa, _ = OpenFileAudit(dir, false)
	east := time.FixedZone("UTC+8", 8*3600)
	for _, r := range []Record{
		{ID: "a", Time: time.Date(2025, 6, 1, 23, 59, 0, 0, time.UTC)},
		{ID: "b", Time: time.Date(2025, 6, 2, 7, 30, 0, 0, east)}, // 2025-06-01 23:30 UTC
		{ID: "c", Time: time.Date(2025, 6, 2, 0, 1, 0, 0, time.UTC)},
		{ID: "d", Time: time.Date(2025, 6, 2, 0, 2, 0, 0, time.UTC)},
		{ID: "e", Time: time.Date(2025, 6, 1, 23, 59, 30, 0, time.UTC)}, // late record of the first day
	} {
		if err := fa.Audit(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := fa.Close(); err != nil {
		t.Fatal(err)
	}
	for day, ids := range map[string]string{"2025-06-01": "abe", "2025-06-02": "cd"} {
		b, err := os.ReadFile(filepath.Join(dir, "commands-"+day+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			i := strings.Index(l, `"id":"`)
			if i < 0 {
				t.Fatalf("%s: record without id: %s", day, l)
			}
			got.WriteByte(l[i+len(`"id":"`)])
		}
		if got.String() != ids {
			t.Errorf("%s holds records %q, want %q", day, got.String(), ids)
		}
	}
}

// Moving to a new day closes the previous day's file: a daemon running
// for years must not keep one descriptor per day.
func TestFileAuditClosesThePreviousDay(t *testing.T) {
	fds := func() int {
		es, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatalf("counting open files: %v", err)
		}
		return len(es)
	}
	fa, err := OpenFileAudit(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	day0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := fa.Audit(Record{ID: "d0", Time: day0}); err != nil {
		t.Fatal(err)
	}
	before := fds()
	for d := 1; d <= 50; d++ {
		if err := fa.Audit(Record{ID: "d", Time: day0.AddDate(0, 0, d)}); err != nil {
			t.Fatal(err)
		}
	}
	if after := fds(); after > before+5 {
		t.Errorf("50 days later %d files are open, %d before", after, before)
	}
}

// TestTruncatedPayloadStaysWithinItsLimit: invalid bytes become three-byte
// replacement characters, and the record still keeps at most n bytes.
func TestTruncatedPayloadStaysWithinItsLimit(t *testing.T) {
	in := []byte(strings.Repeat("a\xff", MaxAuditPayload))
	s, cut := truncatePayload(in, MaxAuditPayload)
	if len(s) > MaxAuditPayload || !utf8.ValidString(s) || !cut {
		t.Errorf("truncatePayload of %d bytes of invalid UTF-8: %d bytes, valid %v, cut %v; want at most %d, valid, cut",
			len(in), len(s), utf8.ValidString(s), cut, MaxAuditPayload)
	}
}

// TestPayloadAtItsLimitIsWhole: a payload of exactly n bytes is kept whole
// and not marked truncated; one byte more is cut to n.
func TestPayloadAtItsLimitIsWhole(t *testing.T) {
	in := strings.Repeat("a", MaxAuditPayload)
	if s, cut := truncatePayload([]byte(in), MaxAuditPayload); s != in || cut {
		t.Errorf("payload of exactly %d bytes: %d bytes, cut %v; want it whole", MaxAuditPayload, len(s), cut)
	}
	if s, cut := truncatePayload([]byte(in+"b"), MaxAuditPayload); s != in || !cut {
		t.Errorf("payload of %d bytes: %d bytes, cut %v; want %d, cut", MaxAuditPayload+1, len(s), cut, MaxAuditPayload)
	}
}
