package proxy

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// instrument wraps one request's response writer and body: both count
// bytes for the request log and metrics, and with idle > 0 they push the
// connection's deadlines forward as the body moves. r.Body becomes the
// counting reader, which is nil when r has no body. finish must run once
// the handler has returned.
func instrument(w http.ResponseWriter, r *http.Request, idle time.Duration) (cw *countingWriter, body *countingReader, finish func()) {
	cw = &countingWriter{ResponseWriter: w}
	if r.Body != nil {
		body = &countingReader{r: r.Body}
		r.Body = body
	}
	if idle <= 0 {
		return cw, body, func() {}
	}
	dl := newIdleDeadline(w, idle)
	cw.deadline = dl
	if body != nil && r.ContentLength != 0 {
		body.deadline = dl
		dl.bodyOpen.Store(true)
	}
	return cw, body, dl.finish
}

// countingWriter records the status and the body bytes written.
type countingWriter struct {
	http.ResponseWriter
	code     int
	n        int64
	deadline *idleDeadline // nil without IdleBodyTimeout
}

func (c *countingWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	if c.deadline != nil {
		return c.writeSteps(p)
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// idleWriteStep is how much may be written per deadline extension.
// io.Copy hands over a whole in-memory object in one Write (WriterTo), and
// one extension for all of it would cut off a slow but steady reader.
const idleWriteStep = 64 << 10

func (c *countingWriter) writeSteps(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		step := p[:min(len(p), idleWriteStep)]
		c.deadline.extendWrite()
		n, err := c.ResponseWriter.Write(step)
		c.n += int64(n)
		total += n
		if err != nil {
			return total, err
		}
		p = p[n:]
	}
	return total, nil
}

func (c *countingWriter) status() int {
	if c.code == 0 {
		return http.StatusOK
	}
	return c.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// countingReader counts request body bytes and remembers a read failure
// (a client that hung up mid-upload) so it can be told from a store error.
// Some backends read the body from their own goroutine, hence the locking.
type countingReader struct {
	r        io.ReadCloser
	n        atomic.Int64
	eof      atomic.Bool
	mu       sync.Mutex
	err      error
	deadline *idleDeadline // nil without IdleBodyTimeout or body
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.deadline != nil {
		c.deadline.extendRead()
	}
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.eof.Store(true)
	}
	if err != nil && c.deadline != nil {
		c.deadline.bodyDone(err == io.EOF)
	}
	c.n.Add(int64(n))
	if err != nil && err != io.EOF {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

// complete reports whether the body was read to its end: declared bytes
// of it, or EOF for a body of unknown length.
func (c *countingReader) complete(declared int64) bool {
	return c.eof.Load() || (declared >= 0 && c.n.Load() >= declared)
}

// abandon gives up the rest of a body that a refusal leaves unread. Under
// netHTTPDrain unread bytes it cuts the reads (see stopReading); above, it
// hands r its own body back, so that net/http recognises it and neither
// drains it nor answers without its linger.
func (c *countingReader) abandon(w http.ResponseWriter, r *http.Request) {
	if c.deadline != nil {
		c.deadline.bodyOpen.Store(false) // finish must not extend the reads again
	}
	unread := int64(-1) // unknown length: net/http would drain it
	if r.ContentLength >= 0 {
		unread = r.ContentLength - c.n.Load()
	}
	if unread >= netHTTPDrain {
		r.Body = c.r
		return
	}
	stopReading(w, unread)
}

// netHTTPDrain is how much of an unread body net/http reads after the
// handler to keep the connection (its maxPostHandlerReadBytes). A larger
// remainder it does not read: it answers, closes its side and lingers, so
// that a client still sending reads the answer before the reset.
const netHTTPDrain = 256 << 10

// stopReading makes the connection's reads fail from now on and closes it
// after the answer, for a refused body of under netHTTPDrain unread bytes:
// net/http would otherwise wait to drain it, and a client that sends only
// headers would hold that until --body-timeout. A larger remainder is left
// to net/http: cutting it here would skip its linger, and a client still
// sending (restic sends bodies without waiting for 100 Continue) would
// get a reset instead of the answer. A connection without deadlines (none
// of net/http's) keeps reading; the answer still goes out first.
func stopReading(w http.ResponseWriter, unread int64) {
	if unread >= netHTTPDrain {
		return
	}
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// refuseUnread prepares the refusal of a request whose body is not read
// (see stopReading). HTTP/2 resets the stream by itself.
func refuseUnread(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 || r.ContentLength == 0 {
		return
	}
	stopReading(w, r.ContentLength)
}

func (c *countingReader) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// idleDeadline moves the connection's read and write deadlines forward as
// a body makes progress: a client that stalls for longer than d is cut
// off, however long the whole transfer takes.
type idleDeadline struct {
	rc *http.ResponseController
	d  time.Duration
	// Set once the connection says it cannot take deadlines, so that the
	// failing call is not repeated on every read.
	noRead, noWrite atomic.Bool
	bodyOpen        atomic.Bool // a request body not yet read to its end
}

func newIdleDeadline(w http.ResponseWriter, d time.Duration) *idleDeadline {
	dl := &idleDeadline{rc: http.NewResponseController(w), d: d}
	// A write deadline from an earlier request on a kept-alive connection
	// would otherwise still hold (net/http resets it only when the server
	// has a WriteTimeout); this request may legitimately run for long.
	dl.setWrite(time.Time{})
	return dl
}

// extendRead runs before every body read; it may run on a backend's
// goroutine, hence the atomics. Once the body is complete net/http starts
// a background read to notice a client hanging up (clearing the deadline);
// a deadline set after that would fire there and cancel the request while
// the store still confirms the upload, so a read after the end extends
// nothing.
func (dl *idleDeadline) extendRead() {
	if dl.bodyOpen.Load() {
		dl.setRead(time.Now().Add(dl.d))
	}
}

// bodyDone drops the read deadline once the body is complete (HTTP/2 has
// no background read to clear it).
// After a failed read (the deadline fired, the client hung up) the
// deadline stays as it is, so that net/http's drain of the rest gives up
// at once.
func (dl *idleDeadline) bodyDone(complete bool) {
	dl.bodyOpen.Store(false)
	if complete {
		dl.setRead(time.Time{})
	}
}

func (dl *idleDeadline) extendWrite() { dl.setWrite(time.Now().Add(dl.d)) }

// finish bounds the flush of what the handler left buffered, and the
// drain net/http does of a body a handler left unread without refusing
// the request (a refusal abandons the body instead), so that a stalled
// client cannot hold the connection there; the next request on the
// connection resets both.
func (dl *idleDeadline) finish() {
	write := dl.d
	if dl.bodyOpen.Load() {
		// The drain runs before the answer is flushed: give the answer
		// its own period after the drain's.
		dl.setRead(time.Now().Add(dl.d))
		write += dl.d
	}
	dl.setWrite(time.Now().Add(write))
}

func (dl *idleDeadline) setRead(t time.Time) {
	if !dl.noRead.Load() && dl.rc.SetReadDeadline(t) != nil {
		dl.noRead.Store(true)
	}
}

func (dl *idleDeadline) setWrite(t time.Time) {
	if !dl.noWrite.Load() && dl.rc.SetWriteDeadline(t) != nil {
		dl.noWrite.Store(true)
	}
}
