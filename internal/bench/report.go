package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
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

func (r *Report) find(scenario, provider string, n int) (Result, bool) {
	for _, res := range r.Results {
		if res.scenario() == scenario && res.Provider == provider && res.N == n {
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

// Sizes returns the distinct N of a scenario's results, ascending.
func (r *Report) Sizes(scenario string) []int {
	set := map[int]bool{}
	for _, res := range r.Results {
		if res.scenario() == scenario {
			set[res.N] = true
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
			fmt.Fprintf(&b, "- %s, %s N=%d: management %s; workload %s\n", scenario, res.Provider, res.N, perMachineDetail(res.Management, res.N), perMachineDetail(res.Workload, res.N))
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
		fmt.Fprintf(b, "| %d | %s | %.1f | %.1f s | %.2f s | %.2f s | %.2f | %.2f | %.0f MiB |\n",
			res.N, res.Provider, res.MachinesPerSecond, res.WriteSeconds, res.P50Seconds, res.P99Seconds,
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
		fmt.Fprintf(b, "| %d | %s | %.1f s | %.1f s | %d | %d | %d | %.0f | %.1f s | %.0f MiB |\n",
			rs.Configs, res.Provider, rs.IdleSeconds, rs.InitialListSeconds, rs.Management.Writes()+rs.Workload.Writes(),
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
