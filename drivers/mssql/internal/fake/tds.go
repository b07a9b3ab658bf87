package fake

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"strings"
	"time"
	"unicode/utf16"
)

// TDS packet types (MS-TDS 2.2.3.1.1).
const (
	pktBatch     = 0x01
	pktRPC       = 0x03
	pktReply     = 0x04
	pktAttention = 0x06
	pktLogin7    = 0x10
	pktPrelogin  = 0x12
)

// Packet status bits and the header size.
const (
	statusEOM  = 0x01
	headerSize = 8
)

// Token types (MS-TDS 2.2.7).
const (
	tokColMetadata = 0x81
	tokError       = 0xAA
	tokLoginAck    = 0xAD
	tokRow         = 0xD1
	tokNBCRow      = 0xD2
	tokEnvChange   = 0xE3
	tokDone        = 0xFD
)

// DONE status bits.
const (
	doneFinal = 0x00
	doneError = 0x02
	doneCount = 0x10
	doneAttn  = 0x20
)

// curCmdSelect is the DONE token's CurCmd for a SELECT.
const curCmdSelect = 0xC1

// Data types (MS-TDS 2.2.5.4) the fake sends.
const (
	typeGUID       = 0x24
	typeIntN       = 0x26
	typeDateN      = 0x28
	typeTimeN      = 0x29
	typeDateTime2N = 0x2A
	typeDTOffsetN  = 0x2B
	typeBitN       = 0x68
	typeDecimalN   = 0x6A
	typeFltN       = 0x6D
	typeMoneyN     = 0x6E
	typeBigVarBin  = 0xA5
	typeBigVarChar = 0xA7
	typeNVarChar   = 0xE7
)

// collation is Latin1_General_CI_AS (LCID 0x0409, sort id 52).
var collation = []byte{0x09, 0x04, 0xD0, 0x00, 0x34}

// readPacket reads one packet: its type, status and payload.
func readPacket(r io.Reader) (typ, status byte, payload []byte, err error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, 0, nil, err
	}
	n := int(binary.BigEndian.Uint16(h[2:4]))
	if n < headerSize {
		return 0, 0, nil, fmt.Errorf("packet length %d shorter than its header", n)
	}
	payload = make([]byte, n-headerSize)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, 0, nil, err
	}
	return h[0], h[1], payload, nil
}

// writer writes one response message, split into packets of size bytes.
// The first write error sticks and makes later writes no-ops.
type writer struct {
	nc   net.Conn
	spid uint16
	size int
	buf  []byte // the packet being filled, header space included
	id   byte
	err  error
}

func newWriter(nc net.Conn, spid uint16, size int) *writer {
	return &writer{nc: nc, spid: spid, size: size, buf: make([]byte, headerSize, size)}
}

func (w *writer) write(p []byte) {
	for len(p) > 0 && w.err == nil {
		if len(w.buf) == w.size {
			w.flush(0)
		}
		n := min(w.size-len(w.buf), len(p))
		w.buf = append(w.buf, p[:n]...)
		p = p[n:]
	}
}

func (w *writer) flush(status byte) {
	if w.err != nil {
		return
	}
	h := w.buf[:headerSize]
	h[0] = pktReply
	h[1] = status
	binary.BigEndian.PutUint16(h[2:4], uint16(len(w.buf)))
	binary.BigEndian.PutUint16(h[4:6], w.spid)
	w.id++
	h[6] = w.id
	h[7] = 0
	_, w.err = w.nc.Write(w.buf)
	w.buf = w.buf[:headerSize]
}

// end sends what is left as the message's last packet.
func (w *writer) end() error {
	w.flush(statusEOM)
	return w.err
}

// Encoding helpers: little-endian integers and UCS-2 strings.

func u16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func u32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func u64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func ucs2(b []byte, s string) []byte {
	for _, c := range utf16.Encode([]rune(s)) {
		b = u16(b, c)
	}
	return b
}

// bVarChar is a string preceded by its length in characters as one byte.
func bVarChar(b []byte, s string) []byte {
	b = append(b, byte(len(utf16.Encode([]rune(s)))))
	return ucs2(b, s)
}

// usVarChar is a string preceded by its length in characters as two bytes.
func usVarChar(b []byte, s string) []byte {
	b = u16(b, uint16(len(utf16.Encode([]rune(s)))))
	return ucs2(b, s)
}

func decodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// Tokens.

func doneToken(b []byte, status uint16, count uint64) []byte {
	b = append(b, tokDone)
	b = u16(b, status)
	b = u16(b, curCmdSelect)
	return u64(b, count)
}

func errorToken(b []byte, number int32, state, class byte, msg string, line int32) []byte {
	var body []byte
	body = u32(body, uint32(number))
	body = append(body, state, class)
	body = usVarChar(body, msg)
	body = bVarChar(body, "fake")
	body = bVarChar(body, "")
	body = u32(body, uint32(line))
	b = append(b, tokError)
	b = u16(b, uint16(len(body)))
	return append(b, body...)
}

func envChangeToken(b []byte, typ byte, newValue, oldValue string) []byte {
	body := []byte{typ}
	body = bVarChar(body, newValue)
	body = bVarChar(body, oldValue)
	b = append(b, tokEnvChange)
	b = u16(b, uint16(len(body)))
	return append(b, body...)
}

func loginAckToken(b []byte) []byte {
	body := []byte{1}                                      // interface: SQL_TSQL
	body = binary.BigEndian.AppendUint32(body, 0x74000004) // TDS 7.4
	body = bVarChar(body, "Microsoft SQL Server")
	body = append(body, 16, 0, 0x10, 0x00) // version 16.0.4096
	b = append(b, tokLoginAck)
	b = u16(b, uint16(len(body)))
	return append(b, body...)
}

// Type is a column's SQL Server type as the fake describes it.
type Type struct {
	ID    byte
	Size  int   // INTN, FLTN, MONEYN: bytes; NVARCHAR, VARBINARY: max bytes
	Prec  uint8 // DECIMALN
	Scale uint8 // DECIMALN, TIMEN, DATETIME2N, DATETIMEOFFSETN
}

// Column is a result column.
type Column struct {
	Name string
	Type Type
}

// Types the fake's results use.
var (
	Int      = Type{ID: typeIntN, Size: 4}
	SmallInt = Type{ID: typeIntN, Size: 2}
	BigInt   = Type{ID: typeIntN, Size: 8}
	Float    = Type{ID: typeFltN, Size: 8}
	Bit      = Type{ID: typeBitN, Size: 1}
	Money    = Type{ID: typeMoneyN, Size: 8}
	Date     = Type{ID: typeDateN}
	GUID     = Type{ID: typeGUID, Size: 16}
)

// NVarChar is NVARCHAR(chars).
func NVarChar(chars int) Type { return Type{ID: typeNVarChar, Size: 2 * chars} }

// VarBinary is VARBINARY(n).
func VarBinary(n int) Type { return Type{ID: typeBigVarBin, Size: n} }

// Decimal is DECIMAL(prec, scale), always sent in 17 bytes.
func Decimal(prec, scale uint8) Type {
	return Type{ID: typeDecimalN, Size: 17, Prec: prec, Scale: scale}
}

// DateTime2 is DATETIME2(scale).
func DateTime2(scale uint8) Type { return Type{ID: typeDateTime2N, Scale: scale} }

// DateTimeOffset is DATETIMEOFFSET(scale).
func DateTimeOffset(scale uint8) Type { return Type{ID: typeDTOffsetN, Scale: scale} }

// Time is TIME(scale).
func Time(scale uint8) Type { return Type{ID: typeTimeN, Scale: scale} }

func colMetadataToken(b []byte, cols []Column) []byte {
	b = append(b, tokColMetadata)
	b = u16(b, uint16(len(cols)))
	for _, c := range cols {
		b = u32(b, 0)      // user type
		b = u16(b, 0x0009) // nullable, updatable unknown
		b = typeInfo(b, c.Type)
		b = bVarChar(b, c.Name)
	}
	return b
}

func typeInfo(b []byte, t Type) []byte {
	b = append(b, t.ID)
	switch t.ID {
	case typeIntN, typeFltN, typeBitN, typeMoneyN, typeGUID:
		b = append(b, byte(t.Size))
	case typeDecimalN:
		b = append(b, byte(t.Size), t.Prec, t.Scale)
	case typeDateN:
	case typeTimeN, typeDateTime2N, typeDTOffsetN:
		b = append(b, t.Scale)
	case typeNVarChar:
		b = u16(b, uint16(t.Size))
		b = append(b, collation...)
	case typeBigVarBin:
		b = u16(b, uint16(t.Size))
	default:
		panic(fmt.Sprintf("fake: no TYPE_INFO for type 0x%02X", t.ID))
	}
	return b
}

// rowToken encodes one row: ROW, or NBCROW when a value is NULL.
func rowToken(b []byte, cols []Column, vals []any) []byte {
	hasNull := false
	for _, v := range vals {
		hasNull = hasNull || v == nil
	}
	if !hasNull {
		b = append(b, tokRow)
		for i, v := range vals {
			b = value(b, cols[i].Type, v)
		}
		return b
	}
	b = append(b, tokNBCRow)
	bitmap := make([]byte, (len(cols)+7)/8)
	for i, v := range vals {
		if v == nil {
			bitmap[i/8] |= 1 << (i % 8)
		}
	}
	b = append(b, bitmap...)
	for i, v := range vals {
		if v != nil {
			b = value(b, cols[i].Type, v)
		}
	}
	return b
}

// value encodes one non-NULL value of type t. Values are int64, float64,
// bool, string (NVARCHAR; exact decimal text for DECIMALN and MONEYN; the
// canonical text for GUID), []byte, time.Time (DATEN, DATETIME2N as wall
// clock, DATETIMEOFFSETN with its zone) and time.Duration (TIMEN).
func value(b []byte, t Type, v any) []byte {
	switch t.ID {
	case typeIntN:
		n := v.(int64)
		b = append(b, byte(t.Size))
		switch t.Size {
		case 1:
			return append(b, byte(n))
		case 2:
			return u16(b, uint16(n))
		case 4:
			return u32(b, uint32(n))
		}
		return u64(b, uint64(n))
	case typeFltN:
		return u64(append(b, 8), math.Float64bits(v.(float64)))
	case typeBitN:
		if v.(bool) {
			return append(b, 1, 1)
		}
		return append(b, 1, 0)
	case typeNVarChar:
		s := ucs2(nil, v.(string))
		return append(u16(b, uint16(len(s))), s...)
	case typeBigVarBin:
		p := v.([]byte)
		return append(u16(b, uint16(len(p))), p...)
	case typeDecimalN:
		n := unscaled(v.(string), int(t.Scale))
		b = append(b, 17)
		if n.Sign() < 0 {
			b = append(b, 0)
		} else {
			b = append(b, 1)
		}
		mag := new(big.Int).Abs(n).FillBytes(make([]byte, 16))
		for i := len(mag) - 1; i >= 0; i-- { // big-endian to little-endian
			b = append(b, mag[i])
		}
		return b
	case typeMoneyN:
		n := unscaled(v.(string), 4).Int64()
		b = append(b, 8)
		b = u32(b, uint32(uint64(n)>>32))
		return u32(b, uint32(n))
	case typeGUID:
		return append(append(b, 16), guidBytes(v.(string))...)
	case typeDateN:
		return days(append(b, 3), v.(time.Time))
	case typeTimeN:
		b = append(b, byte(timeLen(t.Scale)))
		return timeUnits(b, v.(time.Duration), t.Scale)
	case typeDateTime2N:
		tm := v.(time.Time)
		b = append(b, byte(timeLen(t.Scale)+3))
		b = timeUnits(b, sinceMidnight(tm), t.Scale)
		return days(b, tm)
	case typeDTOffsetN:
		tm := v.(time.Time)
		_, off := tm.Zone()
		utc := tm.UTC()
		b = append(b, byte(timeLen(t.Scale)+5))
		b = timeUnits(b, sinceMidnight(utc), t.Scale)
		b = days(b, utc)
		return u16(b, uint16(int16(off/60)))
	}
	panic(fmt.Sprintf("fake: cannot encode type 0x%02X", t.ID))
}

// unscaled parses decimal text s as an integer of scale digits after the point.
func unscaled(s string, scale int) *big.Int {
	intPart, frac, _ := strings.Cut(s, ".")
	frac += strings.Repeat("0", scale)
	n, ok := new(big.Int).SetString(intPart+frac[:scale], 10)
	if !ok {
		panic("fake: bad decimal " + s)
	}
	return n
}

// guidBytes is a GUID's wire form: the first three groups little-endian.
func guidBytes(s string) []byte {
	h := strings.ReplaceAll(s, "-", "")
	raw := make([]byte, 16)
	for i := range raw {
		fmt.Sscanf(h[2*i:2*i+2], "%02x", &raw[i])
	}
	return []byte{raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6],
		raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]}
}

// timeLen is the byte length of a time of the given scale.
func timeLen(scale uint8) int {
	switch {
	case scale <= 2:
		return 3
	case scale <= 4:
		return 4
	}
	return 5
}

func timeUnits(b []byte, d time.Duration, scale uint8) []byte {
	units := uint64(d / time.Duration(math.Pow10(9-int(scale))))
	for i := range timeLen(scale) {
		b = append(b, byte(units>>(8*i)))
	}
	return b
}

func sinceMidnight(t time.Time) time.Duration {
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
}

// days appends the days from 0001-01-01 to t's date, three bytes.
func days(b []byte, t time.Time) []byte {
	y, m, d := t.Date()
	unix := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()
	n := unix/86400 + 719162 // 0001-01-01 is 719162 days before 1970-01-01
	return append(b, byte(n), byte(n>>8), byte(n>>16))
}
