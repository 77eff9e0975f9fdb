package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// On a small machine the service, Redis and the load generator compete for
// the same cores, and then the figures say as much about the kernel's
// scheduler as about the service. redis-benchmark's figure is one core of
// Redis (it is single-threaded) against one core of client. So the
// benchmark gives the server under test a CPU of its own and everything
// else another one: for /ping, the server driven (the service, the peer or
// the ceiling, all three started on that CPU) alone on one CPU, the load
// generator and Redis on the other; for redis-benchmark, Redis alone on one
// CPU and redis-benchmark on the other. Pinned to one CPU, a Go server's
// runtime also schedules its goroutines on one thread (GOMAXPROCS follows
// the CPUs a process may use).

// pinning is the CPUs the benchmark runs on, as taskset numbers them.
type pinning struct {
	server, client string // empty when not pinned
	note           string // how the run was pinned, or why not, for the report
}

func (p pinning) pinned() bool { return p.server != "" }

// choosePinning picks the first two CPUs this process may use, or says why
// the run cannot be pinned. Not pinning is no error: the figures are still
// exact, only more dependent on the scheduler.
func choosePinning(want bool) pinning {
	if !want {
		return pinning{note: "not pinned (-pin=false): the kernel moves the processes between the CPUs"}
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return pinning{note: "not pinned: there is no taskset command (it comes with util-linux)"}
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return pinning{note: "not pinned: " + err.Error()}
	}
	cpus, err := allowedCPUs(status)
	if err != nil {
		return pinning{note: "not pinned: " + err.Error()}
	}
	if len(cpus) < 2 {
		return pinning{note: "not pinned: this process may use only one CPU"}
	}
	server, client := strconv.Itoa(cpus[1]), strconv.Itoa(cpus[0])
	return pinning{
		server: server,
		client: client,
		note: fmt.Sprintf("the server under test alone on CPU %s: the service, the peer and the ceiling (each idle while another is driven), "+
			"redis-server while redis-benchmark runs; the load generator, redis-benchmark and, while /ping is driven, redis-server on CPU %s", server, client),
	}
}

// allowedCPUs reads the Cpus_allowed_list line of /proc/<pid>/status, such
// as "0-3,8", in increasing order.
func allowedCPUs(status []byte) ([]int, error) {
	for line := range strings.Lines(string(status)) {
		list, ok := strings.CutPrefix(line, "Cpus_allowed_list:")
		if !ok {
			continue
		}
		var cpus []int
		for _, part := range strings.Split(strings.TrimSpace(list), ",") {
			first, last, isRange := strings.Cut(part, "-")
			if !isRange {
				last = first
			}
			from, err1 := strconv.Atoi(first)
			to, err2 := strconv.Atoi(last)
			if err1 != nil || err2 != nil || from > to {
				return nil, fmt.Errorf("unexpected Cpus_allowed_list %q", strings.TrimSpace(list))
			}
			for cpu := from; cpu <= to; cpu++ {
				cpus = append(cpus, cpu)
			}
		}
		return cpus, nil
	}
	return nil, errors.New("no Cpus_allowed_list line in /proc/self/status")
}

// move lets every thread of the running process pid use only cpu. Threads
// it starts later inherit that from the thread that starts them.
func move(pid int, cpu string) error {
	if out, err := exec.Command("taskset", "--all-tasks", "--cpu-list", "--pid", cpu, strconv.Itoa(pid)).CombinedOutput(); err != nil {
		return fmt.Errorf("taskset: %w\n%s", err, out)
	}
	return nil
}

// onCPU returns the command line that runs path with args on cpu alone,
// from its first instruction: a Go program reads at start how many CPUs
// it may use. Without pinning it is path and args unchanged.
func onCPU(cpu, path string, args ...string) (string, []string) {
	if cpu == "" {
		return path, args
	}
	return "taskset", append([]string{"--cpu-list", cpu, path}, args...)
}
