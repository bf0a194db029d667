package record

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the schema region of docs/telemetry.md from the Schema")

const (
	schemaBegin = "<!-- schema:begin -->\n"
	schemaEnd   = "<!-- schema:end -->"
)

// TestDocsSchema keeps docs/telemetry.md's telemetry reference equal to
// the Schema; -update rewrites the region between the markers (only it).
func TestDocsSchema(t *testing.T) {
	path := filepath.Join("..", "..", "..", "docs", "telemetry.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i := strings.Index(s, schemaBegin)
	j := strings.Index(s, schemaEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/telemetry.md has no %q … %q region", strings.TrimSpace(schemaBegin), schemaEnd)
	}
	region := s[i+len(schemaBegin) : j]
	want := Default.Markdown()
	if region == want {
		return
	}
	if *update {
		s = s[:i+len(schemaBegin)] + want + s[j:]
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("docs/telemetry.md schema region differs from Default.Markdown(); run go test ./internal/telemetry/record -run DocsSchema -update\n--- docs/telemetry.md\n%s\n--- generated\n%s", region, want)
}

func TestMarkdownListsEveryField(t *testing.T) {
	md := Default.Markdown()
	for _, m := range Default {
		for _, f := range m.Fields {
			if !strings.Contains(md, "| `"+f.Name+"` | "+string(f.Type)+" |") {
				t.Errorf("markdown lacks %s.%s", m.Name, f.Name)
			}
		}
	}
}
