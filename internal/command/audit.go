package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
)

// MaxAuditPayload is how many bytes of a payload an audit record keeps.
const MaxAuditPayload = 1024

// Record is the audit trail of one command, accepted or refused.
type Record struct {
	Time      time.Time  `json:"time"`
	Transport string     `json:"transport"`
	Client    string     `json:"client,omitempty"`   // identity the transport vouches for (none over MQTT 3.1.1)
	Operator  string     `json:"operator,omitempty"` // the payload's "operator" field: declared by the sender, not verified
	Topic     string     `json:"topic,omitempty"`
	Name      string     `json:"name"`
	ID        string     `json:"id,omitempty"`
	Payload   string     `json:"payload"`             // at most MaxAuditPayload bytes, valid UTF-8
	Truncated bool       `json:"truncated,omitempty"` // Payload was cut
	Size      int        `json:"size"`                // payload bytes received
	Result    Result     `json:"result"`
	Reason    string     `json:"reason,omitempty"`
	AppliedAt *time.Time `json:"applied_at,omitempty"`
}

// AuditSink stores audit records. Audit is called once per command from
// the goroutine handling it and should not block for long.
type AuditSink interface {
	Audit(Record) error
}

// truncatePayload returns at most n bytes of p as valid UTF-8.
func truncatePayload(p []byte, n int) (string, bool) {
	return validPrefix(string(p), n)
}

// ZapAudit writes audit records to a zap logger: accepted commands at
// Info level, refused ones at Warn.
type ZapAudit struct {
	Log *zap.Logger
}

// Audit logs r.
func (z ZapAudit) Audit(r Record) error {
	fields := []zap.Field{
		zap.Time("time", r.Time), zap.String("transport", r.Transport),
		zap.String("client", r.Client), zap.String("operator", r.Operator), zap.String("topic", r.Topic),
		zap.String("name", r.Name), zap.String("id", r.ID),
		zap.String("payload", r.Payload), zap.Bool("truncated", r.Truncated),
		zap.Int("size", r.Size), zap.String("result", string(r.Result)),
	}
	if r.Reason != "" {
		fields = append(fields, zap.String("reason", r.Reason))
	}
	if r.AppliedAt != nil {
		fields = append(fields, zap.Time("applied_at", *r.AppliedAt))
	}
	if r.Result == ResultOK {
		z.Log.Info("command", fields...)
	} else {
		z.Log.Warn("command refused", fields...)
	}
	return nil
}

// MultiAudit writes each record to every sink and joins their errors.
type MultiAudit []AuditSink

// Audit writes r to every sink.
func (m MultiAudit) Audit(r Record) error {
	var errs []error
	for _, s := range m {
		if err := s.Audit(r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// FileAudit appends audit records as JSON lines to one file per UTC day,
// commands-YYYY-MM-DD.jsonl, in a directory. It is safe for concurrent use.
type FileAudit struct {
	dir  string
	sync bool

	mu   sync.Mutex
	day  string
	f    *os.File
	shut bool
}

// OpenFileAudit creates dir if needed and returns a sink writing there.
// With fsync set every record is synced to disk before Audit returns.
func OpenFileAudit(dir string, fsync bool) (*FileAudit, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &FileAudit{dir: dir, sync: fsync}, nil
}

// Audit appends r to the file of its day.
func (a *FileAudit) Audit(r Record) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	line = append(line, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.shut {
		return errors.New("audit: sink closed")
	}
	day := r.Time.UTC().Format(time.DateOnly)
	if day != a.day { // a.day is "" exactly when no file is open
		if a.f != nil {
			_ = a.f.Close()
		}
		a.f, a.day = nil, ""
		f, err := os.OpenFile(filepath.Join(a.dir, "commands-"+day+".jsonl"),
			os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		a.f, a.day = f, day
	}
	if _, err := a.f.Write(line); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if a.sync {
		if err := a.f.Sync(); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	return nil
}

// Close closes the current file; later records are refused.
func (a *FileAudit) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.shut = true
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
