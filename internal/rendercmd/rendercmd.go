// Package rendercmd is `cabpk0s render`: the bootstrap data a
// K0sWorkerConfig (or a Machine of a K0sWorkerConfigTemplate) would get,
// without a cluster. It validates with the admission rules, builds its input
// and renders exactly as the reconciler does, with a join token that is
// clearly fake.
package rendercmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation/field"

	bootstrapv1 "github.com/cabpk0s/cabpk0s/api/v1beta2"
	"github.com/cabpk0s/cabpk0s/internal/bootstrapinput"
	"github.com/cabpk0s/cabpk0s/internal/jointoken"
	"github.com/cabpk0s/cabpk0s/internal/render"
	"github.com/cabpk0s/cabpk0s/internal/validation"
)

// Exit codes.
const (
	exitOK = 0
	// exitFailed: something outside the input failed (a file that cannot
	// be read, a cluster that cannot be reached).
	exitFailed = 1
	// exitBadInput: the input is wrong; the message says where.
	exitBadInput = 2
)

// The fake join token's parts. The ID and secret read as what they are in
// every decoded kubeconfig, and the server cannot resolve.
const (
	FakeServer      = "https://control-plane.invalid:6443"
	fakeTokenID     = "render"
	fakeTokenSecret = "notarealtoken000"
	fakeCA          = "-----BEGIN CERTIFICATE-----\nY2FicGswcyByZW5kZXI6IG5vdCBhIGNlcnRpZmljYXRl\n-----END CERTIFICATE-----\n"
)

// FakeToken is the join token rendered data carries: well formed, joining
// nothing.
var FakeToken = jointoken.Token{ID: fakeTokenID, Secret: fakeTokenSecret}

const usage = `Usage: cabpk0s render -f FILE [flags]

Prints the bootstrap data cabpk0s would write for the K0sWorkerConfig or
K0sWorkerConfigTemplate in FILE (v1beta1 or v1beta2; "-" reads standard
input), after the same validation as admission. The join token in it is
fake (token render.notarealtoken000 for server %s) unless --server and
--ca-file name real ones; it never joins anything.

contentFrom and customUserDataRef sources come from --from-file, or from a
cluster with --kubeconfig. A Machine, MachinePool or MachineDeployment in
FILE that refers to the config supplies the node name and the version, as
its controller would.

Flags:
`

// options are the command line.
type options struct {
	filename    string
	name        string
	fromFiles   []string
	kubeconfig  string
	namespace   string
	server      string
	caFile      string
	tokenFile   string
	machineName string
	version     string
	pool        bool
	files       bool
	diff        string
}

// Run runs `cabpk0s render` with the arguments after "render" and returns
// the exit code. Bad input prints field-path errors on stderr and nothing
// on stdout.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	opts := &options{}
	fs := pflag.NewFlagSet("render", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, usage, FakeServer)
		fs.PrintDefaults()
	}
	fs.StringVarP(&opts.filename, "filename", "f", "", "file with the K0sWorkerConfig or K0sWorkerConfigTemplate (- for standard input)")
	fs.StringVar(&opts.name, "name", "", "which config to render when FILE holds several")
	fs.StringArrayVar(&opts.fromFiles, "from-file", nil, "a contentFrom or customUserDataRef source: NAME/KEY=PATH for one key of the Secret or ConfigMap NAME, or NAME=DIR for every file in DIR as a key (repeatable)")
	fs.StringVar(&opts.kubeconfig, "kubeconfig", "", "read sources from the cluster of this kubeconfig instead of --from-file")
	fs.StringVar(&opts.namespace, "namespace", "", "namespace of the sources in the cluster (default: the config's, else default)")
	fs.StringVar(&opts.server, "server", FakeServer, "control plane URL the join token points at")
	fs.StringVar(&opts.caFile, "ca-file", "", "PEM file of the cluster CA the join token trusts (default: a placeholder)")
	fs.StringVar(&opts.tokenFile, "join-token-file", "", "file holding a real bootstrap token as ID.SECRET, to reproduce a data Secret byte for byte (default: the fake token)")
	fs.StringVar(&opts.machineName, "machine-name", "", "the Machine's name, which becomes the node name (default: from FILE's Machine, else the config's name)")
	fs.StringVar(&opts.version, "machine-version", "", "the Machine's spec.version, used when the config sets none (default: from FILE)")
	fs.BoolVar(&opts.pool, "machine-pool", false, "render for a MachinePool: instances keep their own hostnames")
	fs.BoolVar(&opts.files, "files", false, "print the files the data writes (path, mode, size), the commands and the script instead of the data")
	fs.StringVar(&opts.diff, "diff", "", "print what changes on a machine between FILE's config and this file's")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "cabpk0s render:", err)
		return exitBadInput
	}
	if opts.filename == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "cabpk0s render: -f FILE is required, and no other arguments are taken")
		fs.Usage()
		return exitBadInput
	}

	out, err := run(ctx, opts, stdin)
	if err != nil {
		fmt.Fprintln(stderr, "cabpk0s render:", err)
		var bad *inputError
		if errors.As(err, &bad) {
			return exitBadInput
		}
		return exitFailed
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintln(stderr, "cabpk0s render:", err)
		return exitFailed
	}
	return exitOK
}

// inputError is a mistake in what the user gave: exit code 2.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

func badInput(format string, args ...any) error { return &inputError{err: fmt.Errorf(format, args...)} }

func run(ctx context.Context, opts *options, stdin io.Reader) ([]byte, error) {
	sources, err := opts.sources()
	if err != nil {
		return nil, err
	}
	ca := []byte(fakeCA)
	if opts.caFile != "" {
		if ca, err = os.ReadFile(opts.caFile); err != nil {
			return nil, err
		}
	}
	token := FakeToken
	if opts.tokenFile != "" {
		if token, err = readToken(opts.tokenFile); err != nil {
			return nil, err
		}
	}
	first, err := renderFile(ctx, opts, opts.filename, stdin, sources, ca, token)
	if err != nil {
		return nil, err
	}
	if opts.diff != "" {
		second, err := renderFile(ctx, opts, opts.diff, stdin, sources, ca, token)
		if err != nil {
			return nil, err
		}
		return diffData(first, second)
	}
	if opts.files {
		return describe(first)
	}
	return first.data, nil
}

// rendered is one config's bootstrap data.
type rendered struct {
	source string
	kind   string
	config *bootstrapv1.K0sWorkerConfig
	format render.Format
	data   []byte
}

func renderFile(ctx context.Context, opts *options, filename string, stdin io.Reader, sources bootstrapinput.Sources, ca []byte, token jointoken.Token) (*rendered, error) {
	raw, err := readInput(filename, stdin)
	if err != nil {
		return nil, err
	}
	found, err := findConfig(raw, opts.name)
	if err != nil {
		return nil, &inputError{err: fmt.Errorf("%s: %w", filename, err)}
	}
	config := found.config
	if errs, _ := validation.Spec(&config.Spec, found.specPath); len(errs) > 0 {
		lines := make([]string, len(errs))
		for i, e := range errs {
			lines[i] = "  " + e.Error()
		}
		return nil, badInput("%s: %s %s is invalid:\n%s", filename, found.kind, config.Name, strings.Join(lines, "\n"))
	}

	machine := bootstrapinput.Machine{OwnerVersion: found.ownerVersion}
	if opts.version != "" {
		machine.OwnerVersion = opts.version
	}
	if !opts.pool && !found.pool {
		name := opts.machineName
		if name == "" {
			name = found.machineName
		}
		machine.NodeName = bootstrapinput.NodeName(&config.Spec.K0sInstallSpec, name)
	}
	if _, err := bootstrapinput.Version(config.Spec.Version, machine.OwnerVersion); err != nil {
		return nil, badInput("%s: the Machine's version %q: %v", filename, machine.OwnerVersion, err)
	}
	if ns, ok := sources.(namespaced); ok {
		sources = ns.in(firstNonEmpty(opts.namespace, config.Namespace, "default"))
	}
	in, err := bootstrapinput.Build(ctx, &config.Spec, machine, sources)
	if err != nil {
		if bootstrapinput.IsMissingSource(err) {
			return nil, &inputError{err: fmt.Errorf("%s: %w (give it with --from-file or --kubeconfig)", filename, err)}
		}
		return nil, err
	}
	data, err := bootstrapinput.Render(in, &bootstrapinput.Join{Role: jointoken.Worker, Server: opts.server, CA: ca}, token)
	if err != nil {
		return nil, &inputError{err: fmt.Errorf("%s: cannot render %s %s: %w", filename, found.kind, config.Name, err)}
	}
	return &rendered{source: filename, kind: found.kind, config: config, format: in.Format, data: data}, nil
}

func readInput(filename string, stdin io.Reader) ([]byte, error) {
	if filename == "-" {
		return io.ReadAll(stdin)
	}
	data, err := os.ReadFile(filename) //nolint:gosec // the user's own file, named on the command line
	if err != nil {
		return nil, badInput("%v", err)
	}
	return data, nil
}

// readToken reads ID.SECRET, never echoing it: it is a credential.
func readToken(path string) (jointoken.Token, error) {
	raw, err := os.ReadFile(path) //nolint:gosec // a file the user named on the command line
	if err != nil {
		return jointoken.Token{}, badInput("--join-token-file: %v", err)
	}
	id, secret, ok := strings.Cut(strings.TrimSpace(string(raw)), ".")
	if !ok || len(id) != 6 || len(secret) != 16 {
		return jointoken.Token{}, badInput("--join-token-file %s does not hold a bootstrap token (ID.SECRET, 6 and 16 characters)", path)
	}
	return jointoken.Token{ID: id, Secret: secret}, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// describe lists what the data makes the machine do.
func describe(r *rendered) ([]byte, error) {
	decoded, err := render.Decode(r.data, r.format)
	if err != nil {
		return nil, fmt.Errorf("reading the rendered data back: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s %s/%s: %s, %d bytes\n", r.kind, r.config.Namespace, r.config.Name, r.format, len(r.data))
	fmt.Fprintf(&b, "%-6s %-10s %8s  %s\n", "MODE", "OWNER", "SIZE", "PATH")
	for _, f := range decoded.Files {
		fmt.Fprintf(&b, "%04o   %-10s %8d  %s\n", f.Mode, f.Owner, len(f.Content), f.Path)
	}
	b.WriteString("\n# commands\n")
	for _, c := range decoded.Commands {
		b.WriteString(strings.Join(c, " ") + "\n")
	}
	if script, ok := decoded.File(render.ScriptPath); ok {
		fmt.Fprintf(&b, "\n# %s\n%s", render.ScriptPath, script.Content)
	}
	return b.Bytes(), nil
}

const configKind = "K0sWorkerConfig"

// fieldPath names the spec inside a config or a template.
func fieldPath(template bool) *field.Path {
	if template {
		return field.NewPath("spec", "template", "spec")
	}
	return field.NewPath("spec")
}
