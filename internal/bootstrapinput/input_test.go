package bootstrapinput

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/render"
)

type oneSource string

func (s oneSource) Read(context.Context, *bootstrapv1.ContentSource) (string, error) {
	return string(s), nil
}

// TestBuild: contentFrom content is verbatim data and inline content a
// template; the owner's version fills in for the spec's; Cluster API's
// uninitialized taint comes first; the node name follows useSystemHostname.
func TestBuild(t *testing.T) {
	g := NewWithT(t)
	spec := &bootstrapv1.K0sWorkerConfigSpec{
		K0sInstallSpec: bootstrapv1.K0sInstallSpec{
			Files: []bootstrapv1.File{
				{Path: "/etc/inline", Content: "{{ v1.instance_id }}"},
				{Path: "/etc/from-source", ContentFrom: &bootstrapv1.ContentSource{SecretRef: &bootstrapv1.ContentSourceRef{Name: "s", Key: "k"}}},
			},
		},
	}
	in, err := Build(context.Background(), spec, Machine{NodeName: NodeName(&spec.K0sInstallSpec, "worker-0"), OwnerVersion: "v1.33.4"}, oneSource("{{ $labels }}"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(in.Files).To(Equal([]render.File{
		{Path: "/etc/inline", Content: "{{ v1.instance_id }}"},
		{Path: "/etc/from-source", Content: "{{ $labels }}", Verbatim: true},
	}))
	g.Expect(in.Version).To(Equal("v1.33.4+k0s.0"))
	g.Expect(in.NodeName).To(Equal("worker-0"))
	g.Expect(in.Taints[0].Key).To(Equal("node.cluster.x-k8s.io/uninitialized"))

	spec.UseSystemHostname = true
	g.Expect(NodeName(&spec.K0sInstallSpec, "worker-0")).To(BeEmpty())
}
