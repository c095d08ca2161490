package validation_test

import (
	"context"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/bootstrapinput"
	"github.com/cabpk0s/cabpk0s/internal/render"
	"github.com/cabpk0s/cabpk0s/internal/validation"
)

// fakeToken has a k0s token's shape (one line of base64) and joins nothing.
var fakeToken = base64.StdEncoding.EncodeToString([]byte("cabpk0s property test: not a gzipped kubeconfig"))

// sourceContent answers every contentFrom and customUserDataRef with a
// value from the pool; a custom cloud-config must be one, so it gets one.
type sourceContent struct{ file string }

func (s sourceContent) Read(_ context.Context, src *bootstrapv1.ContentSource) (string, error) {
	if src.SecretRef != nil && src.SecretRef.Key == "userdata" {
		return "#cloud-config\nruncmd: [echo custom]\n", nil
	}
	return s.file, nil
}

// Pools of values, from the render fuzz corpus and the webhook's rejection
// table: each has valid values and the mistakes the validator must catch.
type pool[T any] struct{ good, bad []T }

var (
	paths = pool[string]{
		good: []string{"/etc/x", "/", "/etc/a b", "/etc/'q'", "/var/lib/k0s/k0s.token", "/etc/{{ x }}", "/etc/$(id)"},
		bad:  []string{"x", "/etc//x", "/etc/x/", "/etc/../x", "/etc/k0s.token", render.ScriptPath, render.SentinelPath, render.DoneMarkerPath, render.PreCommandsPath, "/etc/\x00x"},
	}
	dirs = pool[string]{
		good: []string{"", "/var/lib/k0s", "/opt/k0s bin", "/opt/'x'"},
		bad:  []string{"etc", "/etc/", "/etc/{{ x }}", "/a/../b", "/tmp/\n"},
	}
	urls = pool[string]{
		good: []string{"", "https://example.com/k0s", "http://10.0.0.1:8080/k0s", "oci://registry.example.com/k0s:v1.33.4",
			"oci://registry.example.com/k0s@sha256:" + strings.Repeat("0", 64), "https://u:p@example.com/k0s"},
		bad: []string{"oci://registry.example.com:5000/k0s", "oci://r.example.com", "ftp://example.com/k0s", "https:///k0s", "x.example.com/k0s",
			"https://example.com/%zz", "oci://r.example.com/k0s@abc", "https://example.com/a b"},
	}
	shas     = pool[string]{good: []string{"", strings.Repeat("a", 64)}, bad: []string{"abc", strings.Repeat("g", 64)}}
	versions = pool[string]{good: []string{"", "v1.33.4+k0s.0", "1.33.4-k0s.0", "v1.34.1"}, bad: []string{"latest", "v1.33.4+rke2r1"}}
	perms    = pool[string]{good: []string{"", "0644", "600", "0755", "4755", "1777"}, bad: []string{"rw-r", "0988", "17777"}}
	contents = []string{"x", "{{ v1.instance_id }}", "#!/bin/sh\necho $HOME\n", "--kubelet-extra-args=\"--a=b", "'"}
	args     = pool[string]{good: []string{"--debug", "--kubelet-extra-args=--max-pods=110", "--kubelet-extra-args", "--labels=a=b", "'", "$(id)"}, bad: []string{"a\x00b"}}
	commands = []string{"echo hi", "systemctl stop locksmithd", "'", "$(id)"}
	labels   = pool[map[string]string]{good: []map[string]string{nil, {"pool": "blue"}}, bad: []map[string]string{{"pool": "blue green"}, {"": "x"}}}
	taints   = pool[[]corev1.Taint]{
		good: [][]corev1.Taint{nil, {{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}},
		bad: [][]corev1.Taint{{{Key: "a"}}, {{Effect: corev1.TaintEffectNoSchedule}},
			{{Key: "a", Effect: corev1.TaintEffectNoExecute}, {Key: "a", Effect: corev1.TaintEffectNoExecute}}},
	}
	kubeletArgs = pool[map[string]string]{
		good: []map[string]string{nil, {"max-pods": "110"}, {"node-ip": "10.0.0.1"}},
		bad:  []map[string]string{{"--max-pods": "110"}, {"node-ip": "10.0.0.1 --evil"}, {"": "x"}, {"a=b": "c"}},
	}
	profiles   = pool[string]{good: []string{"", "gpu"}, bad: []string{"gpu large", "a\tb"}}
	additional = []string{"", "storage: {files: [{path: /etc/extra, contents: {inline: x}}]}\n", `{"ignition":{"version":"3.4.0"}}`}
)

// pick takes a mistake one time in ten, so that a good share of specs has
// none at all.
func (p pool[T]) pick(r *rand.Rand) T {
	if r.IntN(10) == 0 {
		return any1(r, p.bad)
	}
	return any1(r, p.good)
}

func any1[T any](r *rand.Rand, values []T) T { return values[r.IntN(len(values))] }

// randomSpec builds a spec from the pools, mixing valid and invalid values.
func randomSpec(r *rand.Rand) (bootstrapv1.K0sWorkerConfigSpec, string) {
	spec := bootstrapv1.K0sWorkerConfigSpec{
		K0sInstallSpec: bootstrapv1.K0sInstallSpec{
			Version:         versions.pick(r),
			WorkingDir:      dirs.pick(r),
			K0sInstallDir:   dirs.pick(r),
			PreInstalledK0s: r.IntN(3) == 0,
			DownloadURL:     urls.pick(r),
			DownloadSHA256:  shas.pick(r),
		},
		Labels:           labels.pick(r),
		Taints:           taints.pick(r),
		KubeletExtraArgs: kubeletArgs.pick(r),
		Profile:          profiles.pick(r),
	}
	for range r.IntN(3) {
		spec.Args = append(spec.Args, args.pick(r))
	}
	for range r.IntN(2) {
		spec.PreK0sCommands = append(spec.PreK0sCommands, any1(r, commands))
		spec.PostK0sCommands = append(spec.PostK0sCommands, any1(r, commands))
	}
	for range r.IntN(4) {
		f := bootstrapv1.File{Path: paths.pick(r), Permissions: perms.pick(r), Content: any1(r, contents)}
		if r.IntN(3) == 0 {
			f.ContentFrom = &bootstrapv1.ContentSource{SecretRef: &bootstrapv1.ContentSourceRef{Name: "files", Key: "file"}}
			if r.IntN(2) == 0 {
				f.Content = ""
			}
		}
		spec.Files = append(spec.Files, f)
	}
	switch r.IntN(4) {
	case 0:
		spec.Provisioner.Type = bootstrapv1.ProvisioningFormatIgnition
		variant := any1(r, []bootstrapv1.IgnitionVariant{bootstrapv1.IgnitionVariantFCOS, bootstrapv1.IgnitionVariantFlatcar})
		spec.Provisioner.Ignition = &bootstrapv1.IgnitionSpec{Variant: variant, Version: "1.5.0", AdditionalConfig: any1(r, additional)}
		if variant == bootstrapv1.IgnitionVariantFlatcar {
			spec.Provisioner.Ignition.Version = "1.1.0"
		}
	case 1:
		spec.Provisioner.CustomUserDataRef = &bootstrapv1.ContentSource{SecretRef: &bootstrapv1.ContentSourceRef{Name: "userdata", Key: "userdata"}}
	}
	return spec, any1(r, contents)
}

// TestEveryAdmittedSpecRenders is the property that makes the validator
// the only one: whatever Spec admits, the reconciler can render. It also
// requires the generator to reach both sides, so it cannot pass by
// rejecting everything.
func TestEveryAdmittedSpecRenders(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 2026)) //nolint:gosec // seeded on purpose: a failure replays
	admitted, rejected := 0, 0
	for i := range 5000 {
		spec, fileContent := randomSpec(r)
		if !admitsAndRenders(t, i, &spec, fileContent) {
			rejected++
			continue
		}
		admitted++
	}
	t.Logf("%d specs admitted and rendered, %d rejected", admitted, rejected)
	if admitted < 200 || rejected < 200 {
		t.Fatalf("the generator must reach both sides: %d admitted, %d rejected", admitted, rejected)
	}
}

// admitsAndRenders reports whether Spec admitted the spec, and fails the
// test when an admitted spec does not render.
func admitsAndRenders(t *testing.T, i int, spec *bootstrapv1.K0sWorkerConfigSpec, fileContent string) bool {
	t.Helper()
	errs, _ := validation.Spec(spec, field.NewPath("spec"))
	if len(errs) > 0 {
		return false
	}
	in, err := bootstrapinput.Build(context.Background(), spec, bootstrapinput.Machine{NodeName: "worker-0", OwnerVersion: "v1.33.4"}, sourceContent{file: fileContent})
	if err != nil {
		t.Fatalf("spec %d was admitted but its input cannot be built: %v\n%#v", i, err, spec)
	}
	in.JoinToken = fakeToken
	if _, err := render.Render(in); err != nil {
		t.Fatalf("spec %d was admitted but does not render: %v\n%#v", i, err, spec)
	}
	return true
}

// FuzzEveryAdmittedSpecRenders explores beyond the pools:
// go test ./internal/validation -fuzz FuzzEveryAdmittedSpecRenders.
func FuzzEveryAdmittedSpecRenders(f *testing.F) {
	f.Add("/etc/x", "/var/lib/k0s", "https://example.com/k0s", "0644", "--debug", "gpu", false)
	f.Add("x", "etc", "oci://r.example.com/k0s:v1", "600", "--kubelet-extra-args=--a=b", "", true)
	f.Add("/etc/k0s.token", "", "", "", "'", "a b", false)
	f.Fuzz(func(t *testing.T, path, dir, url, perm, arg, profile string, preinstalled bool) {
		spec := bootstrapv1.K0sWorkerConfigSpec{
			K0sInstallSpec: bootstrapv1.K0sInstallSpec{
				WorkingDir:      dir,
				K0sInstallDir:   dir,
				DownloadURL:     url,
				PreInstalledK0s: preinstalled,
				Args:            []string{arg},
				PreK0sCommands:  []string{arg},
				Files:           []bootstrapv1.File{{Path: path, Content: arg, Permissions: perm}},
			},
			Profile:          profile,
			KubeletExtraArgs: map[string]string{"v": arg},
		}
		admitsAndRenders(t, 0, &spec, arg)
	})
}
