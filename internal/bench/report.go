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
}

// Ratio compares two figures measured in the same run.
type Ratio struct {
	Name  string  `json:"name"`
	N     int     `json:"n,omitempty"`
	Value float64 `json:"value"`
	// Goal is the ratio the value should not exceed; zero means none.
	Goal float64 `json:"goal,omitempty"`
}

func (r *Report) find(provider string, n int) (Result, bool) {
	for _, res := range r.Results {
		if res.Provider == provider && res.N == n {
			return res, true
		}
	}
	return Result{}, false
}

// ordered returns the results in the order the report lists them: by N,
// then provider as Providers orders them.
func (r *Report) ordered() []Result {
	var results []Result
	for _, n := range r.Sizes() {
		for _, p := range Providers() {
			if res, ok := r.find(p, n); ok {
				results = append(results, res)
			}
		}
	}
	return results
}

// Sizes returns the distinct N of the results, ascending.
func (r *Report) Sizes() []int {
	set := map[int]bool{}
	for _, res := range r.Results {
		set[res.N] = true
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
	sizes := r.Sizes()
	add := func(name string, n int, a, b, goal float64) {
		if b > 0 {
			r.Ratios = append(r.Ratios, Ratio{Name: name, N: n, Value: a / b, Goal: goal})
		}
	}
	requests := func(res Result) float64 { return float64(res.Management.Total() + res.Workload.Total()) }
	for _, n := range sizes {
		ours, okOurs := r.find(Cabpk0s, n)
		theirs, okTheirs := r.find(CABPK, n)
		floor, okFloor := r.find(Floor, n)
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
			a, okA := r.find(p, small)
			b, okB := r.find(p, large)
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

	b.WriteString("| N | provider | wall time | p50 | p99 | mgmt req/machine | workload req/machine | writes/machine | CPU | peak RSS |\n")
	b.WriteString("|---:|---|---:|---:|---:|---|---|---:|---:|---:|\n")
	for _, res := range r.ordered() {
		n := res.N
		fmt.Fprintf(&b, "| %d | %s | %.1f s | %.2f s | %.2f s | %s | %s | %.2f | %.1f s | %.0f MiB |\n",
			n, res.Provider, res.WallSeconds, res.P50Seconds, res.P99Seconds,
			perMachineByVerb(res.Management, n), perMachineByVerb(res.Workload, n),
			res.PerMachine(res.Management.Writes()+res.Workload.Writes()),
			res.CPUSeconds, float64(res.PeakRSSBytes)/(1<<20))
	}
	if len(r.Ratios) > 0 {
		b.WriteString("\n| ratio (same run) | value | goal |\n|---|---:|---:|\n")
		for _, ratio := range r.Ratios {
			name := ratio.Name
			if ratio.N != 0 {
				name += fmt.Sprintf(" at N=%d", ratio.N)
			}
			goal := "-"
			if ratio.Goal != 0 {
				verdict := "met"
				if ratio.Value > ratio.Goal {
					verdict = "missed"
				}
				goal = fmt.Sprintf("≤ %.2f (%s)", ratio.Goal, verdict)
			}
			fmt.Fprintf(&b, "| %s | %.2f | %s |\n", name, ratio.Value, goal)
		}
	}
	b.WriteString("\nRequests per machine, by verb and resource:\n\n")
	for _, res := range r.ordered() {
		fmt.Fprintf(&b, "- %s N=%d: management %s; workload %s\n", res.Provider, res.N, perMachineDetail(res.Management, res.N), perMachineDetail(res.Workload, res.N))
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
