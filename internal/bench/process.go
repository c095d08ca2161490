package bench

import (
	"context"
	"errors"
	"time"

	"github.com/cabpk0s/cabpk0s/internal/childprocess"
)

// Command is a program and the arguments and environment it always gets.
type Command = childprocess.Command

// Process is a provider running as its own OS process, so that its CPU
// time and memory are its own; healthAddr is where it serves /readyz.
type Process struct {
	*childprocess.Process
	healthAddr string
}

// StartProcess runs command with more arguments, logging to logPath.
// healthAddr is where it serves /readyz.
func StartProcess(command Command, args []string, logPath, healthAddr string) (*Process, error) {
	if command.Path == "" {
		return nil, errors.New("no program to run: see make bench")
	}
	p, err := childprocess.Start(command, args, logPath)
	if err != nil {
		return nil, err
	}
	return &Process{Process: p, healthAddr: healthAddr}, nil
}

// WaitReady waits until the process answers /readyz.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration) error {
	return p.Process.WaitReady(ctx, childprocess.HTTPProbe(nil, "http://"+p.healthAddr+"/readyz"), timeout)
}

// Stop ends the process: SIGTERM, then SIGKILL after a grace period.
func (p *Process) Stop() error {
	p.Process.Stop(10 * time.Second)
	return nil
}

func freeAddr() (string, error) { return childprocess.FreeAddr() }
