package testenv

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	. "github.com/onsi/gomega"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
)

// A process envtest had to kill, or found gone when it meant to, is
// stopped; any other failure to stop is reported.
func TestIgnoreStopTimeout(t *testing.T) {
	g := NewWithT(t)
	timeout := errors.New("timeout waiting for process kube-apiserver to stop")
	gone := fmt.Errorf("unable to kill process /x/etcd: %w", syscall.ESRCH)
	denied := fmt.Errorf("unable to kill process /x/etcd: %w", syscall.EPERM)
	signal := fmt.Errorf("unable to signal for process /x/etcd to stop: %w", syscall.ESRCH)

	g.Expect(ignoreStopTimeout(nil)).To(Succeed())
	g.Expect(ignoreStopTimeout(timeout)).To(Succeed())
	g.Expect(ignoreStopTimeout(kerrors.NewAggregate([]error{timeout, gone}))).To(Succeed())
	g.Expect(ignoreStopTimeout(kerrors.NewAggregate([]error{timeout, denied}))).To(MatchError(ContainSubstring("operation not permitted")))
	g.Expect(ignoreStopTimeout(signal)).To(MatchError(signal))
	g.Expect(ignoreStopTimeout(kerrors.NewAggregate([]error{signal}))).To(MatchError(ContainSubstring("unable to signal")))
}
