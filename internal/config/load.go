package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a configuration problem at one place in one file.
type Error struct {
	File string
	Line int    // 0 when the problem is not tied to a line
	Path string // e.g. units[3].pcs.address
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads, strictly parses, defaults and validates a configuration file.
// The error, if any, joins one *Error per problem.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	return Parse(data, path)
}

// Parse is Load on bytes already read; file names the source in errors.
func Parse(data []byte, file string) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: file, Msg: err.Error()}
	}
	if root.Kind == 0 {
		return nil, &Error{File: file, Msg: "the file is empty"}
	}
	var c Config
	lines := map[string]int{}
	if errs := checkKeys(&root, reflect.TypeOf(c), "", file, lines); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		return nil, &Error{File: file, Msg: typeError(err)}
	}
	c.File = file
	c.lines = lines
	c.applyDefaults()
	if err := c.validate(lines); err != nil {
		return nil, err
	}
	return &c, nil
}

// typeError shortens yaml's type errors ("line 4: cannot unmarshal !!str
// `abc` into float64") to one line each.
func typeError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return err.Error()
}

// checkKeys walks the document against the Go type and reports every key
// the type does not know, with its line and path.
func checkKeys(n *yaml.Node, t reflect.Type, path, file string, lines map[string]int) []error {
	if _, seen := lines[path]; !seen {
		lines[path] = n.Line
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return checkKeys(n.Content[0], t, path, file, lines)
	case yaml.AliasNode:
		return checkKeys(n.Alias, t, path, file, lines)
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			return nil // the decoder reports the type mismatch
		}
		var errs []error
		for i, c := range n.Content {
			errs = append(errs, checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), file, lines)...)
		}
		return errs
	case yaml.MappingNode:
	default:
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			errs = append(errs, checkKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), file, lines)...)
		}
		return errs
	case reflect.Struct:
	default:
		return nil
	}
	fields := map[string]reflect.Type{}
	collectFields(t, fields)
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			where := "at the top level"
			if path != "" {
				where = "in " + path
			}
			errs = append(errs, &Error{File: file, Line: k.Line, Path: join(path, k.Value),
				Msg: fmt.Sprintf("unknown key %q %s (known: %s)", k.Value, where, known(fields))})
			continue
		}
		errs = append(errs, checkKeys(v, ft, join(path, k.Value), file, lines)...)
	}
	return errs
}

func collectFields(t reflect.Type, out map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			collectFields(f.Type, out)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
}

func known(fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sortStrings(names)
	return strings.Join(names, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
