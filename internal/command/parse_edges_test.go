package command

import (
	"strings"
	"testing"
	"unicode/utf8"
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

// A name clipped inside a multi-byte character loses the whole character:
// reasons stay valid UTF-8.
func TestClipKeepsUTF8(t *testing.T) {
	name := strings.Repeat("n", 63) + "é" + "tail" // é spans bytes 63 and 64
	_, err := Parse(name, []byte(`{"id":"a"}`), t0)
	if err == nil || !utf8.ValidString(err.Error()) || !strings.Contains(err.Error(), `"`+strings.Repeat("n", 63)+`…"`) {
		t.Errorf("got %q, want valid UTF-8 quoting 63 n and an ellipsis", err)
	}
}
