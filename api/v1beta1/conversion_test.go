package v1beta1

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	"k8s.io/apimachinery/pkg/runtime"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	utilconversion "sigs.k8s.io/cluster-api/util/conversion"
	"sigs.k8s.io/randfill"

	"github.com/cabpk0s/cabpk0s/api/v1beta2"
)

func fuzzScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1beta2.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme
}

// TestFuzzyConversion round-trips 10,000 random objects of each kind
// v1beta1 -> v1beta2 -> v1beta1 and v1beta2 -> v1beta1 -> v1beta2 and
// requires the result to equal the input.
func TestFuzzyConversion(t *testing.T) {
	scheme := fuzzScheme(t)

	t.Run("K0sWorkerConfig", utilconversion.SpokeConverterFuzzTestFunc(utilconversion.SpokeConverterFuzzTestFuncInput[*v1beta2.K0sWorkerConfig, *K0sWorkerConfig]{
		Scheme:                scheme,
		ConvertHubToSpokeFunc: ConvertK0sWorkerConfigHubToV1Beta1,
		ConvertSpokeToHubFunc: ConvertK0sWorkerConfigV1Beta1ToHub,
		FuzzerFuncs:           fuzzFuncs,
	}))
	t.Run("K0sWorkerConfigTemplate", utilconversion.SpokeConverterFuzzTestFunc(utilconversion.SpokeConverterFuzzTestFuncInput[*v1beta2.K0sWorkerConfigTemplate, *K0sWorkerConfigTemplate]{
		Scheme:                scheme,
		ConvertHubToSpokeFunc: ConvertK0sWorkerConfigTemplateHubToV1Beta1,
		ConvertSpokeToHubFunc: ConvertK0sWorkerConfigTemplateV1Beta1ToHub,
		FuzzerFuncs:           fuzzFuncs,
	}))
	t.Run("K0sControllerConfig", utilconversion.SpokeConverterFuzzTestFunc(utilconversion.SpokeConverterFuzzTestFuncInput[*v1beta2.K0sControllerConfig, *K0sControllerConfig]{
		Scheme:                scheme,
		ConvertHubToSpokeFunc: ConvertK0sControllerConfigHubToV1Beta1,
		ConvertSpokeToHubFunc: ConvertK0sControllerConfigV1Beta1ToHub,
		FuzzerFuncs:           fuzzFuncs,
	}))
}

// fuzzFuncs keeps the fuzzer to values the API server can store: a pointer
// to the zero time serialises as JSON null and so reads back as nil.
var fuzzFuncs = []fuzzer.FuzzerFuncs{
	func(runtimeserializer.CodecFactory) []any {
		return []any{
			// spec.k0s is any JSON object as the API server stores it:
			// compact, never random bytes.
			func(r *runtime.RawExtension, c randfill.Continue) {
				raw, err := json.Marshal(map[string]any{"apiVersion": "k0s.k0sproject.io/v1beta1", "kind": "ClusterConfig",
					"spec": map[string]any{"api": map[string]any{"externalAddress": c.String(20), "port": c.Int31()}}})
				if err != nil {
					panic(err)
				}
				*r = runtime.RawExtension{Raw: raw}
			},
			func(t *corev1.Taint, c randfill.Continue) {
				c.FillNoCustom(t)
				if t.TimeAdded != nil && t.TimeAdded.IsZero() {
					t.TimeAdded = nil
				}
			},
		}
	},
}
