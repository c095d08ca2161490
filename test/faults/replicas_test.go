package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/cabpk0s/cabpk0s/internal/childprocess"
	"github.com/cabpk0s/cabpk0s/internal/failpoint"
	"github.com/cabpk0s/cabpk0s/internal/promscrape"
)

// Leader election as a Deployment of two replicas would run it, shortened
// so a takeover fits many times in a run.
const (
	leaseDuration = 6 * time.Second
	renewDeadline = 4 * time.Second
	retryPeriod   = time.Second
	// tokenTTL is short, so a workload outage can outlast it and pending
	// Machines' tokens are refreshed many times in a run.
	tokenTTL = 30 * time.Second
	// restartDelay is how soon an exited replica runs again, as a kubelet
	// restarts a container.
	restartDelay = 500 * time.Millisecond
)

// replica is one manager process, restarted whenever it exits (a kill, a
// lost lease) until the run ends.
type replica struct {
	name        string
	healthAddr  string
	metricsAddr string
	webhookPort string
	logPath     string

	mu   sync.Mutex
	proc *childprocess.Process
	// started counts the processes this replica has run.
	started int
}

func (r *replica) process() *childprocess.Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc
}

// replicas runs the manager replicas of a run, as the test binary itself
// in the manager role (TestMain), with the same wiring as cmd/manager.
type replicas struct {
	env          *environment
	self         string
	failpointDir string
	list         []*replica

	mu      sync.Mutex
	kills   int
	arms    int
	exits   []string
	stopped bool
	wg      sync.WaitGroup
}

func startReplicas(ctx context.Context, env *environment, n int) (*replicas, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	rs := &replicas{env: env, self: self, failpointDir: filepath.Join(env.dir, "failpoints")}
	if err := os.MkdirAll(rs.failpointDir, 0o700); err != nil {
		return nil, err
	}
	for i := range n {
		r := &replica{name: fmt.Sprintf("replica-%d", i), logPath: filepath.Join(env.dir, fmt.Sprintf("replica-%d.log", i))}
		for _, addr := range []*string{&r.healthAddr, &r.metricsAddr} {
			if *addr, err = childprocess.FreeAddr(); err != nil {
				return nil, err
			}
		}
		webhookAddr, err := childprocess.FreeAddr()
		if err != nil {
			return nil, err
		}
		if _, r.webhookPort, err = net.SplitHostPort(webhookAddr); err != nil {
			return nil, err
		}
		if err := rs.run(r); err != nil {
			return nil, err
		}
		rs.list = append(rs.list, r)
	}
	for _, r := range rs.list {
		if err := r.process().WaitReady(ctx, childprocess.HTTPProbe(nil, "http://"+r.healthAddr+"/readyz"), 2*time.Minute); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

func (rs *replicas) args(r *replica) []string {
	return []string{
		"--kubeconfig", rs.env.kubeconfig,
		"--leader-elect",
		"--leader-elect-namespace", namespace,
		"--leader-elect-lease-duration", leaseDuration.String(),
		"--leader-elect-renew-deadline", renewDeadline.String(),
		"--leader-elect-retry-period", retryPeriod.String(),
		"--bootstrap-token-ttl", tokenTTL.String(),
		"--health-addr", r.healthAddr,
		"--webhook-port", r.webhookPort,
		"--webhook-cert-dir", rs.env.management.WebhookCertDir(),
		"--diagnostics-address", r.metricsAddr, "--insecure-diagnostics",
	}
}

// run starts r's process and supervises it: when it exits it is started
// again, until stop. Starting holds rs.mu, so once stop has set stopped
// no process is started that stop would not see.
func (rs *replicas) run(r *replica) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.stopped {
		return nil
	}
	proc, err := childprocess.Start(childprocess.Command{
		Path: rs.self,
		Env:  []string{roleEnv + "=manager", failpointDirEnv + "=" + rs.failpointDir},
	}, rs.args(r), r.logPath)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.proc = proc
	r.started++
	r.mu.Unlock()
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		<-proc.Done()
		_, exitErr := proc.Exited()
		rs.mu.Lock()
		stopped := rs.stopped
		if !stopped {
			rs.exits = append(rs.exits, fmt.Sprintf("%s pid %d: %v", r.name, proc.Pid(), exitErr))
		}
		rs.mu.Unlock()
		if stopped {
			return
		}
		time.Sleep(restartDelay)
		if err := rs.run(r); err != nil {
			rs.mu.Lock()
			rs.exits = append(rs.exits, fmt.Sprintf("%s could not be restarted: %v", r.name, err))
			rs.mu.Unlock()
		}
	}()
	return nil
}

// kill sends SIGKILL to r's process; its supervisor starts another.
func (rs *replicas) kill(r *replica) {
	proc := r.process()
	if exited, _ := proc.Exited(); exited {
		return
	}
	rs.mu.Lock()
	rs.kills++
	rs.mu.Unlock()
	proc.Kill()
}

// leader is the replica whose process holds the lease, by its own
// leader_election_master_status metric; nil when none does.
func (rs *replicas) leader(ctx context.Context) *replica {
	for _, r := range rs.list {
		m, err := scrape(ctx, r.metricsAddr)
		if err == nil && m["leader_election_master_status{name=cabpk0s-manager-leader-election}"] == 1 {
			return r
		}
	}
	return nil
}

// armFailpoint makes the next replica to reach name kill itself there.
// Arms add up: each is a file of its own, taken by one hit.
func (rs *replicas) armFailpoint(name failpoint.Name) error {
	rs.mu.Lock()
	rs.arms++
	n := rs.arms
	rs.mu.Unlock()
	return os.WriteFile(filepath.Join(rs.failpointDir, fmt.Sprintf("%s-%d", name, n)), nil, 0o600)
}

// failpointKills counts the processes that killed themselves at name.
func (rs *replicas) failpointKills(name failpoint.Name) int {
	hits, _ := filepath.Glob(filepath.Join(rs.failpointDir, "hit-"+string(name)+"-*"))
	return len(hits)
}

// stop ends every replica for good.
func (rs *replicas) stop() {
	rs.mu.Lock()
	rs.stopped = true
	rs.mu.Unlock()
	for _, r := range rs.list {
		if p := r.process(); p != nil {
			p.Stop(5 * time.Second)
		}
	}
	rs.wg.Wait()
}

// sigkills counts the processes killed with SIGKILL: by the harness, and
// by themselves at an armed failpoint.
func (rs *replicas) sigkills() int {
	rs.mu.Lock()
	kills := rs.kills
	rs.mu.Unlock()
	return kills + rs.failpointKills(failpoint.JoinTokenCreated) + rs.failpointKills(failpoint.DataSecretWritten)
}

// exited lists how each process but the last of a replica ended.
func (rs *replicas) exited() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.exits)
}

// processes counts every process the replicas ran.
func (rs *replicas) processes() int {
	n := 0
	for _, r := range rs.list {
		r.mu.Lock()
		n += r.started
		r.mu.Unlock()
	}
	return n
}

// registerFailpoints, in a manager process, makes each failpoint kill the
// process when the harness armed it: the first replica to remove an
// armed file takes it, records the hit and dies on the spot.
func registerFailpoints(dir string) {
	if dir == "" {
		return
	}
	for _, name := range []failpoint.Name{failpoint.JoinTokenCreated, failpoint.DataSecretWritten} {
		failpoint.Register(name, func() {
			arms, _ := filepath.Glob(filepath.Join(dir, string(name)+"-*"))
			for _, arm := range arms {
				if os.Remove(arm) != nil {
					continue // another replica took it
				}
				_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("hit-%s-%d", name, os.Getpid())), nil, 0o600)
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				return
			}
		})
	}
}

// scrape reads the series of a replica the suite looks at: who leads, and
// how many goroutines and how much memory it has.
func scrape(ctx context.Context, addr string) (map[string]float64, error) {
	return promscrape.Scrape(ctx, addr, func(name string) bool {
		return name == "leader_election_master_status" || name == "go_goroutines" || name == "process_resident_memory_bytes"
	})
}
