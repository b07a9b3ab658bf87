package fake

import (
	"context"
	"fmt"

	"github.com/apache/thrift/lib/go/thrift"
)

// This file is a small, schema-less Thrift codec: requests are decoded into
// generic values, responses are written from a few Go types that carry their
// Thrift type. Field ids are those of the public Hive TCLIService IDL.

// field is one field of a struct to write.
type field struct {
	id int16
	v  any // see writeValue for the Go types allowed
}

// strct is a Thrift struct to write; nil fields are left out (unset optionals).
type strct []field

// i32 marks an int32 (Thrift i32, and enums).
type i32 = int32

// record is a decoded struct: field id → value. Values are bool, int8, int16,
// int32, int64, float64, []byte (strings and binaries), record, []any and
// map[any]any.
type record map[int16]any

func (r record) rec(id int16) record {
	v, _ := r[id].(record)
	return v
}

func (r record) str(id int16) string {
	v, _ := r[id].([]byte)
	return string(v)
}

func (r record) bin(id int16) []byte {
	v, _ := r[id].([]byte)
	return v
}

func (r record) i64(id int16) int64 {
	switch v := r[id].(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	}
	return 0
}

// readValue reads one value of type t.
func readValue(ctx context.Context, p thrift.TProtocol, t thrift.TType, depth int) (any, error) {
	if depth > 32 {
		return nil, fmt.Errorf("fake: thrift value nested too deeply")
	}
	switch t {
	case thrift.BOOL:
		return p.ReadBool(ctx)
	case thrift.BYTE:
		return p.ReadByte(ctx)
	case thrift.I16:
		return p.ReadI16(ctx)
	case thrift.I32:
		return p.ReadI32(ctx)
	case thrift.I64:
		return p.ReadI64(ctx)
	case thrift.DOUBLE:
		return p.ReadDouble(ctx)
	case thrift.STRING:
		return p.ReadBinary(ctx)
	case thrift.STRUCT:
		return readStruct(ctx, p, depth+1)
	case thrift.LIST, thrift.SET:
		var et thrift.TType
		var n int
		var err error
		if t == thrift.LIST {
			et, n, err = p.ReadListBegin(ctx)
		} else {
			et, n, err = p.ReadSetBegin(ctx)
		}
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, min(n, 1024))
		for range n {
			v, err := readValue(ctx, p, et, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if t == thrift.LIST {
			return out, p.ReadListEnd(ctx)
		}
		return out, p.ReadSetEnd(ctx)
	case thrift.MAP:
		kt, vt, n, err := p.ReadMapBegin(ctx)
		if err != nil {
			return nil, err
		}
		out := make(map[any]any, min(n, 1024))
		for range n {
			k, err := readValue(ctx, p, kt, depth+1)
			if err != nil {
				return nil, err
			}
			v, err := readValue(ctx, p, vt, depth+1)
			if err != nil {
				return nil, err
			}
			if kb, ok := k.([]byte); ok {
				k = string(kb)
			}
			out[k] = v
		}
		return out, p.ReadMapEnd(ctx)
	}
	return nil, fmt.Errorf("fake: unsupported thrift type %v", t)
}

func readStruct(ctx context.Context, p thrift.TProtocol, depth int) (record, error) {
	if _, err := p.ReadStructBegin(ctx); err != nil {
		return nil, err
	}
	r := record{}
	for {
		_, t, id, err := p.ReadFieldBegin(ctx)
		if err != nil {
			return nil, err
		}
		if t == thrift.STOP {
			break
		}
		v, err := readValue(ctx, p, t, depth)
		if err != nil {
			return nil, err
		}
		r[id] = v
		if err := p.ReadFieldEnd(ctx); err != nil {
			return nil, err
		}
	}
	return r, p.ReadStructEnd(ctx)
}

// ttype is the Thrift type of a value writeValue accepts.
func ttype(v any) thrift.TType {
	switch v.(type) {
	case bool:
		return thrift.BOOL
	case int8:
		return thrift.BYTE
	case int16:
		return thrift.I16
	case int32:
		return thrift.I32
	case int64:
		return thrift.I64
	case float64:
		return thrift.DOUBLE
	case string, []byte:
		return thrift.STRING
	case strct:
		return thrift.STRUCT
	case map[string]string:
		return thrift.MAP
	default:
		return thrift.LIST
	}
}

// writeValue writes v: bool, int8, int16, int32, int64, float64, string,
// []byte, strct, map[string]string, or a list ([]bool, []int8, []int16,
// []int32, []int64, []float64, []string, [][]byte, []strct).
func writeValue(ctx context.Context, p thrift.TProtocol, v any) error {
	switch v := v.(type) {
	case bool:
		return p.WriteBool(ctx, v)
	case int8:
		return p.WriteByte(ctx, v)
	case int16:
		return p.WriteI16(ctx, v)
	case int32:
		return p.WriteI32(ctx, v)
	case int64:
		return p.WriteI64(ctx, v)
	case float64:
		return p.WriteDouble(ctx, v)
	case string:
		return p.WriteString(ctx, v)
	case []byte:
		return p.WriteBinary(ctx, v)
	case strct:
		if err := p.WriteStructBegin(ctx, ""); err != nil {
			return err
		}
		for _, f := range v {
			if f.v == nil {
				continue
			}
			if err := p.WriteFieldBegin(ctx, "", ttype(f.v), f.id); err != nil {
				return err
			}
			if err := writeValue(ctx, p, f.v); err != nil {
				return err
			}
			if err := p.WriteFieldEnd(ctx); err != nil {
				return err
			}
		}
		if err := p.WriteFieldStop(ctx); err != nil {
			return err
		}
		return p.WriteStructEnd(ctx)
	case map[string]string:
		if err := p.WriteMapBegin(ctx, thrift.STRING, thrift.STRING, len(v)); err != nil {
			return err
		}
		for k, s := range v {
			if err := p.WriteString(ctx, k); err != nil {
				return err
			}
			if err := p.WriteString(ctx, s); err != nil {
				return err
			}
		}
		return p.WriteMapEnd(ctx)
	case []bool:
		return writeList(ctx, p, thrift.BOOL, v)
	case []int8:
		return writeList(ctx, p, thrift.BYTE, v)
	case []int16:
		return writeList(ctx, p, thrift.I16, v)
	case []int32:
		return writeList(ctx, p, thrift.I32, v)
	case []int64:
		return writeList(ctx, p, thrift.I64, v)
	case []float64:
		return writeList(ctx, p, thrift.DOUBLE, v)
	case []string:
		return writeList(ctx, p, thrift.STRING, v)
	case [][]byte:
		return writeList(ctx, p, thrift.STRING, v)
	case []strct:
		return writeList(ctx, p, thrift.STRUCT, v)
	}
	return fmt.Errorf("fake: cannot write %T as thrift", v)
}

func writeList[T any](ctx context.Context, p thrift.TProtocol, et thrift.TType, vs []T) error {
	if err := p.WriteListBegin(ctx, et, len(vs)); err != nil {
		return err
	}
	for _, v := range vs {
		if err := writeValue(ctx, p, v); err != nil {
			return err
		}
	}
	return p.WriteListEnd(ctx)
}
