package webhooks_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/cabpk0s/cabpk0s/internal/testenv"
)

// env is a real management API server with Cluster API's, CAPA's and
// cabpk0s's CRDs and webhooks, shared by the tests of this package.
var env *testenv.Management

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.StartManagement(context.Background(), testenv.ManagementOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the management API server:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the management API server:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
