package jsonnum

import (
	"encoding/json"
	"math"
	"testing"
)

func TestFloatEncodesNonFiniteAsNull(t *testing.T) {
	b, err := json.Marshal([]Float{1.5, Float(math.NaN()), Float(math.Inf(-1)), 0.1, -2e-9})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "[1.5,null,null,0.1,-2e-09]" {
		t.Fatalf("got %s", b)
	}
}

func TestFloatRoundTrip(t *testing.T) {
	var got []Float
	if err := json.Unmarshal([]byte("[1.5,null,-2e-09]"), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != 1.5 || !math.IsNaN(float64(got[1])) || got[2] != -2e-9 {
		t.Fatalf("got %v", got)
	}
	var f Float
	if err := json.Unmarshal([]byte(`"x"`), &f); err == nil {
		t.Fatal("a string must not decode as a number")
	}
}
