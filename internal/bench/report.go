package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Report is one benchmark run: every provider at every N, on one machine.
type Report struct {
	Date     time.Time         `json:"date"`
	Machine  string            `json:"machine"`
	Versions map[string]string `json:"versions"`
	Results  []Result          `json:"results"`
	Ratios   []Ratio           `json:"ratios"`
	// Plots are the figures WritePlots drew, by file name relative to
	// the markdown file, for WriteMarkdown to embed.
	Plots []string `json:"plots,omitempty"`
}

// Ratio compares two figures measured in the same run.
type Ratio struct {
	Name  string  `json:"name"`
	N     int     `json:"n,omitempty"`
	Value float64 `json:"value"`
	// Goal is the ratio the value should not exceed (with AtLeast, not
	// fall below); zero means none.
	Goal    float64 `json:"goal,omitempty"`
	AtLeast bool    `json:"atLeast,omitempty"`
}

// Met says whether the ratio meets its goal.
func (r Ratio) Met() bool {
	if r.AtLeast {
		return r.Value >= r.Goal
	}
	return r.Value <= r.Goal
}

// size is what tells a scenario's results apart: N, or for the clusters
// scenario the cluster count.
func (r Result) size() int {
	if r.scenario() == ClustersScenario {
		return r.Clusters
	}
	return r.N
}

// sizeLabel names the size, for the report.
func (r Result) sizeLabel() string {
	if r.scenario() == ClustersScenario {
		return fmt.Sprintf("N=%d over %d clusters", r.N, r.Clusters)
	}
	return fmt.Sprintf("N=%d", r.N)
}

func (r *Report) find(scenario, provider string, size int) (Result, bool) {
	for _, res := range r.Results {
		if res.scenario() == scenario && res.Provider == provider && res.size() == size {
			return res, true
		}
	}
	return Result{}, false
}

// ordered returns a scenario's results in the order the report lists
// them: by N, then provider as Providers orders them.
func (r *Report) ordered(scenario string) []Result {
	var results []Result
	for _, n := range r.Sizes(scenario) {
		for _, p := range Providers() {
			if res, ok := r.find(scenario, p, n); ok {
				results = append(results, res)
			}
		}
	}
	return results
}

// Sizes returns the distinct sizes (N, or clusters) of a scenario's
// results, ascending.
func (r *Report) Sizes(scenario string) []int {
	set := map[int]bool{}
	for _, res := range r.Results {
		if res.scenario() == scenario {
			set[res.size()] = true
		}
	}
	sizes := make([]int, 0, len(set))
	for n := range set {
		sizes = append(sizes, n)
	}
	sort.Ints(sizes)
	return sizes
}

// ComputeRatios fills Ratios from Results: cabpk0s against CABPK and the
// floor at each N (wall time, against the goals; latency, CPU and requests
// for context), the floor against CABPK (no provider can be faster than the
// floor, so that is the best ratio to CABPK this harness allows), and the
// growth from the smallest to the largest N (linear growth would be the
// ratio of the sizes; the goal allows 10% more).
func (r *Report) ComputeRatios() {
	r.Ratios = nil
	sizes := r.Sizes(ScaleScenario)
	add := func(name string, n int, a, b, goal float64) {
		if b > 0 {
			r.Ratios = append(r.Ratios, Ratio{Name: name, N: n, Value: a / b, Goal: goal})
		}
	}
	requests := func(res Result) float64 { return float64(res.Management.Total() + res.Workload.Total()) }
	for _, n := range sizes {
		ours, okOurs := r.find(ScaleScenario, Cabpk0s, n)
		theirs, okTheirs := r.find(ScaleScenario, CABPK, n)
		floor, okFloor := r.find(ScaleScenario, Floor, n)
		if okOurs && okTheirs {
			add("cabpk0s/CABPK wall time", n, ours.WallSeconds, theirs.WallSeconds, 0.5)
		}
		if okOurs && okFloor {
			add("cabpk0s/floor wall time", n, ours.WallSeconds, floor.WallSeconds, 1.5)
		}
		if okFloor && okTheirs {
			add("floor/CABPK wall time (the best any provider can do here)", n, floor.WallSeconds, theirs.WallSeconds, 0)
		}
		if okOurs && okTheirs {
			add("cabpk0s/CABPK p99 latency", n, ours.P99Seconds, theirs.P99Seconds, 0)
			add("cabpk0s/CABPK CPU", n, ours.CPUSeconds, theirs.CPUSeconds, 0)
			add("cabpk0s/CABPK requests", n, requests(ours), requests(theirs), 0)
		}
	}
	if len(sizes) >= 2 {
		small, large := sizes[0], sizes[len(sizes)-1]
		for _, p := range []string{Cabpk0s, Floor} {
			a, okA := r.find(ScaleScenario, p, small)
			b, okB := r.find(ScaleScenario, p, large)
			if !okA || !okB {
				continue
			}
			goal := 0.0
			if p == Cabpk0s {
				goal = 1.1 * float64(large) / float64(small)
			}
			add(fmt.Sprintf("%s wall time N=%d / N=%d", p, large, small), 0, b.WallSeconds, a.WallSeconds, goal)
		}
	}
	r.saturationRatios()
	r.clustersRatios()
	r.pendingRatios()
}

// pendingRatios compares the providers' token writes per pending machine
// per TTL. The figure is per machine, so CABPK measured at a smaller N
// (it cannot bootstrap 10,000 within a run here) is compared with
// cabpk0s's largest N, and the ratio's name says so.
func (r *Report) pendingRatios() {
	sizes := r.Sizes(PendingScenario)
	for _, n := range sizes {
		ours, ok := r.find(PendingScenario, Cabpk0s, n)
		if !ok || ours.Pending == nil {
			continue
		}
		theirs, ok := r.find(PendingScenario, CABPK, n)
		name := "pending: cabpk0s/CABPK token writes per machine per TTL"
		if !ok && n == sizes[len(sizes)-1] {
			for _, m := range slices.Backward(sizes[:len(sizes)-1]) {
				if theirs, ok = r.find(PendingScenario, CABPK, m); ok {
					name += fmt.Sprintf(" (CABPK at N=%d)", m)
					break
				}
			}
		}
		if ok && theirs.Pending != nil && theirs.Pending.WritesPerMachinePerTTL > 0 {
			r.Ratios = append(r.Ratios, Ratio{Name: name, N: n, Value: ours.Pending.WritesPerMachinePerTTL / theirs.Pending.WritesPerMachinePerTTL})
		}
	}
}

// The goals of the clusters scenario, in MiB.
const (
	clustersPeakRSSGoal = 200
	clustersSlopeGoal   = 0.5
)

// rssSlope is a provider's resident memory per workload cluster: the
// growth of peak RSS from the fewest to the most clusters of the clusters
// scenario, per cluster added, in MiB; ok is false without two sizes.
func (r *Report) rssSlope(provider string) (slope float64, ok bool) {
	sizes := r.Sizes(ClustersScenario)
	if len(sizes) < 2 {
		return 0, false
	}
	few, okFew := r.find(ClustersScenario, provider, sizes[0])
	many, okMany := r.find(ClustersScenario, provider, sizes[len(sizes)-1])
	if !okFew || !okMany || few.N != many.N {
		return 0, false
	}
	return float64(many.PeakRSSBytes-few.PeakRSSBytes) / (1 << 20) / float64(many.Clusters-few.Clusters), true
}

// clustersRatios compares cabpk0s with CABPK at each cluster count.
func (r *Report) clustersRatios() {
	for _, c := range r.Sizes(ClustersScenario) {
		ours, okOurs := r.find(ClustersScenario, Cabpk0s, c)
		theirs, okTheirs := r.find(ClustersScenario, CABPK, c)
		if !okOurs || !okTheirs || ours.N != theirs.N || theirs.PeakRSSBytes == 0 || theirs.WallSeconds == 0 {
			continue
		}
		name := fmt.Sprintf("clusters: cabpk0s/CABPK %%s, %d clusters", c)
		r.Ratios = append(r.Ratios,
			Ratio{Name: fmt.Sprintf(name, "peak RSS"), N: ours.N, Value: float64(ours.PeakRSSBytes) / float64(theirs.PeakRSSBytes)},
			Ratio{Name: fmt.Sprintf(name, "time to ready"), N: ours.N, Value: ours.WallSeconds / theirs.WallSeconds})
	}
	ours, okOurs := r.rssSlope(Cabpk0s)
	theirs, okTheirs := r.rssSlope(CABPK)
	if okOurs && okTheirs && theirs > 0 {
		r.Ratios = append(r.Ratios, Ratio{Name: "clusters: cabpk0s/CABPK RSS per cluster", Value: ours / theirs})
	}
}

// saturationRatios compares the saturation scenario's figures against the
// goals: throughput against the floor's and CABPK's, p99 latency against
// the floor's, and a restart's time to idle against its initial list.
func (r *Report) saturationRatios() {
	atLeast := func(name string, n int, a, b, goal float64) {
		if b > 0 {
			r.Ratios = append(r.Ratios, Ratio{Name: name, N: n, Value: a / b, Goal: goal, AtLeast: true})
		}
	}
	atMost := func(name string, n int, a, b, goal float64) {
		if b > 0 {
			r.Ratios = append(r.Ratios, Ratio{Name: name, N: n, Value: a / b, Goal: goal})
		}
	}
	for _, n := range r.Sizes(SaturationScenario) {
		ours, okOurs := r.find(SaturationScenario, Cabpk0s, n)
		theirs, okTheirs := r.find(SaturationScenario, CABPK, n)
		floor, okFloor := r.find(SaturationScenario, Floor, n)
		if okOurs && okFloor {
			atLeast("saturation: cabpk0s/floor machines per second", n, ours.MachinesPerSecond, floor.MachinesPerSecond, 0.8)
			atMost("saturation: cabpk0s/floor p99 latency", n, ours.P99Seconds, floor.P99Seconds, 2)
		}
		if okOurs && okTheirs {
			atLeast("saturation: cabpk0s/CABPK machines per second", n, ours.MachinesPerSecond, theirs.MachinesPerSecond, 3)
		}
		if okFloor && okTheirs {
			atMost("saturation: floor/CABPK machines per second (the best any provider can do here)", n, floor.MachinesPerSecond, theirs.MachinesPerSecond, 0)
		}
		for _, res := range []Result{ours, theirs} {
			if res.Restart != nil && res.Restart.InitialListSeconds > 0 {
				atMost("restart: "+res.Provider+" time to idle / initial list", n, res.Restart.IdleSeconds, res.Restart.InitialListSeconds, 2)
			}
		}
	}
}

// MachineDescription names the CPU, core count and memory of this machine.
func MachineDescription() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	memory := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kb); err == nil {
			memory = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%s, %d cores%s, %s/%s", model, runtime.NumCPU(), memory, runtime.GOOS, runtime.GOARCH)
}

// WriteMarkdown writes the report as a section of docs/benchmarks.md.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Run of %s\n\n", r.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s\n", r.Machine)
	keys := make([]string, 0, len(r.Versions))
	for k := range r.Versions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	versions := make([]string, 0, len(keys))
	for _, k := range keys {
		versions = append(versions, k+" "+r.Versions[k])
	}
	fmt.Fprintf(&b, "- Versions: %s\n\n", strings.Join(versions, ", "))

	if scale := r.ordered(ScaleScenario); len(scale) > 0 {
		b.WriteString("Scale-up of a MachineDeployment (Cluster API's MachineSet sets the pace):\n\n")
	}
	b.WriteString("| N | provider | wall time | p50 | p99 | mgmt req/machine | workload req/machine | writes/machine | CPU | peak RSS |\n")
	b.WriteString("|---:|---|---:|---:|---:|---|---|---:|---:|---:|\n")
	for _, res := range r.ordered(ScaleScenario) {
		n := res.N
		fmt.Fprintf(&b, "| %d | %s | %.1f s | %.2f s | %.2f s | %s | %s | %.2f | %.1f s | %.0f MiB |\n",
			n, res.Provider, res.WallSeconds, res.P50Seconds, res.P99Seconds,
			perMachineByVerb(res.Management, n), perMachineByVerb(res.Workload, n),
			res.PerMachine(res.Management.Writes()+res.Workload.Writes()),
			res.CPUSeconds, float64(res.PeakRSSBytes)/(1<<20))
	}
	r.writeSaturation(&b)
	r.writeClusters(&b)
	r.writePending(&b)
	if len(r.Ratios) > 0 {
		b.WriteString("\n| ratio (same run) | value | goal |\n|---|---:|---:|\n")
		for _, ratio := range r.Ratios {
			name := ratio.Name
			if ratio.N != 0 {
				name += fmt.Sprintf(" at N=%d", ratio.N)
			}
			goal := "-"
			if ratio.Goal != 0 {
				verdict, sign := "met", "≤"
				if !ratio.Met() {
					verdict = "missed"
				}
				if ratio.AtLeast {
					sign = "≥"
				}
				goal = fmt.Sprintf("%s %.2f (%s)", sign, ratio.Goal, verdict)
			}
			fmt.Fprintf(&b, "| %s | %.2f | %s |\n", name, ratio.Value, goal)
		}
	}
	b.WriteString("\nRequests per machine, by verb and resource:\n\n")
	for _, scenario := range Scenarios() {
		for _, res := range r.ordered(scenario) {
			fmt.Fprintf(&b, "- %s, %s %s: management %s; workload %s\n", scenario, res.Provider, res.sizeLabel(), perMachineDetail(res.Management, res.N), perMachineDetail(res.Workload, res.N))
			if res.Restart != nil {
				fmt.Fprintf(&b, "- restart, %s with %d configs (totals): management %s; workload %s\n", res.Provider, res.Restart.Configs,
					totalsDetail(res.Restart.Management), totalsDetail(res.Restart.Workload))
			}
		}
	}
	for _, plot := range r.Plots {
		fmt.Fprintf(&b, "\n![%s](%s)\n", strings.TrimSuffix(plot[strings.LastIndex(plot, "/")+1:], ".svg"), plot)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func perMachineByVerb(r Requests, n int) string {
	byVerb := r.ByVerb()
	verbs := make([]string, 0, len(byVerb))
	for v := range byVerb {
		verbs = append(verbs, v)
	}
	sort.Strings(verbs)
	parts := make([]string, 0, len(verbs))
	for _, v := range verbs {
		parts = append(parts, fmt.Sprintf("%s %.2f", v, float64(byVerb[v])/float64(n)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return fmt.Sprintf("%.2f (%s)", float64(r.Total())/float64(n), strings.Join(parts, ", "))
}

func perMachineDetail(r Requests, n int) string {
	parts := make([]string, 0, len(r))
	for _, k := range r.Keys() {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, float64(r[k])/float64(n)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// writeSaturation writes the saturation and restart tables.
func (r *Report) writeSaturation(b *strings.Builder) {
	results := r.ordered(SaturationScenario)
	if len(results) == 0 {
		return
	}
	b.WriteString("\nSaturation (the harness writes Machines, then their configs, as fast as the API server takes them; none of Cluster API's controllers run):\n\n")
	b.WriteString("| N | provider | machines/s | configs written in | p50 | p99 | CPU s per 1,000 | writes/machine | peak RSS |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range results {
		fmt.Fprintf(b, "| %d | %s | %s | %.1f s | %.2f s | %.2f s | %.2f | %.2f | %.0f MiB |\n",
			res.N, res.Provider, res.rate(), res.WriteSeconds, res.P50Seconds, res.P99Seconds,
			res.CPUSeconds*1000/float64(res.N), res.PerMachine(res.Management.Writes()+res.Workload.Writes()),
			float64(res.PeakRSSBytes)/(1<<20))
	}
	var restarts []Result
	for _, res := range results {
		if res.Restart != nil {
			restarts = append(restarts, res)
		}
	}
	if len(restarts) == 0 {
		return
	}
	b.WriteString("\nRestart with every config settled (goal: 0 writes, 0 uncached reads, idle within 2x the initial list):\n\n")
	b.WriteString("| configs | provider | idle after | initial list | writes | uncached reads (gets) | lists | reconciles | CPU | peak RSS |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range restarts {
		rs := res.Restart
		idle := fmt.Sprintf("%.1f s", rs.IdleSeconds)
		if rs.NotIdle {
			idle = "not idle after " + idle
		}
		fmt.Fprintf(b, "| %d | %s | %s | %.1f s | %d | %d | %d | %.0f | %.1f s | %.0f MiB |\n",
			rs.Configs, res.Provider, idle, rs.InitialListSeconds, rs.Management.Writes()+rs.Workload.Writes(),
			rs.UncachedReads(), rs.Management.ByVerb()["list"]+rs.Workload.ByVerb()["list"], rs.Reconciles,
			rs.CPUSeconds, float64(rs.PeakRSSBytes)/(1<<20))
	}
}

func totalsDetail(r Requests) string {
	parts := make([]string, 0, len(r))
	for _, k := range r.Keys() {
		parts = append(parts, fmt.Sprintf("%s %d", k, r[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// writeClusters writes the clusters scenario's table.
func (r *Report) writeClusters(b *strings.Builder) {
	results := r.ordered(ClustersScenario)
	if len(results) == 0 {
		return
	}
	fmt.Fprintf(b, "\nMany clusters (the saturation scenario with its machines spread over C Clusters, each with its own kubeconfig user and CA Secret, sharing one workload API server; goals: peak RSS at the most clusters <= %d MiB, RSS per cluster <= %.1f MiB):\n\n", clustersPeakRSSGoal, clustersSlopeGoal)
	b.WriteString("| clusters | N | provider | time to ready | machines/s | p99 | peak RSS | workload connections | CPU s per 1,000 |\n")
	b.WriteString("|---:|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, res := range results {
		clusters := strconv.Itoa(res.Clusters)
		if res.FromScenario != "" {
			clusters += " (the " + res.FromScenario + " run)"
		}
		fmt.Fprintf(b, "| %s | %d | %s | %.1f s | %s | %.2f s | %.0f MiB | %d | %.2f |\n",
			clusters, res.N, res.Provider, res.WallSeconds, res.rate(), res.P99Seconds,
			float64(res.PeakRSSBytes)/(1<<20), res.WorkloadConnections, res.CPUSeconds*1000/float64(res.N))
	}
	sizes := r.Sizes(ClustersScenario)
	b.WriteString("\n| provider | peak RSS at the most clusters | RSS per cluster |\n|---|---:|---:|\n")
	for _, p := range []string{Cabpk0s, CABPK} {
		most, ok := r.find(ClustersScenario, p, sizes[len(sizes)-1])
		if !ok {
			continue
		}
		peak := float64(most.PeakRSSBytes) / (1 << 20)
		slope := "-"
		if v, ok := r.rssSlope(p); ok {
			slope = fmt.Sprintf("%.2f MiB%s", v, verdict(p == Cabpk0s, v <= clustersSlopeGoal))
		}
		fmt.Fprintf(b, "| %s | %.0f MiB%s | %s |\n", p, peak, verdict(p == Cabpk0s, peak <= clustersPeakRSSGoal), slope)
	}
}

// pendingWritesGoal is the most token writes per pending machine per TTL.
const pendingWritesGoal = 1

// writePending writes the pending scenario's table.
func (r *Report) writePending(b *strings.Builder) {
	results := r.ordered(PendingScenario)
	if len(results) == 0 {
		return
	}
	fmt.Fprintf(b, "\nPending machines (the saturation scenario's configs get their data, then no machine joins for several token TTLs; goal: <= %d write per machine per TTL, nothing else):\n\n", pendingWritesGoal)
	b.WriteString("| N | provider | TTL | watched | workload writes/machine/TTL | other workload requests | management requests | CPU s per TTL | tokens expired |\n")
	b.WriteString("|---:|---|---:|---:|---:|---|---|---:|---:|\n")
	for _, res := range results {
		pr := res.Pending
		if pr == nil {
			continue
		}
		other := Requests{}
		for key, v := range pr.Workload {
			if verb, _, _ := strings.Cut(key, " "); !isWrite(verb) {
				other[key] = v
			}
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | %.2f%s | %s | %s | %.2f | %d |\n",
			res.N, res.Provider, time.Duration(pr.TTLSeconds*float64(time.Second)), time.Duration(pr.WindowSeconds*float64(time.Second)).Round(time.Second),
			pr.WritesPerMachinePerTTL, verdict(res.Provider == Cabpk0s, pr.WritesPerMachinePerTTL <= pendingWritesGoal),
			totalsDetail(other), totalsDetail(pr.Management), pr.CPUSecondsPerPeriod, pr.TokensExpired)
	}
}

// verdict marks a figure held to a goal (cabpk0s's) as meeting it or not.
func verdict(held, met bool) string {
	switch {
	case !held:
		return ""
	case met:
		return " (goal met)"
	default:
		return " (goal missed)"
	}
}

// ClustersPlot is peak RSS against the number of workload clusters, a
// line per provider; ok is false without the clusters scenario.
func (r *Report) ClustersPlot() (Plot, bool) {
	plot := Plot{Title: "Peak RSS against workload clusters", XLabel: "workload clusters", YLabel: "peak RSS (MiB)"}
	for _, p := range []string{Cabpk0s, CABPK} {
		s := Series{Name: p}
		for _, c := range r.Sizes(ClustersScenario) {
			if res, ok := r.find(ClustersScenario, p, c); ok {
				s.Points = append(s.Points, [2]float64{float64(c), float64(res.PeakRSSBytes) / (1 << 20)})
			}
		}
		if len(s.Points) > 0 {
			plot.Series = append(plot.Series, s)
		}
	}
	return plot, len(plot.Series) > 0
}

// SaturationPlots returns, per N of the saturation scenario, the ready
// curve of every provider.
func (r *Report) SaturationPlots() map[int]Plot {
	out := map[int]Plot{}
	for _, n := range r.Sizes(SaturationScenario) {
		plot := Plot{
			Title:  fmt.Sprintf("Saturation, N=%d: data secrets over time", n),
			XLabel: "seconds since the first config was written", YLabel: "configs with data",
		}
		for _, p := range Providers() {
			res, ok := r.find(SaturationScenario, p, n)
			if !ok || len(res.Ready) == 0 {
				continue
			}
			s := Series{Name: p}
			for _, pt := range res.Ready {
				s.Points = append(s.Points, [2]float64{pt.Seconds, float64(pt.Ready)})
			}
			plot.Series = append(plot.Series, s)
		}
		if len(plot.Series) > 0 {
			out[n] = plot
		}
	}
	return out
}

// rate is machines per second as a table shows it: for a provider that
// did not finish within the budget, with how many it finished.
func (r Result) rate() string {
	if r.Unfinished {
		return fmt.Sprintf("%.1f (%d of %d within %.0f s)", r.MachinesPerSecond, r.Finished, r.N, r.WallSeconds)
	}
	return fmt.Sprintf("%.1f", r.MachinesPerSecond)
}
