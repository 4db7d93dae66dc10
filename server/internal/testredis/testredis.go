// Package testredis runs a real redis-server on a free loopback port for
// tests. Under CI (CI set in the environment) a missing redis-server fails
// the test; elsewhere the test is skipped with the reason.
package testredis

import (
	"bufio"
	"fmt"
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
	URL  string // redis://127.0.0.1:port/0
	Port int
	dir  string
	args []string
	cmd  *exec.Cmd
	t    testing.TB
}

// Start runs redis-server with persistence off, or with an append-only file
// fsynced on every write when persist is true (so a restart keeps every
// acknowledged entry). It is stopped when the test ends.
func Start(t testing.TB, persist bool) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed; .ci/run installs it (apt-get install -y redis-server)")
		}
		t.Skip("redis-server is not installed (apt-get install -y redis-server); skipped outside CI")
	}
	s := &Server{Port: testproc.FreePort(t), dir: t.TempDir(), t: t}
	s.URL = fmt.Sprintf("redis://127.0.0.1:%d/0", s.Port)
	s.args = []string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", s.dir, "--save", "", "--protected-mode", "yes"}
	if persist {
		s.args = append(s.args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		s.args = append(s.args, "--appendonly", "no")
	}
	s.args = append([]string{bin}, s.args...)
	s.start()
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

// ping speaks just enough RESP to tell that the server answers.
func (s *Server) ping() bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// Pause freezes the server (SIGSTOP): connections stay open, nothing answers.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume thaws a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

// Restart stops the server the way an operator would (SIGTERM, which
// flushes the append-only file) and starts it again on the same port and
// data directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.start()
}

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal redis-server: %v", err)
	}
}

func (s *Server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}
