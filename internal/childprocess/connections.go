package childprocess

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// tcpEstablished is the state column of an established connection in
// /proc/net/tcp.
const tcpEstablished = "01"

// Connections counts the process's established TCP connections to
// remotePort (the API server it talks to, say): its sockets, from
// /proc/<pid>/fd, matched by inode against the connections of its network
// namespace in /proc/<pid>/net/tcp and tcp6.
func (p *Process) Connections(remotePort int) (int, error) { return connections(p.Pid(), remotePort) }

func connections(pid, remotePort int) (int, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	sockets := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err != nil {
			continue // closed since the listing
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok {
			sockets[strings.TrimSuffix(inode, "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"tcp", "tcp6"} {
		count, err := countConnections(fmt.Sprintf("/proc/%d/net/%s", pid, table), remotePort, sockets)
		if err != nil {
			return 0, err
		}
		n += count
	}
	return n, nil
}

// countConnections reads one /proc/net/tcp table: sl, local address,
// remote address (hex IP:port), state, ..., inode (the tenth column).
func countConnections(path string, remotePort int, sockets map[string]bool) (int, error) {
	f, err := os.Open(path) //nolint:gosec // a /proc table of the process
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	scanner := bufio.NewScanner(f)
	scanner.Scan() // the header
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 10 || fields[3] != tcpEstablished || !sockets[fields[9]] {
			continue
		}
		_, portHex, ok := strings.Cut(fields[2], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseInt(portHex, 16, 32)
		if err == nil && int(port) == remotePort {
			n++
		}
	}
	return n, scanner.Err()
}
