// Command k0s-worker-join does with a k0s join token what `k0s worker
// --token-file` does before it starts the kubelet, in the same order and
// through the same library calls where k0s uses a library:
//
//  1. read the token file, base64-decode and gunzip it into the bootstrap
//     kubeconfig, and refuse any token whose user is not kubelet-bootstrap
//     ("wrong token type");
//  2. the kubelet's TLS bootstrap (k8s.io/kubernetes/pkg/kubelet/certificate/
//     bootstrap.LoadClientCert): a CSR filed as the bootstrap identity that
//     the workload's kube-controller-manager approves and signs;
//  3. with the signed node certificate, never the bootstrap token, read the
//     worker profile ConfigMap kube-system/worker-config-<profile>-<minor>;
//  4. register the Node as system:node:<name> with its provider ID, the
//     labels (--labels → --node-labels) and taints (--taints →
//     --register-with-taints), and report it Ready as a healthy kubelet
//     would.
//
// What it does not do: run containerd, the kubelet's pod lifecycle or any
// networking. It lives in this module because k8s.io/kubernetes may be
// imported here and not in cabpk0s's own module graph; the simulation in
// internal/simulation runs it as a process, one per booting machine.
//
// The outcome is one JSON object on stdout; a failure exits 1 with the
// reason on stderr. Messages never contain the token.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/kubelet/certificate/bootstrap"
)

// bootstrapUser is the only token type a k0s worker accepts.
const bootstrapUser = "kubelet-bootstrap"

// result is what the join reports on stdout.
type result struct {
	NodeName string `json:"nodeName"`
	// NodeUser and NodeGroups are who the API server says the signed node
	// certificate is.
	NodeUser   string   `json:"nodeUser"`
	NodeGroups []string `json:"nodeGroups"`
	// ClientCertificate is the signed kubelet client certificate (PEM).
	ClientCertificate string `json:"clientCertificate"`
	// WorkerProfile is the data of the worker profile ConfigMap read.
	WorkerProfile     string            `json:"workerProfile"`
	WorkerProfileData map[string]string `json:"workerProfileData"`
	// KubeletFlags is the kubelet command line this worker would run.
	KubeletFlags []string `json:"kubeletFlags"`
}

type options struct {
	tokenFile        string
	dataDir          string
	hostname         string
	profile          string
	k0sVersion       string
	providerID       string
	labels           string
	taints           string
	kubeletExtraArgs string
	timeout          time.Duration
	attempt          time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.tokenFile, "token-file", "", "the k0s join token file (k0s worker --token-file)")
	flag.StringVar(&o.dataDir, "data-dir", "", "the worker's state directory (k0s --data-dir): kubelet kubeconfig and certificates")
	flag.StringVar(&o.hostname, "hostname", "", "the machine's hostname: the node name unless --kubelet-extra-args sets --hostname-override")
	flag.StringVar(&o.profile, "profile", "default", "the worker profile (k0s worker --profile)")
	flag.StringVar(&o.k0sVersion, "k0s-version", "", "the k0s version the machine runs (its Kubernetes minor names the worker profile ConfigMap)")
	flag.StringVar(&o.providerID, "provider-id", "", "the Node's spec.providerID (what the cloud provider sets)")
	flag.StringVar(&o.labels, "labels", "", "node labels (k0s worker --labels)")
	flag.StringVar(&o.taints, "taints", "", "node taints (k0s worker --taints)")
	flag.StringVar(&o.kubeletExtraArgs, "kubelet-extra-args", "", "extra kubelet flags (k0s worker --kubelet-extra-args)")
	flag.DurationVar(&o.timeout, "timeout", 45*time.Second, "give up after this long")
	flag.DurationVar(&o.attempt, "attempt-timeout", 5*time.Second, "how long one TLS bootstrap attempt may wait for its certificate")
	klog.InitFlags(nil)
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	res, err := join(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func join(ctx context.Context, o options) (*result, error) {
	if o.tokenFile == "" || o.dataDir == "" || o.hostname == "" || o.k0sVersion == "" {
		return nil, errors.New("--token-file, --data-dir, --hostname and --k0s-version are required")
	}
	minor, err := kubernetesMinor(o.k0sVersion)
	if err != nil {
		return nil, err
	}
	extraArgs := splitFlags(o.kubeletExtraArgs)
	nodeName := o.hostname
	if override := extraArgs["--hostname-override"]; override != "" {
		nodeName = override
	}
	nodeName = strings.ToLower(strings.TrimSpace(nodeName))

	kubeletConf := filepath.Join(o.dataDir, "kubelet.conf")
	bootstrapConf := filepath.Join(o.dataDir, "kubelet-bootstrap.conf")
	certDir := filepath.Join(o.dataDir, "kubelet", "pki")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}

	// 1. The token, as k0s reads it.
	if _, err := os.Stat(kubeletConf); errors.Is(err, os.ErrNotExist) {
		kubeconfig, err := loadJoinToken(o.tokenFile)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(bootstrapConf, kubeconfig, 0o600); err != nil {
			return nil, err
		}
	}

	// 2. The kubelet's TLS bootstrap. k0s retries it without end; one
	// attempt waits attempt-timeout for its certificate, and an answer
	// that cannot change (the API server refused the token, the CA is not
	// the server's) ends the join at once.
	if err := tlsBootstrap(ctx, o.attempt, kubeletConf, bootstrapConf, certDir, nodeName); err != nil {
		return nil, fmt.Errorf("the kubelet's TLS bootstrap failed: %w", err)
	}
	_ = os.Remove(bootstrapConf)

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeletConf)
	if err != nil {
		return nil, fmt.Errorf("loading the kubelet kubeconfig the TLS bootstrap wrote: %w", err)
	}
	cfg.Timeout = 10 * time.Second
	cfg.UserAgent = "k0s-worker-join (simulated k0s worker)"
	node, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	res := &result{NodeName: nodeName}
	if res.ClientCertificate, err = currentCertificate(certDir); err != nil {
		return nil, err
	}
	review, err := node.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("the node credentials do not authenticate: %w", err)
	}
	res.NodeUser, res.NodeGroups = review.Status.UserInfo.Username, review.Status.UserInfo.Groups

	// 3. The worker profile, read with the node's credentials.
	res.WorkerProfile = fmt.Sprintf("worker-config-%s-%s", o.profile, minor)
	if res.WorkerProfileData, err = loadWorkerProfile(ctx, node, res.WorkerProfile, o.profile, minor); err != nil {
		return nil, err
	}

	// 4. The kubelet registers its Node.
	labels, err := parseLabels(o.labels)
	if err != nil {
		return nil, err
	}
	taints, err := parseTaints(o.taints)
	if err != nil {
		return nil, err
	}
	res.KubeletFlags = kubeletFlags(o, kubeletConf, bootstrapConf, extraArgs)
	if err := registerNode(ctx, node, nodeName, o.providerID, labels, taints); err != nil {
		return nil, err
	}
	return res, nil
}

// loadJoinToken turns a token file into the bootstrap kubeconfig, refusing
// what k0s refuses.
func loadJoinToken(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the token file: %w", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("token file %q is empty", path)
	}
	compressed, err := base64.StdEncoding.DecodeString(string(data))
	if err != nil {
		return nil, fmt.Errorf("failed to decode join token: not base64: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf("failed to decode join token: not gzip: %w", err)
	}
	kubeconfig, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("failed to decode join token: %w", err)
	}
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("failed to parse kubelet bootstrap kubeconfig from join token: %w", err)
	}
	tokenType := ""
	if c := cfg.Contexts[cfg.CurrentContext]; c != nil {
		tokenType = c.AuthInfo
	}
	if tokenType != bootstrapUser {
		return nil, fmt.Errorf("wrong token type %s, expected type: %s", tokenType, bootstrapUser)
	}
	return kubeconfig, nil
}

func tlsBootstrap(ctx context.Context, attempt time.Duration, kubeletConf, bootstrapConf, certDir, nodeName string) error {
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, attempt)
		err := bootstrap.LoadClientCert(attemptCtx, kubeletConf, bootstrapConf, certDir, types.NodeName(nodeName))
		cancel()
		switch {
		case err == nil:
			return nil
		case !transient(err):
			return err
		case ctx.Err() != nil:
			return fmt.Errorf("no certificate within the deadline: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// transient: another attempt may succeed (the certificate was not issued
// in time, the API server did not answer). A refusal (401, 403), a TLS
// failure or a kubeconfig that does not load cannot change by retrying.
func transient(err error) bool {
	if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) {
		return false
	}
	msg := err.Error()
	if strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:") || strings.Contains(msg, "unable to load") {
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) ||
		strings.Contains(msg, "connection refused") || strings.Contains(msg, "timed out")
}

func currentCertificate(certDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(certDir, "kubelet-client-current.pem"))
	if err != nil {
		return "", fmt.Errorf("reading the signed kubelet client certificate: %w", err)
	}
	// The file holds the certificate and its key; only the certificate is
	// reported.
	var certs []string
	for _, block := range strings.SplitAfter(string(data), "-----END CERTIFICATE-----\n") {
		if i := strings.Index(block, "-----BEGIN CERTIFICATE-----"); i >= 0 && strings.Contains(block, "-----END CERTIFICATE-----") {
			certs = append(certs, block[i:])
		}
	}
	return strings.Join(certs, ""), nil
}

// loadWorkerProfile reads the profile ConfigMap as k0s's worker config
// loader does, retrying briefly, and explains a missing profile.
func loadWorkerProfile(ctx context.Context, node kubernetes.Interface, name, profile, minor string) (map[string]string, error) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		cm, err := node.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			return cm.Data, nil
		case apierrors.IsUnauthorized(err):
			return nil, fmt.Errorf("the k0s worker node credentials are invalid, the node needs to be rejoined into the cluster with a fresh bootstrap token: %w", err)
		case (apierrors.IsNotFound(err) || apierrors.IsForbidden(err)) && time.Now().After(deadline):
			// k0s grants nodes the published profiles by name, so an
			// unpublished one is forbidden rather than not found.
			return nil, fmt.Errorf("worker profile %q does not exist for Kubernetes %s: the control plane publishes no ConfigMap kube-system/%s (define the profile in the control plane's k0s config, spec.workerProfiles): %w", profile, minor, name, err)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("reading worker profile ConfigMap kube-system/%s: %w", name, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func registerNode(ctx context.Context, c kubernetes.Interface, name, providerID string, labels map[string]string, taints []corev1.Taint) error {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Spec:       corev1.NodeSpec{ProviderID: providerID, Taints: taints},
	}
	for k, v := range labels {
		n.Labels[k] = v
	}
	created, err := c.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		if created, err = c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("reading Node %s: %w", name, err)
		}
		// Two machines under one node name would be one Node: say so
		// rather than report a join Cluster API can never match.
		if created.Spec.ProviderID != providerID {
			return fmt.Errorf("node name %s is taken: its Node was registered by another machine (provider ID %q)", name, created.Spec.ProviderID)
		}
	case err != nil:
		return fmt.Errorf("registering Node %s: %w", name, err)
	}
	now := metav1.Now()
	condition := func(t corev1.NodeConditionType, status corev1.ConditionStatus, reason string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: status, LastHeartbeatTime: now, LastTransitionTime: now, Reason: reason}
	}
	// A patch of the conditions only, as the kubelet sends: an update
	// would carry the taints as registered, and NodeRestriction refuses a
	// node "modifying" taints the node lifecycle controller added since.
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{
		condition(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady"),
		condition(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"),
		condition(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure"),
		condition(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID"),
	}}})
	if err != nil {
		return err
	}
	if _, err := c.CoreV1().Nodes().Patch(ctx, created.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("reporting Node %s ready: %w", name, err)
	}
	return nil
}

// kubernetesMinor is the Kubernetes major.minor of a k0s version
// (v1.33.4+k0s.0 → 1.33), which k0s puts in worker profile names.
func kubernetesMinor(k0sVersion string) (string, error) {
	parts := strings.SplitN(strings.TrimPrefix(k0sVersion, "v"), ".", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", fmt.Errorf("k0s version %q is not vMAJOR.MINOR.PATCH+k0s.N", k0sVersion)
	}
	return parts[0] + "." + parts[1], nil
}

// splitFlags splits a --kubelet-extra-args value into flags, as k0s does:
// "--a=1 --b 2 --c" → {--a: 1, --b: 2, --c: ""}.
func splitFlags(args string) map[string]string {
	out := map[string]string{}
	fields := strings.Fields(args)
	for i := 0; i < len(fields); i++ {
		name, value, hasValue := strings.Cut(fields[i], "=")
		if !hasValue && i+1 < len(fields) && !strings.HasPrefix(fields[i+1], "-") {
			value = fields[i+1]
			i++
		}
		out[name] = value
	}
	return out
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid label %q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

// parseTaints reads key[=value]:Effect entries, as kubelet's
// --register-with-taints does.
func parseTaints(s string) ([]corev1.Taint, error) {
	var out []corev1.Taint
	for _, spec := range splitList(s) {
		kv, effect, ok := strings.Cut(spec, ":")
		if !ok {
			return nil, fmt.Errorf("invalid taint %q: want key[=value]:Effect", spec)
		}
		switch corev1.TaintEffect(effect) {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			return nil, fmt.Errorf("invalid taint %q: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", spec, effect)
		}
		key, value, _ := strings.Cut(kv, "=")
		out = append(out, corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)})
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// kubeletFlags is the kubelet command line k0s builds: its own flags, the
// node labels and taints, then the extra arguments, which win.
func kubeletFlags(o options, kubeletConf, bootstrapConf string, extra map[string]string) []string {
	flags := map[string]string{
		"--bootstrap-kubeconfig": bootstrapConf,
		"--kubeconfig":           kubeletConf,
		"--cert-dir":             filepath.Join(o.dataDir, "kubelet", "pki"),
		"--config":               filepath.Join(o.dataDir, "kubelet-config.yaml"),
		"--hostname-override":    o.hostname,
	}
	if o.labels != "" {
		flags["--node-labels"] = o.labels
	}
	if o.taints != "" {
		flags["--register-with-taints"] = o.taints
	}
	if o.providerID != "" {
		flags["--provider-id"] = o.providerID
	}
	for k, v := range extra {
		flags[k] = v
	}
	out := make([]string, 0, len(flags))
	for k, v := range flags {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
