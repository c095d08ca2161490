package rendercmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/bootstrapinput"
	"github.com/cabpk0s/cabpk0s/internal/manager"
)

// namespaced sources read from a namespace chosen once the config is known.
type namespaced interface {
	in(namespace string) bootstrapinput.Sources
}

// sources returns where contentFrom and customUserDataRef are read from.
func (o *options) sources() (bootstrapinput.Sources, error) {
	if o.kubeconfig != "" {
		if len(o.fromFiles) > 0 {
			return nil, badInput("--from-file and --kubeconfig cannot be combined")
		}
		restConfig, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
		if err != nil {
			return nil, badInput("--kubeconfig: %v", err)
		}
		c, err := client.New(restConfig, client.Options{Scheme: manager.NewScheme()})
		if err != nil {
			return nil, err
		}
		return clusterSources{client: c}, nil
	}
	files := localSources{}
	for _, spec := range o.fromFiles {
		ref, path, ok := strings.Cut(spec, "=")
		if !ok || ref == "" || path == "" {
			return nil, badInput("--from-file %q: want NAME/KEY=PATH or NAME=DIR", spec)
		}
		name, key, oneKey := strings.Cut(ref, "/")
		if oneKey {
			files[sourceKey{name, key}] = path
			continue
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, badInput("--from-file %s: %v", spec, err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				files[sourceKey{name, e.Name()}] = filepath.Join(path, e.Name())
			}
		}
	}
	return files, nil
}

type sourceKey struct{ name, key string }

// localSources serve Secret and ConfigMap keys from local files.
type localSources map[sourceKey]string

func (s localSources) Read(_ context.Context, src *bootstrapv1.ContentSource) (string, error) {
	kind, ref := "Secret", src.SecretRef
	if ref == nil {
		kind, ref = "ConfigMap", src.ConfigMapRef
	}
	if ref == nil {
		return "", fmt.Errorf("content source names neither a Secret nor a ConfigMap")
	}
	path, ok := s[sourceKey{ref.Name, ref.Key}]
	if !ok {
		return "", &bootstrapinput.MissingSourceError{What: fmt.Sprintf("key %q of %s %s", ref.Key, kind, ref.Name)}
	}
	data, err := os.ReadFile(path) //nolint:gosec // a file the user named with --from-file
	if err != nil {
		return "", badInput("--from-file %s/%s: %v", ref.Name, ref.Key, err)
	}
	return string(data), nil
}

// clusterSources read from a cluster, in the namespace chosen per config.
type clusterSources struct{ client client.Client }

func (c clusterSources) Read(ctx context.Context, src *bootstrapv1.ContentSource) (string, error) {
	return c.in("default").Read(ctx, src)
}

func (c clusterSources) in(namespace string) bootstrapinput.Sources {
	return bootstrapinput.ClientSources{Client: c.client, Namespace: namespace}
}
