package simulation_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/simulation"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// The join judged by Kubernetes' own code: every case here runs the k0s
// worker's join (the kubelet's TLS bootstrap library) against a real
// kube-apiserver and kube-controller-manager. A token that is wrong in a
// way cabpk0s's own decoder would not notice must fail here.

const testVersion = "v1.33.4+k0s.0"

var workload *testenv.Workload

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	if workload, err = testenv.StartWorkload(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := workload.PublishWorkerProfiles(ctx, "1.33", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = workload.Stop()
		os.Exit(1)
	}
	code := m.Run()
	if err := workload.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// newToken creates a bootstrap token as cabpk0s does and returns the k0s
// join token for it.
func newToken(t *testing.T, ttl time.Duration) (string, jointoken.Token) {
	t.Helper()
	id, err := jointoken.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	token, err := jointoken.Worker.CreateWith(t.Context(), workload.Client, id, "test "+t.Name(), ttl, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return encode(t, workload.CACert, token), token
}

func encode(t *testing.T, ca []byte, token jointoken.Token) string {
	t.Helper()
	k0sToken, err := jointoken.Worker.Encode(workload.Config.Host, ca, token)
	if err != nil {
		t.Fatal(err)
	}
	return k0sToken
}

func worker(t *testing.T, hostname string) simulation.Worker {
	return simulation.Worker{Hostname: hostname, K0sVersion: testVersion, DataDir: t.TempDir(), ProviderID: "aws:///us-east-1a/" + hostname}
}

func TestJoinThroughTheKubeletTLSBootstrap(t *testing.T) {
	k0sToken, token := newToken(t, time.Hour)
	w := worker(t, "join-good")
	w.Labels = "example.com/pool=a,topology.kubernetes.io/zone=us-east-1a"
	w.Taints = "node.cluster.x-k8s.io/uninitialized:NoSchedule,dedicated=gpu:NoExecute"
	w.KubeletExtraArgs = "--max-pods=42 --hostname-override=join-good-override"
	joined, err := simulation.Join(t.Context(), k0sToken, w)
	if err != nil {
		t.Fatal(err)
	}

	// The node is who its signed certificate says, never the bootstrap token.
	if joined.NodeUser != "system:node:join-good-override" || !contains(joined.NodeGroups, "system:nodes") {
		t.Errorf("the node authenticates as %s %v, want system:node:join-good-override in system:nodes", joined.NodeUser, joined.NodeGroups)
	}
	// The certificate chains to the cluster CA, for client authentication.
	block, _ := pem.Decode([]byte(joined.ClientCertificate))
	if block == nil {
		t.Fatalf("no certificate in the join's result")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(workload.CACert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the node's client certificate does not chain to the cluster CA: %v", err)
	}
	// The controller manager approved the request the bootstrap identity filed.
	requester, err := joined.Requester(t.Context(), workload.Client)
	if err != nil {
		t.Fatal(err)
	}
	if requester.Username != "system:bootstrap:"+token.ID {
		t.Errorf("the node's certificate request was filed by %q, want system:bootstrap:%s", requester, token.ID)
	}
	if joined.WorkerProfile != "worker-config-default-1.33" {
		t.Errorf("the worker read profile %s, want worker-config-default-1.33", joined.WorkerProfile)
	}
	if !contains(joined.KubeletFlags, "--max-pods=42") || !contains(joined.KubeletFlags, "--node-labels="+w.Labels) {
		t.Errorf("kubelet flags %v lack --max-pods=42 or the node labels", joined.KubeletFlags)
	}

	node := &corev1.Node{}
	if err := workload.Client.Get(t.Context(), client.ObjectKey{Name: "join-good-override"}, node); err != nil {
		t.Fatal(err)
	}
	if node.Spec.ProviderID != w.ProviderID || node.Labels["example.com/pool"] != "a" || node.Labels["topology.kubernetes.io/zone"] != "us-east-1a" {
		t.Errorf("Node registered with providerID %q labels %v", node.Spec.ProviderID, node.Labels)
	}
	// The API server adds node.kubernetes.io/not-ready itself (no node
	// lifecycle controller runs to lift it).
	want := map[string]corev1.TaintEffect{"node.cluster.x-k8s.io/uninitialized": corev1.TaintEffectNoSchedule, "dedicated": corev1.TaintEffectNoExecute}
	for _, taint := range node.Spec.Taints {
		if want[taint.Key] == taint.Effect {
			delete(want, taint.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("Node registered with taints %v, missing %v", node.Spec.Taints, want)
	}
}

func TestJoinRefusesBrokenTokens(t *testing.T) {
	other, err := testenv.AnotherClusterCA()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		token func(t *testing.T) string
		want  string
	}{
		"a CA that is not the cluster's": {
			token: func(t *testing.T) string {
				_, token := newToken(t, time.Hour)
				return encode(t, other, token)
			},
			want: "x509:",
		},
		"a user other than kubelet-bootstrap": {
			token: func(t *testing.T) string {
				k0sToken, _ := newToken(t, time.Hour)
				return renameUser(t, k0sToken, "controller-bootstrap")
			},
			want: "wrong token type controller-bootstrap, expected type: kubelet-bootstrap",
		},
		"a Secret without the authentication usage": {
			token: func(t *testing.T) string {
				k0sToken, token := newToken(t, time.Hour)
				secret := &corev1.Secret{}
				key := client.ObjectKey{Namespace: metav1.NamespaceSystem, Name: jointoken.SecretName(token.ID)}
				if err := workload.Client.Get(t.Context(), key, secret); err != nil {
					t.Fatal(err)
				}
				delete(secret.Data, bootstrapapi.BootstrapTokenUsageAuthentication)
				if err := workload.Client.Update(t.Context(), secret); err != nil {
					t.Fatal(err)
				}
				return k0sToken
			},
			want: "Unauthorized",
		},
		"a revoked token": {
			token: func(t *testing.T) string {
				k0sToken, token := newToken(t, time.Hour)
				if err := jointoken.Delete(t.Context(), workload.Client, token.ID); err != nil {
					t.Fatal(err)
				}
				return k0sToken
			},
			want: "Unauthorized",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			hostname := "broken-" + strings.ReplaceAll(strings.ToLower(name[2:]), " ", "-")
			_, err := simulation.Join(t.Context(), tc.token(t), worker(t, hostname))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("join with %s: got %v, want an error containing %q", name, err, tc.want)
			}
			if err := workload.Client.Get(t.Context(), client.ObjectKey{Name: hostname}, &corev1.Node{}); !apierrors.IsNotFound(err) {
				t.Errorf("a Node %s exists after a refused join (get: %v)", hostname, err)
			}
		})
	}
}

// What admission refuses (validation.nodeLabels) is what the real API
// server refuses a node: NodeRestriction does not let a kubelet register
// with a node-role label.
func TestJoinWithALabelNodesMayNotSet(t *testing.T) {
	k0sToken, _ := newToken(t, time.Hour)
	w := worker(t, "join-node-role")
	w.Labels = "node-role.kubernetes.io/worker="
	_, err := simulation.Join(t.Context(), k0sToken, w)
	if err == nil || !strings.Contains(err.Error(), "node-role.kubernetes.io/worker") || !strings.Contains(err.Error(), "registering Node") {
		t.Fatalf("join with a node-role label: got %v, want the API server to refuse registering the Node", err)
	}
}

// Two machines under one node name would be one Node: the second join says
// the name is taken instead of reporting a Node Cluster API cannot match.
func TestJoinRefusesANodeNameAnotherMachineHas(t *testing.T) {
	k0sToken, _ := newToken(t, time.Hour)
	if _, err := simulation.Join(t.Context(), k0sToken, worker(t, "join-twice")); err != nil {
		t.Fatal(err)
	}
	second := worker(t, "join-twice")
	second.ProviderID = "aws:///us-east-1a/i-other"
	_, err := simulation.Join(t.Context(), k0sToken, second)
	if err == nil || !strings.Contains(err.Error(), "node name join-twice is taken") {
		t.Fatalf("a second machine under the same node name: got %v, want the name to be taken", err)
	}
}

// An expired token is deleted by the controller manager's tokencleaner,
// not by anything of ours, and then refused.
func TestJoinWithATokenTheTokenCleanerDeleted(t *testing.T) {
	k0sToken, token := newToken(t, 2*time.Second)
	deadline := time.Now().Add(time.Minute)
	for {
		d, deleted, err := workload.TokenDeletion(token.ID)
		if err != nil {
			t.Fatal(err)
		}
		if deleted {
			if !d.ByTokenCleaner() {
				t.Fatalf("token %s was deleted by %s, not the tokencleaner", token.ID, d.By)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tokencleaner did not delete expired token %s within a minute", token.ID)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, err := simulation.Join(t.Context(), k0sToken, worker(t, "join-expired"))
	if err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("join with an expired token: got %v, want Unauthorized", err)
	}
}

// A worker profile the control plane does not publish fails the join with
// a message that names it; once published, the same machine joins.
func TestJoinNeedsItsWorkerProfile(t *testing.T) {
	k0sToken, _ := newToken(t, time.Hour)
	w := worker(t, "join-profile")
	w.Profile = "gpu-" + strings.ToLower(t.Name()[len(t.Name())-6:])
	_, err := simulation.Join(t.Context(), k0sToken, w)
	want := fmt.Sprintf("worker profile %q does not exist for Kubernetes 1.33", w.Profile)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("join with an unpublished profile: got %v, want %q", err, want)
	}
	if err := workload.PublishWorkerProfiles(t.Context(), "1.33", map[string]string{w.Profile: "maxPods: 8\n"}); err != nil {
		t.Fatal(err)
	}
	// The machine's disk keeps the credentials its first boot got.
	joined, err := simulation.Join(t.Context(), k0sToken, w)
	if err != nil {
		t.Fatal(err)
	}
	if joined.WorkerProfile != testenv.WorkerProfileName(w.Profile, "1.33") {
		t.Errorf("read profile %s", joined.WorkerProfile)
	}
}

func renameUser(t *testing.T, k0sToken, user string) string {
	t.Helper()
	cfg, err := jointoken.Decode(k0sToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	cfg.AuthInfos[user] = cfg.AuthInfos[ctx.AuthInfo]
	delete(cfg.AuthInfos, ctx.AuthInfo)
	ctx.AuthInfo = user
	kubeconfig, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(kubeconfig); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
