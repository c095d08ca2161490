// Command bench runs the bootstrap benchmark (make bench): cabpk0s, CABPK
// and the floor, each scaling a MachineDeployment from 0 to N on fresh
// real API servers, and writes a JSON report and a markdown section for
// docs/benchmarks.md. It reports; a person judges.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cabpk0s/cabpk0s/internal/bench"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

func main() {
	if err := dispatch(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func dispatch() error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "floor":
		err = bench.FloorMain(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "measure":
		err = measure(ctx, os.Args[2:])
	default:
		err = run(ctx)
	}
	return err
}

func run(ctx context.Context) error {
	sizes := flag.String("n", "300", "comma-separated machine counts of the scale-up scenario; empty for none")
	saturationSizes := flag.String("saturation-n", "1000,10000", "comma-separated machine counts of the saturation scenario; empty for none")
	restartAt := flag.Int("restart-at", 10000, "measure a restart after the saturation run of this N (cabpk0s and CABPK); 0 for none")
	// 10 clusters is not measured by default: with CABPK beside cabpk0s it
	// adds about 10 minutes, and the slope is taken from 1 and 100.
	clusterCounts := flag.String("clusters", "1,100", "comma-separated workload cluster counts of the clusters scenario (cabpk0s and CABPK); empty for none")
	clustersN := flag.Int("clusters-n", 10000, "machines the clusters scenario spreads over the clusters")
	pendingN := flag.Int("pending-n", 10000, "pending machines of the pending scenario (cabpk0s and CABPK); 0 for none")
	// CABPK bootstraps 7-14 machines per second here: 10,000 would take
	// half of the benchmark's time before its pending window starts.
	pendingCABPKN := flag.Int("pending-cabpk-n", 1000, "pending machines CABPK is measured with (its figures are per machine); 0 for -pending-n")
	providers := flag.String("providers", strings.Join(bench.Providers(), ","), "comma-separated providers to measure")
	var common measureFlags
	common.register(flag.CommandLine)
	cabpkVersion := flag.String("cabpk-version", "", "the CABPK binary's version, for the report")
	markdown := flag.String("markdown", "docs/benchmarks.md", "markdown file the report is appended to; empty for none")
	jsonOut := flag.String("json", "", "JSON report path (default docs/bench/<date>.json, beside the markdown)")
	flag.Parse()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	date := time.Now()
	outDir := filepath.Join("out", "bench", date.Format("20060102-150405"))
	if *jsonOut == "" {
		*jsonOut = filepath.Join("docs", "bench", date.Format("20060102-150405")+".json")
	}

	report := &bench.Report{
		Date:    date,
		Machine: bench.MachineDescription(),
		Versions: map[string]string{
			"cabpk0s":        gitDescribe(),
			"CABPK":          *cabpkVersion,
			"kube-apiserver": kubeAPIServerVersion(),
			"go":             runtime.Version(),
		},
	}
	runs, err := plan(*sizes, *saturationSizes, *providers, *restartAt)
	if err != nil {
		return err
	}
	more, fromSaturation, err := planClusters(*clusterCounts, *clustersN, *providers, *saturationSizes)
	if err != nil {
		return err
	}
	runs = append(runs, more...)
	if *pendingN > 0 {
		for _, p := range strings.Split(*providers, ",") {
			n := *pendingN
			if p = strings.TrimSpace(p); p == bench.CABPK && *pendingCABPKN > 0 {
				n = min(n, *pendingCABPKN)
			}
			if p != bench.Floor {
				runs = append(runs, measurement{scenario: bench.PendingScenario, provider: p, n: n})
			}
		}
	}
	if len(runs) == 0 {
		return errors.New("nothing to measure: -n, -saturation-n, -clusters and -pending-n are all empty")
	}
	for _, r := range runs {
		fmt.Printf("measuring %s at N=%d (%s%s)\n", r.provider, r.n, r.scenario, r.clustersLabel())
		// Each measurement runs in a process of its own: a fresh
		// harness, since Cluster API's controllers register
		// process-wide names, and nothing left over from the last run.
		dir := filepath.Join(outDir, fmt.Sprintf("%s-%s-%d", r.scenario, r.provider, r.n))
		if r.clusters > 0 {
			dir += fmt.Sprintf("-c%d", r.clusters)
		}
		resultPath := filepath.Join(dir, "result.json")
		args := append([]string{"measure", "-scenario", r.scenario, "-provider", r.provider, "-n", strconv.Itoa(r.n),
			"-clusters", strconv.Itoa(r.clusters), "-restart=" + strconv.FormatBool(r.restart), "-dir", dir, "-result", resultPath}, common.args()...)
		cmd := exec.CommandContext(ctx, self, args...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s at N=%d%s: %w", r.scenario, r.provider, r.n, r.clustersLabel(), err)
		}
		var result bench.Result
		data, err := os.ReadFile(resultPath) //nolint:gosec // written by the measure step just run
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &result); err != nil {
			return err
		}
		fmt.Printf("  %s %s N=%d%s: %.1f s (%.1f machines/s), p50 %.2f s, p99 %.2f s, %.1f CPU s, peak RSS %.0f MiB\n",
			r.scenario, r.provider, r.n, r.clustersLabel(), result.WallSeconds, result.MachinesPerSecond, result.P50Seconds, result.P99Seconds,
			result.CPUSeconds, float64(result.PeakRSSBytes)/(1<<20))
		if pr := result.Pending; pr != nil {
			fmt.Printf("  pending for %d TTLs of %.0f s: %.2f token writes per machine per TTL, %.2f CPU s per TTL, %d tokens expired\n",
				pr.Periods, pr.TTLSeconds, pr.WritesPerMachinePerTTL, pr.CPUSecondsPerPeriod, pr.TokensExpired)
		}
		if rs := result.Restart; rs != nil {
			fmt.Printf("  restart with %d configs: idle after %.1f s, initial list %.1f s, %d writes, %d gets\n",
				rs.Configs, rs.IdleSeconds, rs.InitialListSeconds, rs.Management.Writes()+rs.Workload.Writes(), rs.UncachedReads())
		}
		report.Results = append(report.Results, result)
	}
	if fromSaturation {
		for _, res := range slices.Clone(report.Results) {
			if res.Scenario == bench.SaturationScenario && res.N == *clustersN && res.Provider != bench.Floor {
				report.Results = append(report.Results, bench.OneClusterResult(res))
			}
		}
	}
	report.ComputeRatios()
	if err := writePlots(report, *markdown, *jsonOut); err != nil {
		return err
	}

	data, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*jsonOut), 0o750); err != nil {
		return err
	}
	if err := os.WriteFile(*jsonOut, append(data, '\n'), 0o600); err != nil {
		return err
	}
	if err := report.WriteMarkdown(os.Stdout); err != nil {
		return err
	}
	if *markdown != "" {
		f, err := os.OpenFile(*markdown, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644) //nolint:gosec // a document in the repository
		if err != nil {
			return err
		}
		defer f.Close()
		if err := report.WriteMarkdown(f); err != nil {
			return err
		}
	}
	fmt.Printf("\nJSON report: %s\n", *jsonOut)
	return nil
}

// measurement is one step of the plan.
type measurement struct {
	scenario, provider string
	n, clusters        int
	restart            bool
}

func (m measurement) clustersLabel() string {
	if m.clusters == 0 {
		return ""
	}
	return fmt.Sprintf(", %d clusters", m.clusters)
}

// planClusters lists the clusters scenario's measurements: n machines
// over each of counts clusters, for cabpk0s and CABPK among providers. One
// Cluster is not measured again when the saturation scenario runs at n:
// fromSaturation says its result is to be taken from there.
func planClusters(counts string, n int, providers, saturationSizes string) (_ []measurement, fromSaturation bool, _ error) {
	if strings.TrimSpace(counts) == "" {
		return nil, false, nil
	}
	saturationAtN := slices.ContainsFunc(strings.Split(saturationSizes, ","), func(f string) bool { return strings.TrimSpace(f) == strconv.Itoa(n) })
	var runs []measurement
	for _, field := range strings.Split(counts, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || c < 1 {
			return nil, false, fmt.Errorf("%q is not a cluster count", field)
		}
		if c == 1 && saturationAtN {
			fromSaturation = true
			continue
		}
		for _, p := range strings.Split(providers, ",") {
			if p = strings.TrimSpace(p); p != bench.Floor {
				runs = append(runs, measurement{scenario: bench.ClustersScenario, provider: p, n: n, clusters: c})
			}
		}
	}
	return runs, fromSaturation, nil
}

// plan lists the measurements: the scale-up at each of sizes, then the
// saturation at each of saturationSizes, every provider at each.
func plan(sizes, saturationSizes, providers string, restartAt int) ([]measurement, error) {
	var runs []measurement
	for _, s := range []struct{ scenario, sizes string }{{bench.ScaleScenario, sizes}, {bench.SaturationScenario, saturationSizes}} {
		if strings.TrimSpace(s.sizes) == "" {
			continue
		}
		for _, field := range strings.Split(s.sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(field))
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%q is not a machine count", field)
			}
			for _, p := range strings.Split(providers, ",") {
				p = strings.TrimSpace(p)
				restart := s.scenario == bench.SaturationScenario && n == restartAt && p != bench.Floor
				runs = append(runs, measurement{scenario: s.scenario, provider: p, n: n, restart: restart})
			}
		}
	}
	return runs, nil
}

// writePlots draws the saturation scenario's ready curves as SVG files
// beside the JSON report and records them for the markdown, which links
// them relative to itself.
func writePlots(report *bench.Report, markdown, jsonOut string) error {
	base := strings.TrimSuffix(jsonOut, filepath.Ext(jsonOut))
	plots := map[string]bench.Plot{}
	for n, plot := range report.SaturationPlots() {
		plots[fmt.Sprintf("%s-saturation-%d.svg", base, n)] = plot
	}
	if plot, ok := report.ClustersPlot(); ok {
		plots[base+"-clusters-rss.svg"] = plot
	}
	for path, plot := range plots {
		f, err := os.Create(path) //nolint:gosec // beside the report this run writes
		if err != nil {
			return err
		}
		err = plot.WriteSVG(f)
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
		if err != nil {
			return err
		}
		link := path
		if markdown != "" {
			if rel, err := filepath.Rel(filepath.Dir(markdown), path); err == nil {
				link = rel
			}
		}
		report.Plots = append(report.Plots, filepath.ToSlash(link))
	}
	sort.Strings(report.Plots)
	return nil
}

// measure runs one provider at one N and writes the result as JSON.
func measure(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("measure", flag.ContinueOnError)
	scenario := fs.String("scenario", bench.ScaleScenario, "scenario to run")
	provider := fs.String("provider", "", "provider to measure")
	restart := fs.Bool("restart", false, "measure a restart once the configs are settled")
	n := fs.Int("n", 0, "machine count")
	clusters := fs.Int("clusters", 0, "workload clusters (clusters scenario)")
	dir := fs.String("dir", "", "directory for logs and audit logs")
	resultPath := fs.String("result", "", "where to write the JSON result")
	var common measureFlags
	common.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The harness's own errors (a MachineSet reconcile cut short by its
	// timeout at N=1000, requests cancelled at teardown) are Cluster API's
	// to retry and say nothing about the provider; -v shows them.
	log := logr.Discard()
	if common.verbose {
		log = zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.InfoLevel))
	}
	result, err := bench.Run(ctx, bench.RunOptions{
		Scenario: *scenario, Provider: *provider, N: *n, Clusters: *clusters, Restart: *restart,
		Commands: bench.Commands{
			Manager: bench.Command{Path: common.manager},
			CABPK:   bench.Command{Path: common.cabpk},
			Floor:   bench.Command{Path: self, Args: []string{"floor"}},
		},
		Dir: *dir, Timeout: common.timeout, Budget: common.budget, Settle: common.settle, TokenTTL: common.tokenTTL, Periods: common.periods, Profile: common.profile,
		Log: log, Progress: os.Stdout,
	})
	if err != nil {
		return err
	}
	data, err := json.Marshal(result)
	if err != nil {
		return err
	}
	return os.WriteFile(*resultPath, data, 0o600)
}

// measureFlags are the flags the benchmark passes on to each measurement.
type measureFlags struct {
	manager, cabpk            string
	timeout, settle, tokenTTL time.Duration
	budget                    time.Duration
	periods                   int
	verbose                   bool
	profile                   time.Duration
}

func (m *measureFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.manager, "manager", "bin/manager", "cabpk0s manager binary")
	fs.StringVar(&m.cabpk, "cabpk", "", "CABPK binary (Cluster API's bootstrap/kubeadm)")
	fs.DurationVar(&m.timeout, "timeout", 30*time.Minute, "how long one run may wait for N data secrets")
	fs.DurationVar(&m.budget, "budget", 4*time.Minute, "how long a saturation, clusters or restart measurement may take: a provider not done by then is reported with what it did (0: -timeout)")
	fs.DurationVar(&m.settle, "settle", 5*time.Second, "how long requests are still counted after the last data secret")
	fs.BoolVar(&m.verbose, "v", false, "print the harness's logs")
	// One minute is too short for 10,000 pending machines here: cabpk0s
	// then has to refresh 167 tokens a second, more than two cores give it,
	// and lets some expire (measured 2026-12-04: 876 of 10,000).
	fs.DurationVar(&m.tokenTTL, "token-ttl", 2*time.Minute, "the providers' token TTL (pending scenario)")
	fs.IntVar(&m.periods, "periods", 2, "token TTLs the pending scenario watches")
	fs.DurationVar(&m.profile, "profile", 30*time.Second, "CPU profile length of cabpk0s (cpu.pprof, heap.pprof beside its log) and of the management and workload API servers for every provider (<name>-apiserver-cpu.pprof), in the saturation and clusters scenarios; 0 for none")
}

func (m *measureFlags) args() []string {
	return []string{"-manager", m.manager, "-cabpk", m.cabpk, "-timeout", m.timeout.String(), "-budget", m.budget.String(),
		"-settle", m.settle.String(), "-v=" + strconv.FormatBool(m.verbose),
		"-token-ttl", m.tokenTTL.String(), "-periods", strconv.Itoa(m.periods), "-profile", m.profile.String()}
}

// kubeAPIServerVersion asks the envtest kube-apiserver the runs use.
func kubeAPIServerVersion() string {
	dir, err := testenv.AssetsDir()
	if err != nil {
		return "unknown"
	}
	out, err := exec.Command(filepath.Join(dir, "kube-apiserver"), "--version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "Kubernetes ")
}

func gitDescribe() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
