package config

import (
	"strings"
	"testing"
)

// An unknown key's message says where it was found: the section it is in,
// or the top level.
func TestUnknownKeySaysWhere(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{small + "colour: blue\n", `unknown key "colour" at the top level`},
		{strings.Replace(small, "rated_e_kwh: 215", "rated_e_kwh: 215\n  colour: blue", 1), `unknown key "colour" in site`},
	} {
		_, err := Parse([]byte(tc.doc), "shop.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
