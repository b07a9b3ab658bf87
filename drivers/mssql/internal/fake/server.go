// Package fake is a minimal SQL Server for tests: a TDS 7.4 server on
// 127.0.0.1 that go-mssqldb talks to with encrypt=disable, written from the
// public MS-TDS specification.
//
// It answers PRELOGIN (encryption not supported), LOGIN7 (checking the user,
// password and database it was started with), SQL batches, RPC calls of
// sp_executesql with their parameters, and ATTENTION, which stops the
// running statement and is answered with DONE_ATTN. The statements it runs
// are a handful recognised by their text: TypesQuery, EmptyQuery,
// SeriesQuery (GENERATE_SERIES, streamed packet by packet so that millions of
// rows flow without being held), WAITFOR DELAY '…' (which runs until
// ATTENTION or its end), SELECT @@SPID, SELECT 1, and any query of
// INFORMATION_SCHEMA.COLUMNS (a fixed catalog: dbo.orders and
// sales.regions). Anything else fails with SQL Server's error 102,
// "Incorrect syntax near '…'.".
package fake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is what the server accepts at login.
type Config struct {
	User, Password, Database string
}

// Server is a running fake SQL Server.
type Server struct {
	cfg    Config
	ln     net.Listener
	closed chan struct{}
	wg     sync.WaitGroup

	attentions atomic.Int64

	mu       sync.Mutex
	sessions map[*session]struct{}
	nextSPID uint16
}

// Start listens on 127.0.0.1:0 and serves until Close.
func Start(cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, ln: ln, closed: make(chan struct{}), sessions: make(map[*session]struct{}), nextSPID: 51}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Host is the address the server listens on.
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Close stops the server and ends every session.
func (s *Server) Close() error {
	close(s.closed)
	err := s.ln.Close()
	s.mu.Lock()
	for ss := range s.sessions {
		ss.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Running reports whether a statement whose text contains marker is being
// executed or streamed by some session.
func (s *Server) Running(marker string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		if ss.running != "" && strings.Contains(ss.running, marker) {
			return true
		}
	}
	return false
}

// Attentions is how many ATTENTION packets the server has received.
func (s *Server) Attentions() int64 { return s.attentions.Load() }

// Sessions is the number of open sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		ss := &session{srv: s, nc: nc, spid: s.nextSPID, events: make(chan event, 4), done: make(chan struct{})}
		s.nextSPID++
		s.sessions[ss] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(2)
		go func() {
			defer s.wg.Done()
			ss.read()
		}()
		go func() {
			defer s.wg.Done()
			ss.serve()
			close(ss.done)
			nc.Close()
			s.mu.Lock()
			delete(s.sessions, ss)
			s.mu.Unlock()
		}()
	}
}

// event is a message from the client, an attention signal, or a read error.
type event struct {
	typ  byte
	data []byte
	err  error
}

// session is one client connection.
type session struct {
	srv        *Server
	nc         net.Conn
	spid       uint16
	packetSize int
	events     chan event
	done       chan struct{}
	running    string // guarded by srv.mu
	readErr    error  // set when an event carrying a read error was consumed
}

// read turns incoming packets into events: whole messages, and attention
// signals as soon as they arrive, even while a response is being sent.
func (ss *session) read() {
	var msg []byte
	for {
		typ, status, payload, err := readPacket(ss.nc)
		ev := event{typ: typ, err: err}
		if err == nil && typ == pktAttention {
			ss.srv.attentions.Add(1)
		}
		if err == nil && typ != pktAttention {
			msg = append(msg, payload...)
			if status&statusEOM == 0 {
				continue
			}
			ev.data, msg = msg, nil
		}
		select {
		case ss.events <- ev:
		case <-ss.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// attention reports, without waiting, whether the client asked to stop.
func (ss *session) attention() bool {
	select {
	case ev := <-ss.events:
		return ss.stops(ev)
	default:
		return false
	}
}

// stops reports whether ev, received while a statement runs, stops it.
func (ss *session) stops(ev event) bool {
	if ev.err != nil {
		ss.readErr = ev.err
		return true
	}
	return ev.typ == pktAttention
}

func (ss *session) setRunning(sql string) {
	ss.srv.mu.Lock()
	ss.running = sql
	ss.srv.mu.Unlock()
}

func (ss *session) serve() {
	ss.packetSize = 4096
	ev := <-ss.events
	if ev.err != nil || ev.typ != pktPrelogin {
		return
	}
	if err := ss.prelogin(); err != nil {
		return
	}
	ev = <-ss.events
	if ev.err != nil || ev.typ != pktLogin7 {
		return
	}
	if ok, err := ss.login(ev.data); !ok || err != nil {
		return
	}
	for {
		var ev event
		select {
		case ev = <-ss.events:
		case <-ss.srv.closed:
			return
		}
		if ev.err != nil {
			return
		}
		var err error
		switch ev.typ {
		case pktBatch:
			sql, perr := batchText(ev.data)
			if perr != nil {
				return
			}
			err = ss.execute(sql, nil)
		case pktRPC:
			sql, params, perr := parseRPC(ev.data)
			if perr != nil {
				err = ss.fail(50000, 16, "fake: "+perr.Error())
				break
			}
			err = ss.execute(sql, params)
		case pktAttention:
			// The response had ended when the attention arrived: confirm it
			// with a message of its own.
			w := newWriter(ss.nc, ss.spid, ss.packetSize)
			w.write(doneToken(nil, doneAttn, 0))
			err = w.end()
		default:
			return
		}
		if err != nil || ss.readErr != nil {
			return
		}
	}
}

func (ss *session) prelogin() error {
	// Options VERSION and ENCRYPTION, then the terminator; data follows.
	b := []byte{0x00, 0, 11, 0, 6, 0x01, 0, 17, 0, 1, 0xFF}
	b = append(b, 16, 0, 0x10, 0x00, 0, 0) // version 16.0.4096, sub-build 0
	b = append(b, 0x02)                    // ENCRYPT_NOT_SUP
	w := newWriter(ss.nc, 0, ss.packetSize)
	w.write(b)
	return w.end()
}

// login checks a LOGIN7 record (MS-TDS 2.2.6.4) and answers it. It reports
// whether the login succeeded.
func (ss *session) login(rec []byte) (bool, error) {
	if len(rec) < 94 {
		return false, errors.New("short LOGIN7")
	}
	field := func(at int) string {
		off := int(binary.LittleEndian.Uint16(rec[at:]))
		n := 2 * int(binary.LittleEndian.Uint16(rec[at+2:]))
		if off+n > len(rec) {
			return ""
		}
		return decodeUCS2(rec[off : off+n])
	}
	if size := int(binary.LittleEndian.Uint32(rec[8:])); size >= 512 && size <= 32767 {
		ss.packetSize = size
	}
	user := field(40)
	pw := deobfuscate(rec, 44)
	db := field(68)
	w := newWriter(ss.nc, ss.spid, ss.packetSize)
	cfg := ss.srv.cfg
	if user != cfg.User || pw != cfg.Password || (db != "" && db != cfg.Database) {
		var b []byte
		if db != "" && db != cfg.Database && user == cfg.User && pw == cfg.Password {
			b = errorToken(b, 4060, 1, 11, fmt.Sprintf("Cannot open database %q requested by the login. The login failed.", db), 1)
		} else {
			b = errorToken(b, 18456, 1, 14, fmt.Sprintf("Login failed for user '%s'.", user), 1)
		}
		w.write(doneToken(b, doneError, 0))
		return false, w.end()
	}
	b := loginAckToken(nil)
	b = envChangeToken(b, 1, cfg.Database, "master")
	b = envChangeToken(b, 4, strconv.Itoa(ss.packetSize), strconv.Itoa(ss.packetSize))
	w.write(doneToken(b, doneFinal, 0))
	return true, w.end()
}

// deobfuscate decodes LOGIN7's password: each byte was nibble-swapped and
// XORed with 0xA5.
func deobfuscate(rec []byte, at int) string {
	off := int(binary.LittleEndian.Uint16(rec[at:]))
	n := 2 * int(binary.LittleEndian.Uint16(rec[at+2:]))
	if off+n > len(rec) {
		return ""
	}
	b := make([]byte, n)
	for i, c := range rec[off : off+n] {
		c ^= 0xA5
		b[i] = c<<4 | c>>4
	}
	return decodeUCS2(b)
}

// fail answers a statement with an error, as SQL Server does.
func (ss *session) fail(number int32, class byte, msg string) error {
	w := newWriter(ss.nc, ss.spid, ss.packetSize)
	b := errorToken(nil, number, 1, class, msg, 1)
	w.write(doneToken(b, doneError, 0))
	return w.end()
}

// skipHeaders skips ALL_HEADERS (MS-TDS 2.2.5.3), which starts batches and RPCs.
func skipHeaders(b []byte) ([]byte, error) {
	if len(b) < 4 {
		return nil, errors.New("short ALL_HEADERS")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > len(b) {
		return nil, errors.New("bad ALL_HEADERS length")
	}
	return b[n:], nil
}

func batchText(b []byte) (string, error) {
	b, err := skipHeaders(b)
	if err != nil {
		return "", err
	}
	return decodeUCS2(b), nil
}

// sleep waits for d, or until the client sends ATTENTION (attn is true).
func (ss *session) sleep(d time.Duration) (attn bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case ev := <-ss.events:
		return ss.stops(ev)
	case <-t.C:
		return false
	case <-ss.srv.closed:
		return true
	}
}
