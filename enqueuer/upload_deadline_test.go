package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"portalwerk/enqueuer/api"
	"portalwerk/jobs"
	"portalwerk/store"
	"portalwerk/store/storetest"
)

// An upload above the minimum rate outlives the server's read deadline of an ordinary
// request (1 s here): the upload moves the deadline on as bytes arrive.
func TestSteadyUploadOutlivesTheReadDeadline(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	addr, idx := storetest.RedisDB(t)
	queue := asynq.NewClient(asynq.RedisClientOpt{Addr: addr, DB: idx})
	defer queue.Close()
	mux := http.NewServeMux()
	api.New(storetest.Logger(t), db, jobs.NewClient(queue), api.Config{MinUploadRate: 1 << 10, UploadGrace: time.Second}).Mount(mux)
	lim := testLimits
	lim.maxConns = 10
	srvAddr := startServer(t, mux, lim)

	key, hash := store.NewAPIKey()
	if _, err := store.CreateAccount(context.Background(), db, storetest.Tenant(), "huber", store.RoleAdmin, false, hash); err != nil {
		t.Fatal(err)
	}
	body := "--B\r\nContent-Disposition: form-data; name=\"profile\"\r\n\r\nemails\r\n" +
		"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"n.csv\"\r\n\r\nNutzerfremdnummer;E-Mail\n" +
		strings.Repeat("1;a@example.de\n", 1600) + "\r\n--B--\r\n" // 24 kB at 8 kB/s: 3 s
	c, err := net.Dial("tcp", srvAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/imports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: %d\r\n\r\n", key, len(body))
	start := time.Now()
	for p := 0; p < len(body); p += 800 {
		if _, err := c.Write([]byte(body[p:min(p+800, len(body))])); err != nil {
			t.Fatalf("the server stopped reading after %s: %v", time.Since(start), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(start)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || took < 2*lim.read {
		t.Errorf("an upload over %s (read deadline %s): %d, want 202", took, lim.read, resp.StatusCode)
	}
}
