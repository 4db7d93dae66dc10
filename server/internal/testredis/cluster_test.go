package testredis_test

import (
	"strings"
	"testing"

	"github.com/wsfargate/websocket-service/server/internal/testredis"
)

func TestCluster(t *testing.T) {
	c := testredis.StartCluster(t, false)
	if len(c.Nodes) != 3 || len(c.Addrs) != 3 {
		t.Fatalf("%d nodes, %d addresses; want 3", len(c.Nodes), len(c.Addrs))
	}
	// Every node serves some keys, and a key is refused with MOVED by the
	// nodes that do not serve it.
	for _, n := range c.Nodes {
		key := c.KeyOn("k", n)
		if c.Owner(key) != n {
			t.Fatalf("KeyOn(%s) = %q, which %s serves", n.Addr, key, c.Owner(key).Addr)
		}
		for _, other := range c.Nodes {
			_, err := other.Do("SET", key, "v")
			if moved := err != nil && strings.HasPrefix(err.Error(), "MOVED"); moved != (other != n) {
				t.Errorf("SET %s on %s: %v", key, other.Addr, err)
			}
		}
	}
	// A moved slot takes its keys along.
	key := c.KeyOn("k", c.Nodes[0])
	c.MoveSlot(key, c.Nodes[2])
	if c.Owner(key) != c.Nodes[2] {
		t.Fatalf("after MoveSlot %s is on %s", key, c.Owner(key).Addr)
	}
	if v, err := c.Nodes[2].Do("GET", key); err != nil || v != "v" {
		t.Fatalf("GET %s on its new node: %q, %v", key, v, err)
	}
	if _, err := c.Nodes[0].Do("GET", key); err == nil {
		t.Fatalf("GET %s on its old node answered", key)
	}
}

func TestServerDo(t *testing.T) {
	s := testredis.Start(t, false)
	tests := []struct {
		args []string
		want string
		err  bool
	}{
		{[]string{"PING"}, "PONG", false},
		{[]string{"SET", "a", "x\r\ny"}, "OK", false},
		{[]string{"RPUSH", "l", "1", "2"}, "2", false},
		{[]string{"LRANGE", "l", "0", "-1"}, "1\n2", false},
		{[]string{"GET", "missing"}, "", false},
		{[]string{"CLUSTER", "INFO"}, "", true}, // cluster support disabled
	}
	for _, tt := range tests {
		got, err := s.Do(tt.args...)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("Do(%q) = %q, %v; want %q, error %v", tt.args, got, err, tt.want, tt.err)
		}
	}
}
