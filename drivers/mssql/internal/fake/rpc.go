package fake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// procExecuteSQL is sp_executesql's well-known procedure id.
const procExecuteSQL = 10

// parseRPC decodes an RPC request (MS-TDS 2.2.6.6) for sp_executesql: the
// statement and its parameters by name (@p1…), as int64, float64, bool,
// string or []byte.
func parseRPC(b []byte) (sql string, params map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed RPC request: %v", r)
		}
	}()
	b, err = skipHeaders(b)
	if err != nil {
		return "", nil, err
	}
	r := &reader{b: b}
	if n := r.u16(); n != 0xFFFF {
		name := decodeUCS2(r.next(2 * int(n)))
		return "", nil, fmt.Errorf("procedure %q is not supported, only sp_executesql", name)
	} else if id := r.u16(); id != procExecuteSQL {
		return "", nil, fmt.Errorf("procedure id %d is not supported, only sp_executesql", id)
	}
	r.u16() // option flags
	var values []any
	var names []string
	for len(r.b) > 0 {
		name := decodeUCS2(r.next(2 * int(r.byte())))
		r.byte() // status flags
		v, err := r.param()
		if err != nil {
			return "", nil, fmt.Errorf("parameter %d: %w", len(values)+1, err)
		}
		names = append(names, name)
		values = append(values, v)
	}
	if len(values) == 0 {
		return "", nil, errors.New("sp_executesql without a statement")
	}
	sql, ok := values[0].(string)
	if !ok {
		return "", nil, errors.New("sp_executesql statement is not NVARCHAR")
	}
	params = make(map[string]any)
	for i := 2; i < len(values); i++ { // values[1] declares the parameters
		params[names[i]] = values[i]
	}
	return sql, params, nil
}

// reader consumes a byte slice; running past its end panics.
type reader struct{ b []byte }

func (r *reader) next(n int) []byte {
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}
func (r *reader) byte() byte  { return r.next(1)[0] }
func (r *reader) u16() uint16 { return binary.LittleEndian.Uint16(r.next(2)) }
func (r *reader) u32() uint32 { return binary.LittleEndian.Uint32(r.next(4)) }
func (r *reader) u64() uint64 { return binary.LittleEndian.Uint64(r.next(8)) }

// param decodes one parameter's TYPE_INFO and value.
func (r *reader) param() (any, error) {
	switch id := r.byte(); id {
	case typeIntN, typeFltN, typeBitN:
		r.byte() // max size
		n := int(r.byte())
		if n == 0 {
			return nil, nil
		}
		v := r.next(n)
		switch {
		case id == typeBitN:
			return v[0] != 0, nil
		case id == typeFltN && n == 4:
			return float64(math.Float32frombits(binary.LittleEndian.Uint32(v))), nil
		case id == typeFltN:
			return math.Float64frombits(binary.LittleEndian.Uint64(v)), nil
		case n == 1:
			return int64(v[0]), nil
		case n == 2:
			return int64(int16(binary.LittleEndian.Uint16(v))), nil
		case n == 4:
			return int64(int32(binary.LittleEndian.Uint32(v))), nil
		}
		return int64(binary.LittleEndian.Uint64(v)), nil
	case typeNVarChar, typeBigVarChar, typeBigVarBin:
		maxLen := r.u16()
		if id != typeBigVarBin {
			r.next(len(collation))
		}
		var data []byte
		if maxLen == 0xFFFF {
			var null bool
			data, null = r.plp()
			if null {
				return nil, nil
			}
		} else {
			n := r.u16()
			if n == 0xFFFF {
				return nil, nil
			}
			data = r.next(int(n))
		}
		switch id {
		case typeNVarChar:
			return decodeUCS2(data), nil
		case typeBigVarChar:
			return string(data), nil
		}
		return append([]byte(nil), data...), nil
	default:
		return nil, fmt.Errorf("type 0x%02X is not supported", id)
	}
}

// plp reads a partially length-prefixed value: a total length, then chunks
// each preceded by its length, up to a zero-length chunk.
func (r *reader) plp() (data []byte, null bool) {
	if r.u64() == 0xFFFFFFFFFFFFFFFF {
		return nil, true
	}
	for {
		n := r.u32()
		if n == 0 {
			return data, false
		}
		data = append(data, r.next(int(n))...)
	}
}
