// Package childprocess runs a program as a child of the test or benchmark
// harness: the provider under measurement, a kube-controller-manager, a
// manager replica the fault suite kills. Its output goes to a log file;
// it can be probed until ready, measured from /proc, stopped politely or
// killed outright. It runs in a process group of its own and dies with
// the harness, so a harness killed mid-run leaves nothing behind.
package childprocess

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

// Command is a program and the arguments and environment it always gets.
type Command struct {
	Path string
	Args []string
	Env  []string
}

// Process is a running (or exited) child process.
type Process struct {
	// LogPath holds the process's standard output and error.
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs command with more arguments. Its output is appended to
// logPath, so a program restarted under the same log keeps one history.
func Start(command Command, args []string, logPath string) (*Process, error) {
	if command.Path == "" {
		return nil, errors.New("no program to run")
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // a log file the harness chose
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(command.Path, append(slices.Clone(command.Args), args...)...)
	cmd.Env = append(os.Environ(), command.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", filepath.Base(command.Path), err)
	}
	p := &Process{LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Name is the program's file name, for messages.
func (p *Process) Name() string { return filepath.Base(p.cmd.Path) }

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Probe answers nil once a process is ready.
type Probe func(ctx context.Context) error

// HTTPProbe is ready when url answers 200 OK through httpClient
// (http.DefaultClient when nil).
func HTTPProbe(httpClient *http.Client, url string) Probe {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %s", url, resp.Status)
		}
		return nil
	}
}

// WaitReady polls probe until it succeeds, the process exits or timeout
// passes; the errors carry the end of the process's log.
func (p *Process) WaitReady(ctx context.Context, probe Probe, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if exited, err := p.Exited(); exited {
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("%s exited before it was ready: %w: %s", p.Name(), err, Tail(p.LogPath, 2000))
		}
		probeErr := probe(ctx)
		if probeErr == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (%w): %s", p.Name(), timeout, probeErr, Tail(p.LogPath, 2000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends the process group: SIGTERM, then SIGKILL once grace has
// passed. It returns once the process has exited.
func (p *Process) Stop(grace time.Duration) {
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill ends the process group with SIGKILL, giving the program no chance
// to clean up, and returns once the process has exited.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.done
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat CPU times; it is 100
// on every Linux architecture Go supports.
const clockTicks = 100

// Usage is a process's resource use so far.
type Usage struct {
	// CPUSeconds is user plus system time.
	CPUSeconds float64
	// PeakRSSBytes is the resident set's high-water mark.
	PeakRSSBytes int64
	// RSSBytes is the resident set now.
	RSSBytes int64
}

// Usage reads /proc for the process's CPU time and memory.
func (p *Process) Usage() (Usage, error) {
	pid := p.Pid()
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
		for prefix, field := range map[string]*int64{"VmHWM:": &u.PeakRSSBytes, "VmRSS:": &u.RSSBytes} {
			value, ok := strings.CutPrefix(line, prefix)
			if !ok {
				continue
			}
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
			if err != nil {
				return Usage{}, err
			}
			*field = kb * 1024
		}
	}
	return u, nil
}

// FreeAddr returns a loopback address with a port nobody listens on.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// FreePort returns a loopback port nobody listens on.
func FreePort() (int, error) {
	addr, err := FreeAddr()
	if err != nil {
		return 0, err
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(port)
}

// Tail is the last n bytes of a log file, for an error message.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path) //nolint:gosec // a log file the harness wrote
	if err != nil {
		return err.Error()
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}
