package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
	"sigs.k8s.io/cluster-api/controllers/clustercache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cabpk0s/cabpk0s/internal/manager"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// testTokenTTL is short so refreshes happen within a test's patience.
const testTokenTTL = 30 * time.Second

// joinVersion is the k0s a machine joining with a bare token runs.
const joinVersion = "v1.33.4+k0s.0"

// publishedMinors are the Kubernetes minors the workload's control plane
// publishes worker profiles for: those of the k0s versions the tests'
// machines run (as during a control plane's rolling upgrade, when
// controllers of two minors each publish theirs).
var publishedMinors = []string{"1.27", "1.28", "1.33"}

var (
	env      *testenv.Management
	workload *testenv.Workload

	// logs captures everything the in-process controllers log, so the
	// suite can prove no credential ever reaches a log line.
	logs = &syncBuffer{}
	// credentials are the secrets the tests saw; none may appear in logs.
	credentials sync.Map
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func rememberCredential(s string) { credentials.Store(s, true) }

func TestMain(m *testing.M) {
	ctx := context.Background()
	// V(4): everything cabpk0s and Cluster API log while reconciling.
	// From V(5) on, controller-runtime v0.24's priority queue logs its items
	// after releasing its lock (a data race the race detector reports), and
	// from V(8) client-go dumps request bodies, Secrets included.
	logger := zap.New(zap.WriteTo(logs), zap.Level(zapcore.Level(-4)))
	klog.SetLogger(logger)

	var err error
	if workload, err = testenv.StartWorkload(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, minor := range publishedMinors {
		if err := workload.PublishWorkerProfiles(ctx, minor, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			_ = workload.Stop()
			os.Exit(1)
		}
	}
	opts := &manager.Options{Concurrency: 5, BootstrapTokenTTL: testTokenTTL}
	env, err = testenv.StartManagement(ctx, testenv.ManagementOptions{
		Logger:          logger,
		CAPIControllers: true,
		Setup: func(ctx context.Context, mgr ctrl.Manager, clusterCache clustercache.ClusterCache) error {
			if err := (&simulation.InfrastructureSimulator{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
				return err
			}
			return opts.SetupReconcilers(ctx, mgr, clusterCache)
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = workload.Stop()
		os.Exit(1)
	}

	code := m.Run()

	captured := logs.String()
	// CONTROLLER_LOG=<file> keeps the controllers' logs for debugging.
	if path := os.Getenv("CONTROLLER_LOG"); path != "" {
		_ = os.WriteFile(path, []byte(captured), 0o600)
	}
	recorded := 0
	credentials.Range(func(key, _ any) bool {
		recorded++
		// The logs are JSON: a multi-line credential (a private key) is
		// looked for as JSON writes it too.
		secret := key.(string)
		quoted, _ := json.Marshal(secret)
		if strings.Contains(captured, secret) || strings.Contains(captured, strings.Trim(string(quoted), `"`)) {
			fmt.Fprintf(os.Stderr, "a credential (%d characters) appears in the controller logs\n", len(secret))
			code = 1
		}
		return true
	})
	if recorded == 0 {
		// Nothing was looked for, so nothing was proved. A run of a few
		// tests (-run, -skip) may well see no credential: it is told so.
		const msg = "no credential was recorded (rememberCredential): the secret-leak check of the controller logs proved nothing"
		if filtered() {
			fmt.Fprintln(os.Stderr, "warning: "+msg)
		} else {
			fmt.Fprintln(os.Stderr, "FAIL: "+msg)
			code = 1
		}
	}
	if len(captured) == 0 {
		fmt.Fprintln(os.Stderr, "no controller logs were captured: the secret-leak check proved nothing")
		code = 1
	}

	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if err := workload.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// filtered says whether -run or -skip chose which tests ran.
func filtered() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return true
		}
	}
	return false
}
