package simulation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	"github.com/cabpk0s/cabpk0s/internal/render"
	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// BootErrorAnnotation on a Machine says why the simulated boot could not
// join it; it is removed once the Machine joins.
const BootErrorAnnotation = "sandbox.cabpk0s.io/boot-error"

// BootSimulator stands in for a machine booting with its bootstrap data:
// it reads the data Secret (cloud-init would parse single-part
// cloud-config, ValidateCloudConfig), finds the bootstrap script's
// `k0s install worker` command and the token file it names, and joins as
// the k0s worker would (Boot): the kubelet's real TLS bootstrap against the
// workload API server, a certificate the real controller manager signs,
// the worker profile read with the node's credentials, and the Node
// registered with the Machine's provider ID. Broken data, a token the API
// server refuses or a profile the control plane does not publish leave the
// Machine unjoined, with the reason in BootErrorAnnotation and an event.
type BootSimulator struct {
	Client   client.Client
	Workload *testenv.Workload
	Recorder events.EventRecorder
	// ValidateCloudConfig, when set, checks single-part cloud-config before
	// booting, as a real machine's cloud-init would parse it (for example
	// fixtures.ValidateCloudConfig, which runs cloud-init itself).
	ValidateCloudConfig func(data []byte) error
	// StateDir holds each machine's disk (the kubelet's credentials); a
	// temporary directory when empty.
	StateDir string
	// ShouldBoot, when set, picks the Machines whose instance ever boots;
	// the others stay pending, as instances that never come up.
	ShouldBoot func(*clusterv1.Machine) bool
}

// bootRetry is how soon a failed boot is tried again: a machine retries
// its join, and a profile published meanwhile should not wait long.
const bootRetry = 5 * time.Second

// SetupWithManager registers the simulator.
func (s *BootSimulator) SetupWithManager(mgr ctrl.Manager) error {
	if s.StateDir == "" {
		dir, err := os.MkdirTemp("", "cabpk0s-machines-")
		if err != nil {
			return err
		}
		s.StateDir = dir
	}
	// A refused join takes an attempt of the TLS bootstrap to fail; other
	// machines boot meanwhile.
	return ctrl.NewControllerManagedBy(mgr).Named("simulated-machine-boot").For(&clusterv1.Machine{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).Complete(s)
}

// Reconcile boots one Machine whose bootstrap data and instance are ready.
func (s *BootSimulator) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	m := &clusterv1.Machine{}
	if err := s.Client.Get(ctx, req.NamespacedName, m); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	dataSecret := ""
	if m.Spec.Bootstrap.DataSecretName != nil {
		dataSecret = *m.Spec.Bootstrap.DataSecretName
	}
	if !m.DeletionTimestamp.IsZero() || m.Status.NodeRef.IsDefined() || dataSecret == "" || m.Spec.ProviderID == "" {
		return ctrl.Result{}, nil
	}
	if s.ShouldBoot != nil && !s.ShouldBoot(m) {
		return ctrl.Result{}, nil
	}

	err := s.boot(ctx, m, dataSecret)
	if err == nil {
		return ctrl.Result{}, s.setBootError(ctx, m, "")
	}
	s.Recorder.Eventf(m, nil, corev1.EventTypeWarning, "SimulatedBootFailed", "Boot", "%s", err.Error())
	return ctrl.Result{RequeueAfter: bootRetry}, s.setBootError(ctx, m, err.Error())
}

func (s *BootSimulator) boot(ctx context.Context, m *clusterv1.Machine, dataSecret string) error {
	if m.Spec.Bootstrap.ConfigRef.Kind == "K0sControllerConfig" {
		return s.bootController(ctx, m, dataSecret)
	}
	return s.bootInstance(ctx, m.Namespace, dataSecret, m.Spec.ProviderID, m.Name)
}

// bootController boots a control-plane Machine as its k0s controller
// would (BootController), once: its ControlNode is the proof it runs.
func (s *BootSimulator) bootController(ctx context.Context, m *clusterv1.Machine, dataSecret string) error {
	node := newObject(testenv.ControlNodeGVK)
	if err := s.Workload.Client.Get(ctx, client.ObjectKey{Name: m.Name}, node); err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	value, format, err := s.readData(ctx, m.Namespace, dataSecret)
	if err != nil {
		return err
	}
	host, _, err := s.Workload.Endpoint()
	if err != nil {
		return err
	}
	_, err = BootController(ctx, value, format, ControllerMachine{
		ClusterCA: s.Workload.CACert, EndpointHost: host, Workload: s.Workload.Client, WorkloadConfig: s.Workload.Config,
	})
	return err
}

// bootInstance boots one instance with providerID from the bootstrap data
// in namespace/dataSecret; its hostname is hostname.
func (s *BootSimulator) bootInstance(ctx context.Context, namespace, dataSecret, providerID, hostname string) error {
	if exists, err := s.nodeExists(ctx, providerID); err != nil || exists {
		return err
	}
	value, format, err := s.readData(ctx, namespace, dataSecret)
	if err != nil {
		return err
	}
	_, err = Boot(ctx, value, format, Machine{Hostname: hostname, ProviderID: providerID, DataDir: s.machineDir(providerID)})
	return err
}

// readData reads a bootstrap data Secret, checked as the machine's
// cloud-init would parse it when ValidateCloudConfig is set.
func (s *BootSimulator) readData(ctx context.Context, namespace, dataSecret string) (value []byte, format string, _ error) {
	secret := &corev1.Secret{}
	if err := s.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: dataSecret}, secret); err != nil {
		return nil, "", fmt.Errorf("reading bootstrap data Secret %s: %w", dataSecret, err)
	}
	format, value = string(secret.Data["format"]), secret.Data["value"]
	multipart := bytes.HasPrefix(value, []byte("MIME-Version:")) || bytes.HasPrefix(value, []byte("Content-Type: multipart/"))
	if s.ValidateCloudConfig != nil && format == string(render.FormatCloudConfig) && !multipart {
		if err := s.ValidateCloudConfig(value); err != nil {
			return nil, "", err
		}
	}
	return value, format, nil
}

// machineDir is the disk of the machine with providerID.
func (s *BootSimulator) machineDir(providerID string) string {
	return filepath.Join(s.StateDir, strings.NewReplacer("/", "_", ":", "_").Replace(providerID))
}

// Machine is what a booting machine is before its bootstrap data runs.
type Machine struct {
	Hostname   string
	ProviderID string
	// DataDir is the machine's disk.
	DataDir string
}

// Booted is what a boot did: the k0s worker command line the script ran
// and the join's outcome.
type Booted struct {
	Worker Worker
	Joined
}

// Boot runs bootstrap data on a machine as far as the k0s worker's join:
// the data is decoded (render.Decode, the one decoder beside render.Render),
// the bootstrap script's `k0s install worker` line read with the script's
// variables, the token taken from the file that line names, and the join
// run with the labels, taints, profile and kubelet arguments it passes.
func Boot(ctx context.Context, data []byte, format string, m Machine) (Booted, error) {
	decoded, err := render.Decode(data, render.Format(format))
	if err != nil {
		return Booted{}, fmt.Errorf("bootstrap data: %w", err)
	}
	script := commandsScript(decoded)
	if file, ok := decoded.File(render.ScriptPath); ok {
		script = string(file.Content)
	} else if script == "" {
		return Booted{}, fmt.Errorf("bootstrap data writes no bootstrap script %s and runs no commands", render.ScriptPath)
	}
	install, err := parseInstallCommand(script)
	if err != nil {
		return Booted{}, err
	}
	version, err := scriptK0sVersion(script)
	if err != nil {
		return Booted{}, err
	}
	tokenFile, ok := decoded.File(install.TokenFile)
	if !ok {
		return Booted{}, fmt.Errorf("k0s install worker reads its token from %s, which the bootstrap data does not write", install.TokenFile)
	}
	w := Worker{
		Hostname: m.Hostname, ProviderID: m.ProviderID, K0sVersion: version, DataDir: m.DataDir,
		Profile: install.Profile, Labels: install.Labels, Taints: install.Taints, KubeletExtraArgs: install.KubeletExtraArg,
	}
	joined, err := Join(ctx, strings.TrimSpace(string(tokenFile.Content)), w)
	return Booted{Worker: w, Joined: joined}, err
}

// commandsScript is the script the data's commands make, one line each:
// data of another provider (k0smotron's) runs its steps from cloud-init's
// runcmd instead of a script file.
func commandsScript(decoded render.Decoded) string {
	var lines []string
	for _, argv := range decoded.Commands {
		if len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c" {
			lines = append(lines, argv[2])
			continue
		}
		lines = append(lines, strings.Join(argv, " "))
	}
	return strings.Join(lines, "\n")
}

func (s *BootSimulator) nodeExists(ctx context.Context, providerID string) (bool, error) {
	nodes := &corev1.NodeList{}
	if err := s.Workload.Client.List(ctx, nodes); err != nil {
		return false, err
	}
	for _, n := range nodes.Items {
		if n.Spec.ProviderID == providerID {
			return true, nil
		}
	}
	return false, nil
}

func (s *BootSimulator) setBootError(ctx context.Context, m *clusterv1.Machine, message string) error {
	if m.Annotations[BootErrorAnnotation] == message {
		return nil
	}
	base := m.DeepCopy()
	if message == "" {
		delete(m.Annotations, BootErrorAnnotation)
	} else {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[BootErrorAnnotation] = message
	}
	return s.Client.Patch(ctx, m, client.MergeFrom(base))
}

// JoinTokenFromBootstrapData finds the k0s join token a machine would
// write from its bootstrap data: cloud-config, MIME multi-part
// cloud-config, or Ignition.
func JoinTokenFromBootstrapData(data []byte, format string) (string, error) {
	decoded, err := render.Decode(data, render.Format(format))
	if err != nil {
		return "", err
	}
	for i := len(decoded.Files) - 1; i >= 0; i-- {
		if f := decoded.Files[i]; path.Base(f.Path) == render.TokenFileName {
			return strings.TrimSpace(string(f.Content)), nil
		}
	}
	return "", errors.New("no k0s.token file is written")
}

// BootstrapFiles returns the files bootstrap data writes, by path: the
// content of the last write to each (see render.Decode).
func BootstrapFiles(data []byte, format string) (map[string]string, error) {
	decoded, err := render.Decode(data, render.Format(format))
	if err != nil {
		return nil, err
	}
	files := make(map[string]string, len(decoded.Files))
	for _, f := range decoded.Files {
		files[f.Path] = string(f.Content)
	}
	return files, nil
}
