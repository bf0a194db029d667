package record

import (
	"strings"
)

// Markdown renders the schema as docs/telemetry.md's telemetry reference: a short
// preface and one table row per field (measurement, tags, field, type,
// unit, decimation, description).
func (s Schema) Markdown() string {
	var b strings.Builder
	b.WriteString("Generated from `record.Default` (internal/telemetry/record/schema.go); " +
		"`go test ./internal/telemetry/record -run DocsSchema -update` rewrites it.\n\n")
	b.WriteString("Every interval (1 s by default) emsd writes one point per measurement and device; " +
		"events are written when they happen. Only good readings are used: a field whose readings " +
		"were all stale or lost in the interval is left out, and `quality` names the worst quality " +
		"a device's readings had. Decimation is over the control cycles of the interval: `last` " +
		"(default), `mean`, `min`, `max`; `sampled` values are not decimated (a state or count of the interval's last cycle, a string, or a value read at flush time). " +
		"Float fields that are neither fixed nor sampled take a per-field override " +
		"(`Options.Decimation`, key `measurement.field`). P > 0 is discharge/export. " +
		"Grafana provisioning and dashboards over these fields are in `deploy/grafana/`.\n\n")
	for i := range s {
		m := &s[i]
		b.WriteString("- `" + m.Name + "`: " + m.Desc + "\n")
	}
	b.WriteString("\n| measurement | tags | field | type | unit | decimation | description |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for i := range s {
		m := &s[i]
		tags := "`" + strings.Join(m.Tags, "`, `") + "`"
		for j := range m.Fields {
			fd := &m.Fields[j]
			name := ""
			if j == 0 {
				name = "`" + m.Name + "`"
			} else {
				tags = ""
			}
			agg := fd.Agg.String()
			if fd.Fixed {
				agg += " (fixed)"
			}
			row := []string{name, tags, "`" + fd.Name + "`", string(fd.Type), fd.Unit, agg, mdEscape(fd.Desc)}
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
	}
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
