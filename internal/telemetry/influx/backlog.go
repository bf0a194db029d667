package influx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// BacklogDirName is the backlog's directory inside Config.StateDir.
const BacklogDirName = "influx-backlog"

const segSuffix = ".lp"

// segment is one backlog file of line protocol, named by a sequence number that
// orders segments oldest first, across restarts too.
type segment struct {
	id     uint64
	bytes  int64
	points int
}

// backlog is a bounded FIFO of line-protocol points in segment files. It is not
// safe for concurrent use: the Writer's sender goroutine owns it.
type backlog struct {
	dir       string
	maxBytes  int64
	segPoints int
	sync      SyncPolicy

	segs   []segment // oldest first
	active *os.File  // open for append: the file of the last segment, or nil
	nextID uint64
	bytes  int64
	points int64
	lock   *os.File
}

func openBacklog(dir string, maxBytes int64, segPoints int, sync SyncPolicy) (*backlog, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	b := &backlog{dir: dir, maxBytes: maxBytes, segPoints: segPoints, sync: sync, nextID: 1, lock: lock}
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.close()
		return nil, err
	}
	for _, e := range entries {
		id, ok := parseSegName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		size, points, err := repairSegment(b.path(id))
		if err != nil {
			b.close()
			return nil, fmt.Errorf("backlog segment %s: %w", e.Name(), err)
		}
		if points == 0 {
			_ = os.Remove(b.path(id))
			continue
		}
		b.segs = append(b.segs, segment{id: id, bytes: size, points: points})
		b.bytes += size
		b.points += int64(points)
	}
	slices.SortFunc(b.segs, func(x, y segment) int {
		switch {
		case x.id < y.id:
			return -1
		case x.id > y.id:
			return 1
		}
		return 0
	})
	if n := len(b.segs); n > 0 {
		b.nextID = b.segs[n-1].id + 1
	}
	return b, nil
}

func parseSegName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(s) != 20 {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 10, 64)
	return id, err == nil
}

func (b *backlog) path(id uint64) string {
	return filepath.Join(b.dir, fmt.Sprintf("%020d%s", id, segSuffix))
}

// repairSegment cuts a torn last line (from a crash in the middle of an append)
// and returns the segment's size and point count.
func repairSegment(path string) (int64, int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	cut := bytes.LastIndexByte(data, '\n') + 1
	if cut < len(data) {
		if err := os.Truncate(path, int64(cut)); err != nil {
			return 0, 0, err
		}
	}
	return int64(cut), bytes.Count(data[:cut], []byte{'\n'}), nil
}

func (b *backlog) empty() bool { return len(b.segs) == 0 }

// append adds a batch of points (body: n lines) behind everything already in
// the backlog. To stay within maxBytes it first deletes the oldest segments, and
// returns how many points that dropped; a batch larger than the whole bound is
// dropped itself. On an I/O error the batch is not in the backlog.
func (b *backlog) append(body []byte, n int) (dropped int, err error) {
	size := int64(len(body))
	if size > b.maxBytes {
		return n, nil
	}
	for b.bytes+size > b.maxBytes && len(b.segs) > 0 {
		dropped += b.dropOldest()
	}
	last := len(b.segs) - 1
	if b.active == nil || (b.segs[last].points > 0 && b.segs[last].points+n > b.segPoints) {
		if err := b.startSegment(); err != nil {
			return dropped, err
		}
		last = len(b.segs) - 1
	}
	seg := &b.segs[last]
	if _, err := b.active.Write(body); err != nil {
		// Cut the partial write so the file keeps whole lines only.
		_ = b.active.Truncate(seg.bytes)
		return dropped, err
	}
	if b.sync == SyncEveryBatch {
		if err := b.active.Sync(); err != nil {
			return dropped, err
		}
	}
	seg.bytes += size
	seg.points += n
	b.bytes += size
	b.points += int64(n)
	return dropped, nil
}

func (b *backlog) startSegment() error {
	b.seal()
	id := b.nextID
	f, err := os.OpenFile(b.path(id), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	b.nextID++
	if b.sync == SyncEveryBatch {
		if err := syncDir(b.dir); err != nil {
			_ = f.Close()
			_ = os.Remove(b.path(id))
			return err
		}
	}
	b.active = f
	b.segs = append(b.segs, segment{id: id})
	return nil
}

// seal closes the active segment: nothing more is appended to it.
func (b *backlog) seal() {
	if b.active != nil {
		_ = b.active.Close()
		b.active = nil
	}
}

// dropOldest deletes the oldest segment and returns its point count.
func (b *backlog) dropOldest() int {
	seg := b.segs[0]
	_ = b.remove(seg.id)
	return seg.points
}

// oldest returns the contents of the oldest segment, sealing it first if it is
// the one being appended to.
func (b *backlog) oldest() (seg segment, data []byte, err error) {
	seg = b.segs[0]
	if len(b.segs) == 1 {
		b.seal()
	}
	data, err = os.ReadFile(b.path(seg.id))
	if err == nil && int64(len(data)) != seg.bytes {
		err = fmt.Errorf("segment %d: size %d, expected %d", seg.id, len(data), seg.bytes)
	}
	return seg, data, err
}

// remove deletes the oldest segment, which must have the given id. The segment
// leaves the accounting even if the file cannot be deleted (it would then be
// replayed once more after a restart, which InfluxDB deduplicates).
func (b *backlog) remove(id uint64) error {
	if len(b.segs) == 0 || b.segs[0].id != id {
		return fmt.Errorf("backlog: segment %d is not the oldest", id)
	}
	if len(b.segs) == 1 {
		b.seal()
	}
	seg := b.segs[0]
	b.segs = b.segs[1:]
	b.bytes -= seg.bytes
	b.points -= int64(seg.points)
	err := os.Remove(b.path(id))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return err
}

func (b *backlog) close() error {
	b.seal()
	var err error
	if b.lock != nil {
		err = unlockDir(b.lock)
		b.lock = nil
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
