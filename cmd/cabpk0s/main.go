// Command cabpk0s is the cabpk0s command line: `cabpk0s render` prints the
// bootstrap data a K0sWorkerConfig would get, without a cluster, and
// `cabpk0s check-migration` reports what a management cluster's objects
// would lose or break once cabpk0s's CRDs replace k0smotron's. Installed
// as kubectl-cabpk0s on the PATH, it is also `kubectl cabpk0s render`.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cabpk0s/cabpk0s/internal/migrationcheck"
	"github.com/cabpk0s/cabpk0s/internal/rendercmd"
)

const usage = `Usage: %[1]s COMMAND [flags]

Commands:
  render           print the bootstrap data of a K0sWorkerConfig or K0sWorkerConfigTemplate
  check-migration  report what a management cluster's objects would lose or break
                   once cabpk0s's CRDs replace k0smotron's

Run '%[1]s COMMAND --help' for a command's flags.
`

func main() {
	name := "cabpk0s"
	if strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl-") {
		name = "kubectl cabpk0s"
	}
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		fmt.Fprintf(os.Stderr, usage, name)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "render":
		os.Exit(rendercmd.Run(context.Background(), os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	case "check-migration":
		os.Exit(migrationcheck.Run(context.Background(), os.Args[2:], os.Stdout, os.Stderr))
	default:
		fmt.Fprintf(os.Stderr, "%s: unknown command %q\n\n", name, os.Args[1])
		fmt.Fprintf(os.Stderr, usage, name)
		os.Exit(2)
	}
}
