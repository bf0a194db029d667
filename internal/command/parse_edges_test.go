package command

import (
	"strings"
	"testing"
)

// An id of exactly MaxIDLen bytes is accepted (one more is refused, see
// TestParseErrors).
func TestIDOfMaxLengthIsAccepted(t *testing.T) {
	id := strings.Repeat("x", MaxIDLen)
	req, err := Parse(NameMode, []byte(`{"id":"`+id+`","mode":"manual"}`), t0)
	if err != nil || req.ID != id {
		t.Fatalf("id of %d bytes: %v (id %q)", MaxIDLen, err, req.ID)
	}
}

// Names quoted in reasons are clipped beyond their limit only: a name of
// exactly the limit is quoted whole, a longer one cut with an ellipsis.
func TestReasonsClipLongNamesOnly(t *testing.T) {
	for _, n := range []int{63, 64, 65} {
		name := strings.Repeat("n", n)
		_, err := Parse(name, []byte(`{"id":"a"}`), t0)
		if err == nil {
			t.Fatalf("unknown command of %d bytes accepted", n)
		}
		quoted := `"` + name + `"`
		if n > 64 {
			quoted = `"` + name[:64] + `…"`
		}
		if !strings.Contains(err.Error(), quoted) {
			t.Errorf("%d-byte name: reason %q, want it to quote %s", n, err, quoted)
		}
	}
	field := strings.Repeat("f", 80)
	_, err := Parse(NameMode, []byte(`{"id":"a","mode":"manual","`+field+`":1}`), t0)
	if err == nil || !strings.Contains(err.Error(), `unknown field "`+field+`"`) {
		t.Errorf("80-byte field: got %v, want it quoted whole", err)
	}
}
