// Package testredis runs a real redis-server on a free loopback port for
// tests, alone (Start) or as one of three nodes of a Redis Cluster
// (StartCluster). Under CI (CI set in the environment) a missing
// redis-server or redis-cli fails the test; elsewhere the test is skipped
// with the reason.
package testredis

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/internal/testproc"
)

// Server is a running redis-server.
type Server struct {
	URL     string // redis://127.0.0.1:port/0
	Addr    string // 127.0.0.1:port
	Port    int
	dir     string
	args    []string
	cmd     *exec.Cmd
	t       testing.TB
	cluster bool // a cluster node: a restart waits for the cluster to be whole again
}

// Start runs redis-server with persistence off, or with an append-only file
// fsynced on every write when persist is true (so a restart keeps every
// acknowledged entry). It is stopped when the test ends.
func Start(t testing.TB, persist bool) *Server {
	t.Helper()
	s := newServer(t, lookPath(t, "redis-server"), persist)
	s.start()
	return s
}

// lookPath finds a Redis binary, or ends the test: a failure under CI, a
// skip elsewhere.
func lookPath(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run installs it (apt-get install -y redis-server)", name)
		}
		t.Skipf("%s is not installed (apt-get install -y redis-server); skipped outside CI", name)
	}
	return bin
}

// newServer prepares a server on a free port with its own data directory
// and registers its end with the test; extra are further arguments.
func newServer(t testing.TB, bin string, persist bool, extra ...string) *Server {
	t.Helper()
	s := &Server{Port: testproc.FreePort(t), dir: t.TempDir(), t: t}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	s.URL = fmt.Sprintf("redis://%s/0", s.Addr)
	s.args = []string{bin, "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.dir, "--save", "", "--protected-mode", "yes"}
	if persist {
		s.args = append(s.args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		s.args = append(s.args, "--appendonly", "no")
	}
	s.args = append(s.args, extra...)
	t.Cleanup(s.kill)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !s.ping() {
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d did not answer PING", s.Port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) ping() bool {
	reply, err := s.Do("PING")
	return err == nil && reply == "PONG"
}

// Do sends one command and returns its reply as text: an array's elements
// one a line, nested arrays flattened. A Redis error reply is an error.
// It speaks just enough RESP to set up and inspect servers, and needs no
// client library that the code under test might share a bug with.
func (s *Server) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, req.String()); err != nil {
		return "", err
	}
	var lines []string
	if err := readReply(bufio.NewReader(c), &lines); err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

func readReply(r *bufio.Reader, out *[]string) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return errors.New("empty RESP line")
	}
	switch body := line[1:]; line[0] {
	case '+', ':':
		*out = append(*out, body)
	case '-':
		return errors.New(body)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return err
		}
		if n < 0 { // a nil bulk string adds nothing
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		// CLUSTER INFO ends its lines with CRLF, CLUSTER NODES with LF.
		for l := range strings.Lines(string(buf[:n])) {
			*out = append(*out, strings.TrimRight(l, "\r\n"))
		}
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return err
		}
		for range n {
			if err := readReply(r, out); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unexpected RESP line %q", line)
	}
	return nil
}

// Pause freezes the server (SIGSTOP): connections stay open, nothing answers.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume thaws a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

// Restart stops the server the way an operator would (SIGTERM, which
// flushes the append-only file) and starts it again on the same port and
// data directory. A cluster node returns once the cluster is whole again.
func (s *Server) Restart() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.start()
	if s.cluster {
		s.waitClusterOK()
	}
}

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal redis-server: %v", err)
	}
}

// kill ends the process this Server started, and no other.
func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}
