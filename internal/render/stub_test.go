package render

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Environment of the stub commands. The bootstrap script never reads these;
// it only passes its environment on to the commands it runs.
const (
	envLog     = "CABPK0S_STUB_LOG"     // JSON-lines log of every call
	envImpl    = "CABPK0S_STUB_IMPL"    // directory of stubs that are not on PATH
	envBinary  = "CABPK0S_STUB_BINARY"  // what a download of k0s yields
	envState   = "CABPK0S_STUB_STATE"   // directory for the fake service state
	envFail    = "CABPK0S_STUB_FAIL"    // comma-separated "cmd" or "cmd arg1" to fail
	envWatch   = "CABPK0S_STUB_WATCH"   // a path whose existence every call records
	envVersion = "CABPK0S_STUB_K0S_VER" // what `k0s version` prints
	envKubectl = "CABPK0S_STUB_KUBECTL" // what `k0s kubectl` prints
)

// call is one logged stub invocation.
type call struct {
	Cmd string             `json:"cmd"`
	Arg []string           `json:"args"`
	Env map[string]*string `json:"env"`
	// Watched is whether the envWatch path existed during the call.
	Watched bool `json:"watched"`
	// Stdin is what a call told to read a password from standard input
	// (--password-stdin) read there.
	Stdin string `json:"stdin,omitempty"`
}

// String is "cmd arg1" (enough to tell steps apart).
func (c call) String() string {
	if len(c.Arg) == 0 || strings.HasPrefix(c.Arg[0], "-") {
		return c.Cmd
	}
	return c.Cmd + " " + c.Arg[0]
}

var stubs = map[string]func(args []string) int{
	"curl":       stubCurl,
	"get-k0s":    stubGetK0s,
	"k0s":        stubK0s,
	"oras":       stubOras,
	"systemctl":  stubLogOnly("systemctl"),
	"rc-service": stubLogOnly("rc-service"),
	"rc-update":  stubLogOnly("rc-update"),
	"service":    stubLogOnly("service"),
	"hook":       stubLogOnly("hook"),
}

// logCall records the call and reports whether the test asked it to fail.
func logCall(cmd string, args []string) bool {
	env := map[string]*string{}
	for _, k := range []string{"HOME", "K0S_VERSION", "K0S_INSTALL_PATH"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = &v
		}
	}
	_, err := os.Stat(os.Getenv(envWatch))
	c := call{Cmd: cmd, Arg: args, Env: env, Watched: err == nil}
	if slices.Contains(args, "--password-stdin") {
		stdin, _ := io.ReadAll(os.Stdin)
		c.Stdin = string(stdin)
	}
	line, _ := json.Marshal(c)
	f, err := os.OpenFile(os.Getenv(envLog), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		panic(err)
	}
	name := call{Cmd: cmd, Arg: args}.String()
	fail := strings.Split(os.Getenv(envFail), ",")
	return slices.Contains(fail, cmd) || slices.Contains(fail, name)
}

func stubLogOnly(cmd string) func([]string) int {
	return func(args []string) int {
		if logCall(cmd, args) {
			fmt.Fprintf(os.Stderr, "%s: failing as asked\n", cmd)
			return 1
		}
		return 0
	}
}

// stubCurl downloads the fake k0s to -o, or prints a get.k0s.sh that runs
// the get-k0s stub.
func stubCurl(args []string) int {
	if logCall("curl", args) {
		fmt.Fprintln(os.Stderr, "curl: (22) The requested URL returned error: 503")
		return 22
	}
	if i := slices.Index(args, "-o"); i >= 0 && i+1 < len(args) {
		return copyBinary(args[i+1])
	}
	fmt.Printf("#!/bin/sh\nexec %s \"$@\"\n", shQuote(filepath.Join(os.Getenv(envImpl), "get-k0s")))
	return 0
}

// stubGetK0s plays get.k0s.sh: install the fake k0s into K0S_INSTALL_PATH.
func stubGetK0s(args []string) int {
	if logCall("get-k0s", args) {
		return 1
	}
	k0s := filepath.Join(os.Getenv("K0S_INSTALL_PATH"), "k0s")
	if rc := copyBinary(k0s); rc != 0 {
		return rc
	}
	if err := os.Chmod(k0s, 0o700); err != nil { //nolint:gosec // the script runs it, as after get.k0s.sh
		panic(err)
	}
	return 0
}

func stubOras(args []string) int {
	if logCall("oras", args) {
		return 1
	}
	i := slices.Index(args, "--output")
	if i < 0 || i+1 >= len(args) {
		fmt.Fprintln(os.Stderr, "oras stub: no --output")
		return 2
	}
	if args[0] == "pull" {
		return copyBinary(filepath.Join(args[i+1], "k0s"))
	}
	return copyBinary(args[i+1])
}

// stubK0s is enough of k0s for the script: `version`, and an `install` that,
// like the real one, fails when the service exists and --force is missing.
func stubK0s(args []string) int {
	if logCall("k0s", args) {
		fmt.Fprintln(os.Stderr, "k0s: failing as asked")
		return 1
	}
	if len(args) > 0 && args[0] == "version" {
		fmt.Println(os.Getenv(envVersion))
		return 0
	}
	if len(args) > 0 && args[0] == "kubectl" {
		fmt.Print(os.Getenv(envKubectl))
		return 0
	}
	if len(args) > 0 && args[0] == "install" {
		// k0s reads these when it starts; missing, the service would fail.
		for i, a := range args[:len(args)-1] {
			if a == "--config" || a == "--token-file" {
				if _, err := os.Stat(args[i+1]); err != nil {
					fmt.Fprintln(os.Stderr, "k0s:", err)
					return 1
				}
			}
		}
		installed := filepath.Join(os.Getenv(envState), "k0sworker.installed")
		if _, err := os.Stat(installed); err == nil && !slices.Contains(args, "--force") {
			fmt.Fprintln(os.Stderr, "k0s: failed to install k0s service: Init already exists")
			return 1
		}
		if err := os.WriteFile(installed, nil, 0o600); err != nil {
			panic(err)
		}
	}
	return 0
}

func copyBinary(to string) int {
	b, err := os.ReadFile(os.Getenv(envBinary))
	if err == nil {
		err = os.WriteFile(to, b, 0o600)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stub download:", err)
		return 1
	}
	return 0
}
