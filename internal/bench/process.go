package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat CPU times; it is 100
// on every Linux architecture Go supports.
const clockTicks = 100

// Process is a provider running as its own OS process, so that its CPU
// time and memory are its own.
type Process struct {
	cmd        *exec.Cmd
	healthAddr string
	exited     chan error
}

// StartProcess runs command with more arguments, logging to logPath.
// healthAddr is where it serves /readyz.
func StartProcess(command Command, args []string, logPath, healthAddr string) (*Process, error) {
	if command.Path == "" {
		return nil, errors.New("no program to run: see make bench")
	}
	logFile, err := os.Create(logPath) //nolint:gosec // a log file in the run directory
	if err != nil {
		return nil, err
	}
	binary := command.Path
	cmd := exec.Command(binary, append(slices.Clone(command.Args), args...)...)
	cmd.Env = append(os.Environ(), command.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", filepath.Base(binary), err)
	}
	p := &Process{cmd: cmd, healthAddr: healthAddr, exited: make(chan error, 1)}
	go func() {
		p.exited <- cmd.Wait()
		_ = logFile.Close()
	}()
	return p, nil
}

// WaitReady waits until the process answers /readyz.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	url := "http://" + p.healthAddr + "/readyz"
	for {
		select {
		case err := <-p.exited:
			p.exited <- err
			return fmt.Errorf("%s exited before it was ready: %w", filepath.Base(p.cmd.Path), err)
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s", filepath.Base(p.cmd.Path), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Usage is a process's resource use so far.
type Usage struct {
	// CPUSeconds is user plus system time.
	CPUSeconds float64
	// PeakRSSBytes is the resident set's high-water mark.
	PeakRSSBytes int64
}

// Usage reads /proc for the process's CPU time and peak RSS.
func (p *Process) Usage() (Usage, error) {
	pid := p.cmd.Process.Pid
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, err
	}
	// The command name in parentheses may contain spaces: fields are
	// counted after its closing parenthesis. utime and stime are fields 14
	// and 15 of the line, so 12 and 13 after the name.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return Usage{}, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Usage{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, err
	}
	u := Usage{CPUSeconds: float64(utime+stime) / clockTicks}
	for _, line := range strings.Split(string(status), "\n") {
		if value, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
			if err != nil {
				return Usage{}, err
			}
			u.PeakRSSBytes = kb * 1024
		}
	}
	return u, nil
}

// Stop ends the process: SIGTERM, then SIGKILL after a grace period.
func (p *Process) Stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return nil
	}
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
