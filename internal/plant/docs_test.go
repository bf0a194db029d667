package plant_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emsd/emsd/internal/plant"
)

var update = flag.Bool("update", false, "rewrite the standard points region of docs/devices.md from plant.Standards")

// TestDocsStandards keeps docs/devices.md's list of standard points equal
// to plant.Standards; -update rewrites the region between the markers.
func TestDocsStandards(t *testing.T) {
	const begin, end = "<!-- points:begin -->\n", "<!-- points:end -->"
	path := filepath.Join("..", "..", "docs", "devices.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("docs/devices.md has no %q … %q region", strings.TrimSpace(begin), end)
	}
	want := plant.StandardsMarkdown()
	if doc[i+len(begin):j] == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("docs/devices.md standard points differ from plant.Standards; run go test ./internal/plant -run DocsStandards -update\n--- generated\n%s", want)
}
