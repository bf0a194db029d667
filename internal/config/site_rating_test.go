package config

import (
	"strings"
	"testing"
)

// The site's rated power cannot exceed what its units can deliver (0.1 %
// slack for rounding); a site rated below its units, limited at the POI, is
// fine.
func TestSiteRatingAgainstUnits(t *testing.T) {
	for _, tc := range []struct {
		site string
		ok   bool
	}{
		{"100", true},
		{"100.05", true},
		{"60", true},
		{"150", false},
		{"101", false},
	} {
		doc := strings.Replace(small, "  rated_p_kw: 100\n  rated_e_kwh", "  rated_p_kw: "+tc.site+"\n  rated_e_kwh", 1)
		if doc == small && tc.site != "100" {
			t.Fatal("the site rating was not replaced")
		}
		_, err := Parse([]byte(doc), "shop.yaml")
		if tc.ok && err != nil {
			t.Errorf("site %s kW, units 100 kW: refused: %v", tc.site, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "site.rated_p_kw") || !strings.Contains(err.Error(), "units' total")) {
			t.Errorf("site %s kW, units 100 kW: want an error at site.rated_p_kw, got %v", tc.site, err)
		}
	}
}
