package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

var testLimits = serverLimits{readHeader: time.Second, read: time.Second, write: time.Second, idle: time.Second, maxConns: 2}

func startServer(t *testing.T, h http.Handler, lim serverLimits) string {
	t.Helper()
	ln, err := listen("127.0.0.1:0", lim)
	if err != nil {
		t.Fatal(err)
	}
	hs := newHTTPServer(h, lim)
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// A client that dribbles its body is answered and cut off at the read deadline; it does
// not hold the connection (or, behind it, a database connection) for as long as it likes.
func TestDribbledBodyIsCutOff(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "too slow", http.StatusRequestTimeout)
		}
	})
	addr := startServer(t, h, testLimits)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("POST /v1/imports HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"))
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, conn) // until the server closes the connection
		closed <- time.Since(start)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case d := <-closed:
			if d > 5*time.Second {
				t.Errorf("the connection was closed after %s; the read deadline is %s", d, testLimits.read)
			}
			return
		case <-tick.C:
			conn.Write([]byte("x"))
		case <-time.After(10 * time.Second):
			t.Fatal("a dribbled body held the connection for 10 s")
		}
	}
}

// A client that never reads a large answer releases the handler at the write deadline.
func TestUnreadAnswerIsCutOff(t *testing.T) {
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 1<<20))
		for range 512 {
			if _, err := w.Write(chunk); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	})
	addr := startServer(t, h, testLimits)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /big HTTP/1.1\r\nHost: x\r\n\r\n"))
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("512 MiB were written to a client that reads nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler still writes to a client that reads nothing after 10 s")
	}
}

// Connections are bounded: past maxConns a new client waits until one is free.
func TestConnectionsAreBounded(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	lim := testLimits
	lim.readHeader, lim.idle = 3*time.Second, 3*time.Second
	addr := startServer(t, h, lim)
	var held []net.Conn
	for range lim.maxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("GET / HTTP/1.1\r\n")) // headers never finished
		held = append(held, c)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
		t.Fatal("a connection past the bound was served while the others were held")
	}
	for _, h := range held {
		h.Close()
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("once a connection was free: %q %v", line, err)
	}
}
