package main

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// serverLimits bound what one client can hold of the enqueuer: time to send its
// headers, to send its body and to take the answer, and the number of connections.
type serverLimits struct {
	readHeader time.Duration // the request line and headers
	read       time.Duration // the whole body of an ordinary request; uploads extend it while bytes flow
	write      time.Duration // the whole answer; streamed downloads extend it while the client reads
	idle       time.Duration // a kept-alive connection between requests
	maxConns   int           // open connections; more wait in the kernel's accept queue
}

var defaultLimits = serverLimits{
	readHeader: 10 * time.Second,
	read:       30 * time.Second,
	write:      60 * time.Second,
	idle:       2 * time.Minute,
	maxConns:   1024,
}

// newHTTPServer serves h with the limits. Read and write deadlines are set per request
// (see withDeadlines) rather than as ReadTimeout/WriteTimeout, so that a 256 MiB upload
// on a slow line is bounded by its rate, not by a total time.
func newHTTPServer(h http.Handler, lim serverLimits) *http.Server {
	return &http.Server{
		Handler:           withDeadlines(h, lim),
		ReadHeaderTimeout: lim.readHeader,
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    64 << 10,
	}
}

// listen opens addr with at most lim.maxConns connections at a time.
func listen(addr string, lim serverLimits) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return netutil.LimitListener(ln, lim.maxConns), nil
}

// withDeadlines gives every request a read and a write deadline; a handler that streams
// moves them on with http.ResponseController as it makes progress.
func withDeadlines(h http.Handler, lim serverLimits) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		now := time.Now()
		// Errors mean the connection cannot take deadlines (HTTP/2 over a test recorder); nothing to bound then.
		_ = rc.SetReadDeadline(now.Add(lim.read))
		_ = rc.SetWriteDeadline(now.Add(lim.write))
		h.ServeHTTP(w, r)
	})
}
