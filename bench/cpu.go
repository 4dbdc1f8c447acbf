package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat (100 on Linux).
const clockTicks = 100

// cpuMeter measures the CPU time a phase costs, load-independent (unlike its rate): this
// process's (the bare loop or the worker, and the SMTP sink that runs in it too) and that
// of the PostgreSQL backends serving the bench database.
type cpuMeter struct {
	db *sqlx.DB
}

// cpuSample is a reading of the meter.
type cpuSample struct {
	self time.Duration
	pg   map[int]time.Duration // per backend pid
}

// cpuCost is a phase's CPU time.
type cpuCost struct{ self, pg time.Duration }

func (m cpuMeter) sample(ctx context.Context) (cpuSample, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuSample{}, fmt.Errorf("getrusage: %w", err)
	}
	s := cpuSample{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), pg: map[int]time.Duration{}}
	var pids []int
	if err := m.db.SelectContext(ctx, &pids, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`); err != nil {
		return cpuSample{}, fmt.Errorf("backends: %w", err)
	}
	for _, pid := range pids {
		if t, ok := procCPU(pid); ok {
			s.pg[pid] = t
		}
	}
	return s, nil
}

// since is the CPU time spent from s0 to s1; a backend that started in between counts
// from zero (one that ended in between is missed: the pool keeps its connections).
func (s1 cpuSample) since(s0 cpuSample) cpuCost {
	c := cpuCost{self: s1.self - s0.self}
	for pid, t := range s1.pg {
		c.pg += t - s0.pg[pid]
	}
	return c
}

// perThousand formats the cost per 1,000 mails.
func (c cpuCost) perThousand(n int) string {
	k := float64(n) / 1000
	return fmt.Sprintf("%.3f s CPU/1000 mails (process %.3f + PostgreSQL %.3f)",
		(c.self+c.pg).Seconds()/k, c.self.Seconds()/k, c.pg.Seconds()/k)
}

// procCPU reads a process's user + system time from /proc (a PostgreSQL backend of the
// server on this machine).
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces; the fields after it start past ")".
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * time.Second / clockTicks, true
}
