package record

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const grafanaDir = "../../../deploy/grafana"

// dashQuery is one InfluxQL query of a dashboard and where it is.
type dashQuery struct {
	file, where, query string
}

// dashboardQueries reads every dashboard JSON under deploy/grafana and
// returns its queries: panel targets, template variables and annotations.
// A target without a raw InfluxQL query (a query-builder target) fails the
// test: it could name fields this test does not see.
func dashboardQueries(t *testing.T) []dashQuery {
	t.Helper()
	var files []string
	err := filepath.WalkDir(grafanaDir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found %d dashboards under %s, want at least 5", len(files), grafanaDir)
	}
	var out []dashQuery
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		name := filepath.Base(path)
		var walk func(v any, where string)
		walk = func(v any, where string) {
			switch x := v.(type) {
			case map[string]any:
				if title, ok := x["title"].(string); ok {
					where = title
				}
				if _, isTarget := x["refId"]; isTarget {
					q, _ := x["query"].(string)
					if raw, _ := x["rawQuery"].(bool); !raw || q == "" {
						t.Errorf("%s: %q: target %v is not a raw InfluxQL query", name, where, x["refId"])
					}
				}
				if ds, ok := x["datasource"].(map[string]any); ok && ds["uid"] != "emsd-influx" {
					t.Errorf("%s: %q: datasource uid %v, want emsd-influx (provisioning/datasources/emsd.yaml)", name, where, ds["uid"])
				}
				if q, ok := x["query"].(string); ok {
					out = append(out, dashQuery{name, where, q})
				}
				for _, c := range x {
					walk(c, where)
				}
			case []any:
				for _, c := range x {
					walk(c, where)
				}
			}
		}
		walk(doc, "")
	}
	return out
}

// TestGrafanaQueriesMatchSchema checks every measurement, field and tag
// each dashboard query names against the Schema.
func TestGrafanaQueriesMatchSchema(t *testing.T) {
	qs := dashboardQueries(t)
	if len(qs) < 20 {
		t.Fatalf("only %d queries found", len(qs))
	}
	measurements := map[string]bool{}
	for _, q := range qs {
		if err := Default.check(q.query); err != nil {
			t.Errorf("%s: %q: %v\n\t%s", q.file, q.where, err, q.query)
		}
		if p, err := parseQuery(q.query); err == nil {
			measurements[p.measurement] = true
		}
	}
	for _, m := range Default {
		if !measurements[m.Name] {
			t.Errorf("no dashboard shows measurement %s", m.Name)
		}
	}
}

func TestGrafanaDatasource(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(grafanaDir, "provisioning", "datasources", "emsd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"uid: emsd-influx", "type: influxdb", "dbName: emsd", "url: http://127.0.0.1:8086"} {
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(want) + `\b`).Match(data) {
			t.Errorf("datasource provisioning lacks %q", want)
		}
	}
}

// TestQueryCheck shows that the check catches what it is for.
func TestQueryCheck(t *testing.T) {
	ok := []string{
		`SELECT mean("p_kw") AS "P", mean("units_p_kw") FROM "plant" WHERE "site" =~ /^$site$/ AND $timeFilter GROUP BY time($__interval) fill(null)`,
		`SELECT mean("p_kw") - mean("target_kw") FROM "emsd"."autogen"."plant" WHERE $timeFilter GROUP BY time(1m)`,
		`SELECT last("soc_pct") FROM bms WHERE unit =~ /^u0\/1$/ AND $timeFilter GROUP BY time($__interval), "unit", "bms"`,
		`SELECT "unit", "kind", "cause" FROM "event" WHERE "kind" = 'protection' AND $timeFilter ORDER BY time DESC LIMIT 10`,
		`SELECT last("mode") FROM "plant" WHERE $timeFilter`,
		`SHOW TAG VALUES FROM "pcs" WITH KEY = "unit" WHERE "site" =~ /^$site$/`,
	}
	for _, q := range ok {
		if err := Default.check(q); err != nil {
			t.Errorf("%v\n\t%s", err, q)
		}
	}
	bad := map[string]string{
		`SELECT mean("p_kwh") FROM "plant" WHERE $timeFilter`:                          "misspelled field",
		`SELECT mean("f_hz_min") FROM "plant" WHERE $timeFilter`:                       "field of another measurement",
		`SELECT mean(p_kwx) FROM "plant" WHERE $timeFilter`:                            "misspelled bare field",
		`SELECT mean("p_kw") FROM "plants" WHERE $timeFilter`:                          "misspelled measurement",
		`SELECT mean("p_kw") FROM "pcs" WHERE "units" = 'u1' AND $timeFilter`:          "misspelled tag in WHERE",
		`SELECT mean("p_kw") FROM "pcs" WHERE $timeFilter GROUP BY time(1s), "device"`: "GROUP BY a tag the measurement lacks",
		`SELECT mean("p_kw") FROM "pcs" WHERE $timeFilter GROUP BY "p_kw"`:             "GROUP BY a field",
		`SELECT mean("mode") FROM "plant" WHERE $timeFilter`:                           "mean of a string field",
		`SELECT "unit" FROM "pcs" WHERE $timeFilter`:                                   "tags only",
		`SHOW TAG VALUES FROM "pcs" WITH KEY = "bms"`:                                  "tag key of another measurement",
		`SELECT mean("p_kw") FROM (SELECT "p_kw" FROM "plant")`:                        "subquery",
	}
	for q, why := range bad {
		if err := Default.check(q); err == nil {
			t.Errorf("accepted (%s): %s", why, q)
		}
	}
}
