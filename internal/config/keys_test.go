package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emsd/emsd/internal/devices"
	"gopkg.in/yaml.v3"
)

// keyPaths lists every key a file of type t may set, from the yaml tags,
// as dotted paths with [] for list items (units[].pcs.address), with the
// type of its value.
func keyPaths(t reflect.Type, prefix string, out map[string]reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
		keyPaths(t.Elem(), prefix+"[]", out)
		return
	}
	unmarshaler := reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Duration(0)) || reflect.PointerTo(t).Implements(unmarshaler) {
		out[prefix] = t
		return
	}
	fields := map[string]reflect.Type{}
	collectFields(t, fields)
	for name, ft := range fields {
		keyPaths(ft, join(prefix, name), out)
	}
}

var (
	backticked = regexp.MustCompile("`([^`]+)`")
	braces     = regexp.MustCompile(`\{([^{}]*)\}`)
)

// expand expands the first {a,b} group of s, recursively.
func expand(s string) []string {
	m := braces.FindStringSubmatchIndex(s)
	if m == nil {
		return []string{s}
	}
	var out []string
	for _, alt := range strings.Split(s[m[2]:m[3]], ",") {
		out = append(out, expand(s[:m[0]]+strings.TrimSpace(alt)+s[m[1]:])...)
	}
	return out
}

// docTable returns the keys named in the first column of the first
// table after heading in the docs/ page, and those whose row says they are a
// *device*. A cell lists full paths and siblings of the path before:
// `mqtt.keepalive`, `prefix`; braces expand; *device* `.x` is a device key.
func docTable(t *testing.T, page, heading string) (keys, devs map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", page))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut("\n"+string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/%s has no %q", page, heading)
	}
	keys, devs = map[string]bool{}, map[string]bool{}
	inTable := false
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(line, "|")
		first := strings.TrimSpace(cells[1])
		if first == "key" || strings.HasPrefix(first, "---") {
			continue
		}
		parent := ""
		for _, m := range backticked.FindAllStringSubmatch(first, -1) {
			k := m[1]
			switch {
			case strings.HasPrefix(first, "*device*"):
				k = "*device*" + k
			case !strings.Contains(k, ".") && parent != "":
				k = parent + "." + k
			}
			if i := strings.LastIndex(strings.Split(k, "{")[0], "."); i > 0 {
				parent = k[:i]
			}
			for _, x := range expand(k) {
				keys[x] = true
				if strings.Contains(line, "a *device*") {
					devs[x] = true
				}
			}
		}
	}
	if len(keys) == 0 {
		t.Fatalf("docs/%s has no key table after %q", page, heading)
	}
	return keys, devs
}

// checkDocumented wants every key of the types documented, and every
// documented key to exist.
func checkDocumented(t *testing.T, heading string, have map[string]reflect.Type, documented, devs map[string]bool) {
	t.Helper()
	var missing, stale []string
	for k := range have {
		i := strings.LastIndex(k, ".")
		if !documented[k] && !(i > 0 && devs[k[:i]] && documented["*device*"+k[i:]]) {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if _, ok := have[k]; !ok && !devs[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("docs %q lacks these keys: %v", heading, missing)
	}
	if len(stale) > 0 {
		t.Errorf("docs %q documents keys that do not exist: %v", heading, stale)
	}
}

// TestDocsDocumentEveryConfigKey: docs/configuration.md's table names every
// key of Config (and of a device), derived from the yaml tags, and no
// other.
func TestDocsDocumentEveryConfigKey(t *testing.T) {
	have := map[string]reflect.Type{}
	keyPaths(reflect.TypeOf(Config{}), "", have)
	keyPaths(reflect.TypeOf(Device{}), "*device*", have)
	keys, devs := docTable(t, "configuration.md", "# Configuration")
	checkDocumented(t, "# Configuration", have, keys, devs)
}

// TestDocsDocumentEveryProfileKey: likewise docs/devices.md's profile key
// table.
func TestDocsDocumentEveryProfileKey(t *testing.T) {
	have := map[string]reflect.Type{}
	keyPaths(reflect.TypeOf(devices.Profile{}), "", have)
	keys, _ := docTable(t, "devices.md", "## Device profiles")
	checkDocumented(t, "## Device profiles", have, keys, nil)
}

// TestEveryNumberAndDurationKeyIsChecked sets each float key of Config to
// .inf and each duration key to a bare number, alone in a document, and
// wants one error on that key: new keys are covered as they are added.
func TestEveryNumberAndDurationKeyIsChecked(t *testing.T) {
	keys := map[string]reflect.Type{}
	keyPaths(reflect.TypeOf(Config{}), "", keys)
	n := 0
	for path, typ := range keys {
		var value, msg string
		switch {
		case typ == reflect.TypeOf(time.Duration(0)):
			value, msg = "5", "5 has no unit; write a duration such as 5ms or 5s"
		case typ.Kind() == reflect.Float64:
			value, msg = ".inf", "must be a finite number (got .inf)"
		default:
			continue
		}
		n++
		// units[].bms[].capacity_kwh → units: [{bms: [{capacity_kwh: .inf}]}]
		doc, want := value, ""
		parts := strings.Split(path, ".")
		for i := len(parts) - 1; i >= 0; i-- {
			name, list := strings.CutSuffix(parts[i], "[]")
			if list {
				doc = "[" + doc + "]"
			}
			doc = "{" + name + ": " + doc + "}"
		}
		for _, p := range parts {
			name, list := strings.CutSuffix(p, "[]")
			want = join(want, name)
			if list {
				want += "[0]"
			}
		}
		wantOneError(t, doc, 1, want, msg)
	}
	if n < 40 {
		t.Fatalf("only %d number and duration keys found", n)
	}
}
