package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

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

// MaxFileSize bounds a configuration file. A plant of a thousand units
// fits in a few hundred KiB; anything bigger is the wrong file, refused
// before it is read.
const MaxFileSize = 1 << 20

// Load reads, strictly parses, defaults and validates a configuration file.
// The error, if any, joins one *Error per problem.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > MaxFileSize {
		return nil, tooBig(path, strconv.FormatInt(st.Size(), 10))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	if len(data) > MaxFileSize {
		return nil, tooBig(path, "more than "+strconv.Itoa(MaxFileSize)) // not a regular file
	}
	return Parse(data, path)
}

func tooBig(file, size string) error {
	return &Error{File: file, Msg: fmt.Sprintf("the file is %s bytes; a configuration may have at most 1 MiB", size)}
}

// Parse is Load on bytes already read; file names the source in errors.
// The document is read as a node tree and checked key by key against the
// Config types (unknown and duplicate keys, values of the wrong type,
// non-finite numbers) before it is decoded, so that every error names the
// line and the key the user wrote, once.
func Parse(data []byte, file string) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, tooBig(file, strconv.Itoa(len(data)))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "the file is empty"}
		}
		return nil, syntaxError(file, err)
	}
	if err := secondDocument(dec, file); err != nil {
		return nil, err
	}
	var c Config
	w := walker{file: file, lines: map[string]int{"": 1}}
	w.walk(&root, reflect.TypeOf(c), "")
	if len(w.errs) > 0 {
		return nil, errors.Join(w.errs...)
	}
	if err := root.Decode(&c); err != nil {
		return nil, &Error{File: file, Msg: typeError(err)} // the walk should have caught it
	}
	c.File = file
	c.lines = w.lines
	c.applyDefaults()
	if err := c.validate(w.lines); err != nil {
		return nil, err
	}
	return &c, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns yaml's "yaml: line 4: problem" into FILE:4: problem.
func syntaxError(file string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Msg: m[2]}
	}
	return &Error{File: file, Msg: err.Error()}
}

// secondDocument refuses anything after a "---" that ends the first
// document: it would otherwise be silently ignored.
func secondDocument(dec *yaml.Decoder, file string) error {
	var n yaml.Node
	err := dec.Decode(&n)
	switch {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return syntaxError(file, err)
	}
	if len(n.Content) == 0 || n.Content[0].Tag == "!!null" {
		return nil // an empty document: nothing is ignored
	}
	body := n.Content[0]
	e := &Error{File: file, Line: body.Line, Msg: "a second YAML document; a configuration is one document, and the rest would be ignored"}
	if body.Kind == yaml.MappingNode && len(body.Content) > 0 {
		e.Line, e.Path = body.Content[0].Line, body.Content[0].Value
		e.Msg = "in " + e.Msg
	}
	return e
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

// walker checks a document against the Go type it will be decoded into.
// It records the line of every key path it sees, for later errors.
type walker struct {
	file  string
	lines map[string]int
	errs  []error
}

func (w *walker) bad(line int, path, format string, a ...any) {
	w.errs = append(w.errs, &Error{File: w.file, Line: line, Path: path, Msg: fmt.Sprintf(format, a...)})
}

var durationType = reflect.TypeOf(time.Duration(0))

// walk checks node n, found at path, against type t.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.DocumentNode:
		for _, c := range n.Content { // yaml gives a document one child
			w.walk(c, t, path)
		}
		return
	case n.Kind == yaml.AliasNode:
		w.walk(n.Alias, t, path)
		return
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return // an empty value keeps the default
	}
	want := yaml.ScalarNode
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		want = yaml.MappingNode
	case reflect.Slice:
		want = yaml.SequenceNode
	}
	if n.Kind != want {
		w.bad(n.Line, path, "%s, where %s is expected", kindName(n.Kind), kindName(want))
		return
	}
	switch want {
	case yaml.ScalarNode:
		w.scalar(n, t, path)
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.lines[p] = item.Line
			w.walk(item, t.Elem(), p)
		}
	default:
		w.mapping(n, t, path)
	}
}

// mapping checks a mapping's keys (known to the struct, each once) and
// walks their values.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	var fields map[string]reflect.Type
	if t.Kind() == reflect.Struct {
		fields = map[string]reflect.Type{}
		collectFields(t, fields)
	}
	seen := map[string]int{}
	for i := 0; i < len(n.Content); i += 2 { // key, value pairs
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			w.bad(k.Line, p, "set twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		var ft reflect.Type
		if fields == nil {
			ft = t.Elem()
		} else {
			var ok bool
			if ft, ok = fields[k.Value]; !ok {
				where := "at the top level"
				if path != "" {
					where = "in " + path
				}
				w.bad(k.Line, p, "unknown key %q %s (known: %s)", k.Value, where, known(fields))
				continue
			}
		}
		w.lines[p] = k.Line
		w.walk(v, ft, p)
	}
}

// scalar decodes one value into t, to name the key when it does not fit.
// A bare 0 is a duration too (docs/configuration.md's "0 is off").
func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string) {
	if t == durationType && n.Tag == "!!int" && n.Value == "0" {
		n.Tag, n.Value = "!!str", "0s"
	}
	v := reflect.New(t)
	if err := n.Decode(v.Interface()); err != nil {
		switch {
		case t == durationType && (n.Tag == "!!int" || n.Tag == "!!float"):
			w.bad(n.Line, path, "%s has no unit; write a duration such as %sms or 5s", n.Value, n.Value)
		case t == durationType:
			w.bad(n.Line, path, "%q is not a duration such as 500ms or 5s", n.Value)
		case t.Kind() == reflect.Float64 || t.Kind() == reflect.Float32:
			w.bad(n.Line, path, "%q is not a number", n.Value)
		case v.Elem().CanInt() || v.Elem().CanUint():
			w.bad(n.Line, path, "%q is not a whole number in range", n.Value)
		case t.Kind() == reflect.Bool:
			w.bad(n.Line, path, "%q is not true or false", n.Value)
		default:
			w.bad(n.Line, path, "%s", typeError(err))
		}
		return
	}
	if f := v.Elem(); f.CanFloat() && (math.IsNaN(f.Float()) || math.IsInf(f.Float(), 0)) {
		w.bad(n.Line, path, "must be a finite number (got %s)", n.Value)
	}
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a single value"
}

func collectFields(t reflect.Type, out map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
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
