package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emsd/emsd/internal/dispatch"
)

// Command names: the last level of a command topic.
const (
	NameMode           = "mode"                    // dispatch.SetMode
	NameSetpoint       = "setpoint"                // dispatch.ManualSetpoint
	NamePeakShaving    = "peak_shaving"            // dispatch.SetPeakShaving
	NameSchedule       = "schedule"                // dispatch.ScheduleUpload
	NameAGCParams      = "agc_params"              // dispatch.SetAGCParams
	NameAGCTarget      = "agc_target"              // dispatch.AGCTarget
	NameFrequencyResp  = "frequency_response"      // dispatch.SetPFR
	NameFastFrequency  = "fast_frequency_response" // dispatch.SetFFR
	NameReactive       = "reactive"                // dispatch.SetReactive
	NameEStop          = "estop"                   // dispatch.EStop
	NameReset          = "reset"                   // dispatch.Reset
	knownCommandsShort = "mode, setpoint, peak_shaving, schedule, agc_params, agc_target, frequency_response, fast_frequency_response, reactive, estop, reset"
)

// Limits on a command payload.
const (
	DefaultMaxPayload = 64 << 10 // bytes
	MaxIDLen          = 64       // bytes
	maxNestingDepth   = 16       // JSON objects and arrays
)

// Names returns the known command names.
func Names() []string { return strings.Split(knownCommandsShort, ", ") }

// Sentinel errors, wrapped by the errors Parse and Handle return, so that
// callers can classify a failure with errors.Is.
var (
	ErrUnknownCommand = errors.New("unknown command")
	ErrTooLarge       = errors.New("payload too large")
	ErrMalformed      = errors.New("malformed command")
	ErrInvalid        = errors.New("invalid command")
	ErrStale          = errors.New("stale command")
)

// Request is a parsed and validated command.
type Request struct {
	ID        string
	Name      string
	ExpiresAt time.Time // zero: never expires
	Operator  string    // who says they sent it (the optional "operator" field), unverified
	Cmd       dispatch.Command
}

// envelope holds the fields every command carries besides its own.
type envelope struct {
	ID        *string `json:"id"`
	ExpiresAt *string `json:"expires_at"`
	Operator  *string `json:"operator"`
}

// Parse decodes and validates the payload of command name, with the
// default payload limit. On error the returned Request still carries the
// name and, when it could be read, the id, so that the reply can name it.
func Parse(name string, payload []byte, now time.Time) (Request, error) {
	return parse(name, payload, now, DefaultMaxPayload)
}

// parse is [Parse] with a payload limit of maxPayload bytes (> 0).
func parse(name string, payload []byte, now time.Time, maxPayload int) (req Request, err error) {
	req.Name = name
	defer func() {
		if err != nil && req.ID == "" {
			req.ID = peekID(payload)
		}
	}()
	if len(payload) > maxPayload {
		return req, fmt.Errorf("%w: %d bytes exceeds the limit of %d", ErrTooLarge, len(payload), maxPayload)
	}
	env, cmd, err := decodeCommand(name, payload)
	if err != nil {
		return req, err
	}
	if env.ID == nil {
		return req, fmt.Errorf("%w: id: required", ErrMalformed)
	}
	if err := checkID(*env.ID); err != nil {
		return req, err
	}
	req.ID = *env.ID
	if env.Operator != nil {
		if err := checkLabel("operator", *env.Operator); err != nil {
			return req, err
		}
		req.Operator = *env.Operator
	}
	if env.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339Nano, *env.ExpiresAt)
		if err != nil {
			return req, fmt.Errorf("%w: expires_at: %q is not an RFC 3339 time", ErrMalformed, *env.ExpiresAt)
		}
		req.ExpiresAt = t
		if !now.Before(t) {
			return req, fmt.Errorf("%w: expired at %s (now %s)", ErrStale,
				t.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
		}
	}
	if err := cmd.Validate(); err != nil {
		return req, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	req.Cmd = cmd
	return req, nil
}

// decodeCommand strictly decodes payload into the command type for name.
func decodeCommand(name string, payload []byte) (envelope, dispatch.Command, error) {
	switch name {
	case NameMode:
		var v struct {
			envelope
			dispatch.SetMode
		}
		err := strictDecode(payload, &v)
		return v.envelope, v.SetMode, err
	case NameSetpoint:
		var v struct {
			envelope
			dispatch.ManualSetpoint
		}
		err := strictDecode(payload, &v)
		return v.envelope, v.ManualSetpoint, err
	case NamePeakShaving:
		var v struct {
			envelope
			dispatch.SetPeakShaving
		}
		err := strictDecode(payload, &v)
		return v.envelope, v.SetPeakShaving, err
	case NameSchedule:
		var v struct {
			envelope
			dispatch.ScheduleUpload
		}
		err := strictDecode(payload, &v)
		return v.envelope, v.ScheduleUpload, err
	case NameAGCParams:
		var v struct {
			envelope
			dispatch.SetAGCParams
		}
		err := strictDecode(payload, &v)
		return v.envelope, v.SetAGCParams, err
	case NameAGCTarget:
		var v struct {
			envelope
			dispatch.AGCTarget
		}
		err := strictDecode(payload, &v)
		return v.envelope, v.AGCTarget, err
	case NameFrequencyResp:
		var v struct {
			envelope
			dispatch.SetPFR
		}
		err := strictDecode(payload, &v)
		return v.envelope, v.SetPFR, err
	case NameFastFrequency:
		var v struct {
			envelope
			dispatch.SetFFR
		}
		err := strictDecode(payload, &v)
		return v.envelope, v.SetFFR, err
	case NameReactive:
		var v struct {
			envelope
			dispatch.SetReactive
		}
		err := strictDecode(payload, &v)
		return v.envelope, v.SetReactive, err
	case NameEStop:
		var v struct {
			envelope
			dispatch.EStop
		}
		err := strictDecode(payload, &v)
		return v.envelope, v.EStop, err
	case NameReset:
		var v struct {
			envelope
			dispatch.Reset
		}
		err := strictDecode(payload, &v)
		return v.envelope, v.Reset, err
	}
	return envelope{}, nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownCommand, clip(name, 64), knownCommandsShort)
}

// checkID accepts a non-empty id of at most MaxIDLen bytes of printable UTF-8.
func checkID(id string) error { return checkLabel("id", id) }

// checkLabel accepts a non-empty field value of at most MaxIDLen bytes of
// printable UTF-8.
func checkLabel(field, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: %s: must not be empty", ErrMalformed, field)
	case len(v) > MaxIDLen:
		return fmt.Errorf("%w: %s: %d bytes is longer than %d", ErrMalformed, field, len(v), MaxIDLen)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s: not valid UTF-8", ErrMalformed, field)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: %s: contains the non-printable character %U", ErrMalformed, field, r)
		}
	}
	return nil
}

// peekID reads a usable id from a payload that failed to parse, or "". It
// reads tokens only as far as the top-level "id", so an id before a
// syntax error, trailing data or the size limit is still found.
func peekID(payload []byte) string {
	// Of an oversize payload only the start is read.
	dec := json.NewDecoder(bytes.NewReader(payload[:min(len(payload), DefaultMaxPayload)]))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	depth, key := 1, true // key: at depth 1, the next token is a key
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
			if depth == 0 {
				return ""
			}
			if depth == 1 {
				key = !key // a nested value just ended
			}
			continue
		}
		if depth != 1 {
			continue
		}
		if key && tok == "id" {
			tok, err := dec.Token()
			if s, ok := tok.(string); err == nil && ok && checkID(s) == nil {
				return s
			}
			return ""
		}
		key = !key
	}
}

// clip shortens s to at most n bytes for use in a message, keeping UTF-8 intact.
func clip(s string, n int) string {
	p, cut := validPrefix(s, n)
	if cut {
		return p + "…"
	}
	return p
}

// validPrefix returns s as valid UTF-8 (invalid bytes replaced), cut at a
// rune boundary to at most n bytes, and whether it was cut.
func validPrefix(s string, n int) (string, bool) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}
