package childprocess

import (
	"net"
	"os"
	"testing"
)

// TestConnectionsCountsOnlyThisProcessToThatPort: this test process opens
// three connections to one listener and one to another; the count for the
// first port is three, whoever else is connected to it.
func TestConnectionsCountsOnlyThisProcessToThatPort(t *testing.T) {
	listen := func() (net.Listener, int) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { _ = c.Close() })
			}
		}()
		return l, l.Addr().(*net.TCPAddr).Port
	}
	a, portA := listen()
	b, _ := listen()
	for _, addr := range []net.Addr{a.Addr(), a.Addr(), a.Addr(), b.Addr()} {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	got, err := connections(os.Getpid(), portA)
	if err != nil {
		t.Fatal(err)
	}
	// The accepted ends are this process's too, but their remote port is
	// the dialer's, not the listener's.
	if got != 3 {
		t.Fatalf("connections to port %d: %d, want 3", portA, got)
	}
	if got, err := connections(os.Getpid(), 1); err != nil || got != 0 {
		t.Fatalf("connections to port 1: %d (%v), want 0", got, err)
	}
}
