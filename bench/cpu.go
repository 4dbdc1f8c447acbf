package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const clockTicks = 100

// cpuMeter measures the CPU seconds an apply costs on this machine, whatever the load:
// this process's own and that of the PostgreSQL processes serving the bench database
// (its backends and their parallel workers), read from /proc. Parallel workers live
// only for one query, so /proc is sampled every 20 ms while it runs and each process's
// last reading counts; a worker's last 20 ms may be missed.
type cpuMeter struct {
	db        string
	startSelf float64
	base      map[int]float64 // CPU seconds of the processes that existed at start
	stop      chan struct{}
	done      sync.WaitGroup
	mu        sync.Mutex
	last      map[int]float64
}

func startCPUMeter(db string) *cpuMeter {
	m := &cpuMeter{db: db, startSelf: selfCPU(), stop: make(chan struct{}), last: map[int]float64{}}
	m.base = m.sample()
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-tick.C:
				m.record(m.sample())
			}
		}
	}()
	return m
}

// Stop ends the measurement and returns the CPU seconds of this process and of the
// database's PostgreSQL processes since start.
func (m *cpuMeter) Stop() (self, pg float64) {
	close(m.stop)
	m.done.Wait()
	m.record(m.sample())
	for pid, s := range m.last {
		pg += s - m.base[pid]
	}
	return selfCPU() - m.startSelf, pg
}

func (m *cpuMeter) record(s map[int]float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for pid, v := range s {
		m.last[pid] = v
	}
}

// sample reads the CPU seconds of the backends of the database (process title
// "postgres: [cluster:] <user> <db> …") and of the parallel workers of those backends.
func (m *cpuMeter) sample() map[int]float64 {
	out := map[int]float64{}
	workers := map[int]int{} // parallel worker → its leader
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		b, err := os.ReadFile(d + "/cmdline")
		if err != nil || !strings.HasPrefix(string(b), "postgres: ") {
			continue
		}
		f := strings.Fields(strings.TrimRight(string(b), "\x00 "))[1:]
		if len(f) > 0 && strings.HasSuffix(f[0], ":") {
			f = f[1:] // the cluster name, "15/main:"
		}
		switch {
		case len(f) >= 2 && f[1] == m.db:
		case len(f) >= 5 && f[0] == "parallel" && f[1] == "worker":
			leader, _ := strconv.Atoi(f[4])
			workers[pid] = leader
			continue
		default:
			continue
		}
		if s, ok := procCPU(d); ok {
			out[pid] = s
		}
	}
	for pid, leader := range workers {
		if _, ok := out[leader]; ok {
			if s, ok := procCPU("/proc/" + strconv.Itoa(pid)); ok {
				out[pid] = s
			}
		}
	}
	return out
}

// procCPU is utime + stime of the process at dir, in seconds.
func procCPU(dir string) (float64, bool) {
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0, false
	}
	// The fields after the command name (in parentheses, may hold spaces).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / clockTicks, true
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime)).Seconds()
}

// cpuCost is a phase's CPU seconds: this process's (the bare loop or the worker, and the
// SMTP sink that runs in it too) and the bench database's PostgreSQL processes'.
type cpuCost struct{ self, pg float64 }

// perThousand formats the cost per 1,000 mails.
func (c cpuCost) perThousand(n int) string {
	k := float64(n) / 1000
	return fmt.Sprintf("%.3f s CPU/1000 mails (process %.3f + PostgreSQL %.3f)", (c.self+c.pg)/k, c.self/k, c.pg/k)
}
