package migrationcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cabpk0sconfig "github.com/cabpk0s/cabpk0s/config"
)

// Exit codes.
const (
	exitOK = 0
	// exitFindings: something would be pruned or refused.
	exitFindings = 1
	// exitError: wrong flags, or the cluster cannot be read.
	exitError = 2
)

// requestTimeout bounds each request: a kubeconfig cannot set one, and an
// unreachable server would otherwise hang the check.
const requestTimeout = 30 * time.Second

const usage = `Usage: cabpk0s check-migration [flags]

Reports what the K0sWorkerConfigs, K0sWorkerConfigTemplates and
K0sControllerConfigs of a management cluster would lose or break once
cabpk0s's CRDs replace k0smotron's. Run it before the switch: afterwards
the API server reads the stored objects through cabpk0s's schema, and what
it prunes is gone.

Every object is read in the version it is stored in, pruned and validated
against cabpk0s's schema of that version, and checked with cabpk0s's
admission rules. One line per finding:

  KIND NAMESPACE/NAME (VERSION): FIELD: SEVERITY: PROBLEM

  pruned   the field is unknown to cabpk0s: the API server drops it when
           it reads the object, and from etcd on the object's next write
  invalid  cabpk0s refuses the value: re-creating the object (clusterctl
           move, a restore) fails, and so does changing the field; with
           "would be refused on update", any change of the spec does
  warning  accepted, without effect

Values are not printed (they may be credentials), except a refused value
of an enum. Status is not checked: cabpk0s rebuilds it.

Exit status: 0 when nothing would be pruned or refused (warnings alone
included), 1 when something would, 2 when the flags are wrong or the
cluster cannot be read.

Flags:
`

// options are the command line.
type options struct {
	kubeconfig string
	context    string
	namespace  string
}

// Run runs `cabpk0s check-migration` with the arguments after
// "check-migration" and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts := &options{}
	fs := pflag.NewFlagSet("check-migration", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&opts.kubeconfig, "kubeconfig", "", "kubeconfig of the management cluster (default: $KUBECONFIG, else ~/.kube/config)")
	fs.StringVar(&opts.context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.StringVarP(&opts.namespace, "namespace", "n", "", "check only this namespace (default: all namespaces)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "cabpk0s check-migration:", err)
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cabpk0s check-migration: no arguments are taken, got %q\n", fs.Args())
		fs.Usage()
		return exitError
	}

	report, err := run(ctx, opts)
	if err != nil {
		fmt.Fprintln(stderr, "cabpk0s check-migration:", err)
		return exitError
	}
	if err := printReport(stdout, report); err != nil {
		fmt.Fprintln(stderr, "cabpk0s check-migration:", err)
		return exitError
	}
	if report.Blocking() {
		fmt.Fprintln(stderr, "cabpk0s check-migration: change these objects, or keep k0smotron's bootstrap provider, before switching")
		return exitFindings
	}
	return exitOK
}

func run(ctx context.Context, opts *options) (*Report, error) {
	cl, err := opts.client()
	if err != nil {
		return nil, err
	}
	crds, err := cabpk0sconfig.CustomResourceDefinitions()
	if err != nil {
		return nil, err
	}
	checker, err := NewChecker(crds)
	if err != nil {
		return nil, err
	}
	return checker.Cluster(ctx, cl, opts.namespace)
}

// client reaches the cluster as kubectl would: the kubeconfig named, else
// $KUBECONFIG, else ~/.kube/config, in the context named or the current one.
func (o *options) client() (client.Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.context}
	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	if config.Timeout == 0 {
		config.Timeout = requestTimeout
	}
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	cl, err := client.New(config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", config.Host, err)
	}
	return cl, nil
}

// printReport writes one line per finding and the summary.
func printReport(w io.Writer, report *Report) error {
	for _, f := range report.Findings {
		if _, err := fmt.Fprintln(w, f); err != nil {
			return err
		}
	}
	summary := fmt.Sprintf("checked %s: %s", count(report.Checked, "object"), count(len(report.Findings), "finding"))
	if len(report.Findings) > 0 {
		summary += fmt.Sprintf(" (%d %s, %d %s, %d %s)",
			report.Count(SeverityPruned), SeverityPruned, report.Count(SeverityInvalid), SeverityInvalid, report.Count(SeverityWarning), SeverityWarning)
	}
	_, err := fmt.Fprintln(w, summary)
	return err
}

// count is "1 object", "2 objects".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
