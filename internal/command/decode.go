package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// strictDecode decodes the JSON object in data into v (a pointer to a
// struct). Beyond encoding/json with DisallowUnknownFields it refuses
// anything but a single object, field names that match only when case is
// ignored, duplicate fields and deep nesting.
func strictDecode(data []byte, v any) error {
	if err := scan(data, reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	return nil
}

// frame is one open object or array during scan.
type frame struct {
	path   string
	obj    bool
	typ    reflect.Type            // Go type of the value, nil when unknown
	fields map[string]reflect.Type // obj of a struct type: its JSON fields
	seen   map[string]bool         // obj: keys so far
	key    string                  // obj: key whose value comes next, "" when a key comes next
	inKey  bool                    // obj: the next token is a value
	n      int                     // array: index of the next element
}

// scan walks the tokens of data, checking shape, field names against type
// t, duplicates and nesting depth.
func scan(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	done := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) > 0 {
				return fmt.Errorf("%w: invalid JSON: unexpected end of input after %d bytes", ErrMalformed, len(data))
			}
			if !done {
				return fmt.Errorf("%w: empty payload, expected a JSON object", ErrMalformed)
			}
			return nil
		}
		if err != nil {
			if done {
				return fmt.Errorf("%w: trailing data after the JSON object at byte %d", ErrMalformed, dec.InputOffset())
			}
			return syntaxError(err, len(data))
		}
		if done {
			return fmt.Errorf("%w: trailing data after the JSON object at byte %d", ErrMalformed, dec.InputOffset())
		}
		if len(stack) == 0 {
			if tok != json.Delim('{') {
				return fmt.Errorf("%w: expected a JSON object, got %s", ErrMalformed, tokenKind(tok))
			}
			stack = append(stack, newFrame("", true, t))
			continue
		}
		top := stack[len(stack)-1]
		if top.obj && !top.inKey {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				done = len(stack) == 0
				continue
			}
			key, _ := tok.(string) // the decoder only yields strings here
			name := join(top.path, key)
			if top.seen[key] {
				return fmt.Errorf("%w: duplicate field %q", ErrMalformed, name)
			}
			top.seen[key] = true
			if top.fields != nil {
				if _, ok := top.fields[key]; !ok {
					return fmt.Errorf("%w: unknown field %q%s", ErrMalformed, clip(name, 80), caseHint(top.fields, key))
				}
			}
			top.key, top.inKey = key, true
			continue
		}
		if tok == json.Delim(']') {
			stack = stack[:len(stack)-1]
			done = len(stack) == 0
			continue
		}
		// A value: in an object after its key, or an array element.
		var path string
		var vt reflect.Type
		if top.obj {
			path = join(top.path, top.key)
			vt = top.fields[top.key]
			top.inKey = false
		} else {
			path = top.path + "[" + strconv.Itoa(top.n) + "]"
			if top.typ != nil && top.typ.Kind() == reflect.Slice {
				vt = top.typ.Elem()
			}
			top.n++
		}
		if d, ok := tok.(json.Delim); ok {
			if len(stack) >= maxNestingDepth {
				return fmt.Errorf("%w: %s: nested deeper than %d levels", ErrMalformed, path, maxNestingDepth)
			}
			stack = append(stack, newFrame(path, d == '{', vt))
		}
	}
}

func newFrame(path string, obj bool, t reflect.Type) *frame {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	f := &frame{path: path, obj: obj, typ: t}
	if obj {
		f.seen = map[string]bool{}
		if t != nil && t.Kind() == reflect.Struct {
			f.fields = jsonFields(t)
		}
	}
	return f
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// caseHint explains a key that differs from a known field only in case.
func caseHint(fields map[string]reflect.Type, key string) string {
	for f := range fields {
		if strings.EqualFold(f, key) {
			return fmt.Sprintf(" (field names are case-sensitive: did you mean %q?)", f)
		}
	}
	return ""
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields maps the JSON field names of struct type t, including those
// promoted from embedded structs, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	addFields(m, t)
	fieldCache.Store(t, m)
	return m
}

func addFields(m map[string]reflect.Type, t reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			addFields(m, f.Type)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := m[name]; !dup {
			m[name] = f.Type
		}
	}
}

// syntaxError turns a tokenizer error into a reason with a byte offset.
func syntaxError(err error, n int) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: invalid JSON at byte %d: %s", ErrMalformed, se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: invalid JSON: unexpected end after %d bytes", ErrMalformed, n)
	}
	return fmt.Errorf("%w: invalid JSON: %s", ErrMalformed, strings.TrimPrefix(err.Error(), "json: "))
}

// decodeError turns an encoding/json decoding error into a reason that
// names the field.
func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("%w: expected a JSON object, got %s", ErrMalformed, te.Value)
		}
		return fmt.Errorf("%w: %s: expected %s, got %s", ErrMalformed, jsonPath(te.Field), jsonKind(te.Type), te.Value)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return fmt.Errorf("%w: %s", ErrMalformed, msg)
}

// jsonPath drops the Go names of embedded structs ("SetMode.mode") from
// an encoding/json field path; command JSON names are all lower case.
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "" && p == strings.ToLower(p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return field
	}
	return strings.Join(out, ".")
}

// jsonKind names the JSON type that decodes into t.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// tokenKind names the JSON type of a token.
func tokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}
