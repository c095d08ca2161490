package controllers

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
)

// Token operations, the values of the operation label.
const (
	tokenCreated   = "created"
	tokenExtended  = "extended"
	tokenRotated   = "rotated"
	tokenRevoked   = "revoked"
	tokenRecreated = "recreated"
)

// The manager's own metrics, served beside controller-runtime's on the
// metrics endpoint. docs/operations.md says what to alert on.
var (
	joinTokenOperations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cabpk0s_join_token_operations_total",
		Help: "Join tokens created, extended, rotated (MachinePools), revoked and recreated in workload clusters.",
	}, []string{"operation"})
	bootstrapDataRenders = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cabpk0s_bootstrap_data_renders_total",
		Help: "Attempts to produce bootstrap data, by result: written, or the condition reason that stopped it.",
	}, []string{"result"})
	bootstrapDataReady = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "cabpk0s_bootstrap_data_ready_seconds",
		Help:    "Time from a config's creation to its first bootstrap data written.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
	})
	workloadUnreachableWaits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cabpk0s_workload_cluster_unreachable_total",
		Help: "Reconciles that waited for a workload cluster the ClusterCache could not reach, by cluster (namespace/name).",
	}, []string{"cluster"})
)

// liveTokens reports, on each scrape, the join tokens configs keep alive
// per cluster, from the manager's cache: a count that is right after a
// restart too.
type liveTokens struct {
	reader client.Reader
	desc   *prometheus.Desc
}

func newLiveTokens(reader client.Reader) *liveTokens {
	return &liveTokens{reader: reader, desc: prometheus.NewDesc("cabpk0s_join_tokens_live",
		"Join tokens configs keep alive (recorded and not yet revoked), by cluster (namespace/name). Every replica reports it: aggregate with max, not sum.", []string{"cluster"}, nil)}
}

func (l *liveTokens) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

func (l *liveTokens) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	live := map[string]int{}
	for _, configs := range []client.ObjectList{&bootstrapv1.K0sWorkerConfigList{}, &bootstrapv1.K0sControllerConfigList{}} {
		// Read-only: the cache's objects need no copies. A kind that
		// cannot be listed is left out; the other is still reported.
		if err := l.reader.List(ctx, configs, client.UnsafeDisableDeepCopy); err != nil {
			continue
		}
		_ = meta.EachListItem(configs, func(o runtime.Object) error {
			// An ID reserved for data not written yet names no token.
			if c := o.(bootstrapConfig); c.GetAnnotations()[TokenIDAnnotation] != "" && c.IsDataSecretCreated() {
				live[c.GetNamespace()+"/"+c.GetLabels()[clusterv1.ClusterNameLabel]]++
			}
			return nil
		})
	}
	for cluster, n := range live {
		ch <- prometheus.MustNewConstMetric(l.desc, prometheus.GaugeValue, float64(n), cluster)
	}
}

var metricsOnce sync.Once

// registerMetrics adds the metrics to controller-runtime's registry, once
// per process: a test process that sets up several managers counts them
// all together, and reports live tokens from the first one's cache.
func registerMetrics(reader client.Reader) {
	metricsOnce.Do(func() {
		ctrlmetrics.Registry.MustRegister(joinTokenOperations, bootstrapDataRenders, bootstrapDataReady, workloadUnreachableWaits, newLiveTokens(reader))
	})
}
