package testredis

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/internal/testproc"
)

// Cluster is a Redis Cluster of three masters without replicas on
// loopback, the smallest cluster redis-cli will create. It is stricter than
// ElastiCache Serverless, which shows clients one virtual shard: a key may
// live on any of three nodes, the others answer MOVED, and a command whose
// keys lie in different hash slots is refused with CROSSSLOT.
type Cluster struct {
	URL   string    // redis://<first node>/0: clients discover the others from it
	Addrs []string  // every node's host:port
	Nodes []*Server // in the order of Addrs
	t     testing.TB
}

// StartCluster runs three cluster-enabled redis-servers, each with its own
// data directory and nodes file, joins them with redis-cli --cluster create,
// and returns once every node reports cluster_state:ok. persist is as for
// Start. The nodes are stopped when the test ends.
func StartCluster(t testing.TB, persist bool) *Cluster {
	t.Helper()
	bin := lookPath(t, "redis-server")
	cli := lookPath(t, "redis-cli")
	c := &Cluster{t: t}
	for range 3 {
		// The bus port is chosen too: the default, port+10000, may be taken
		// or beyond 65535.
		bus := testproc.FreePort(t)
		s := newServer(t, bin, persist, "--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus))
		s.args = append(s.args, "--cluster-config-file", filepath.Join(s.dir, "nodes-"+strconv.Itoa(s.Port)+".conf"))
		s.cluster = true
		s.start()
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	c.URL = c.Nodes[0].URL
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, s := range c.Nodes {
		s.waitClusterOK()
	}
	return c
}

// RestartElsewhere stops a cluster node and starts it again on another
// port with the same data and node ID, as a failover hands a shard to a
// node at another address. It returns once the other nodes have learned
// the new address from the node's gossip and the cluster is whole again.
func (c *Cluster) RestartElsewhere(s *Server) {
	c.t.Helper()
	s.signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.Port = testproc.FreePort(c.t)
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	s.URL = fmt.Sprintf("redis://%s/0", s.Addr)
	s.args[slices.Index(s.args, "--port")+1] = strconv.Itoa(s.Port)
	for i, n := range c.Nodes {
		if n == s {
			c.Addrs[i] = s.Addr
		}
	}
	s.start()
	for _, n := range c.Nodes {
		n.waitClusterOK()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(c.must(n, "CLUSTER", "NODES"), " "+s.Addr+"@") {
			if time.Now().After(deadline) {
				c.t.Fatalf("node %s did not learn that %s moved", n.Addr, s.Addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// waitClusterOK waits until the node sees every slot served and every node
// of the cluster.
func (s *Server) waitClusterOK() {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := s.Do("CLUSTER", "INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("cluster node %s not ready: %v\n%s", s.Addr, err, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Slot returns the hash slot of key, as the cluster computes it.
func (c *Cluster) Slot(key string) int {
	c.t.Helper()
	reply, err := c.Nodes[0].Do("CLUSTER", "KEYSLOT", key)
	if err != nil {
		c.t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
	}
	slot, err := strconv.Atoi(reply)
	if err != nil {
		c.t.Fatalf("CLUSTER KEYSLOT %s: %q", key, reply)
	}
	return slot
}

// Owner returns the node that serves key's hash slot, by each node's own
// account of its slots.
func (c *Cluster) Owner(key string) *Server {
	c.t.Helper()
	slot := c.Slot(key)
	for _, s := range c.Nodes {
		if slices.Contains(c.ownSlots(s), slot) {
			return s
		}
	}
	c.t.Fatalf("no node serves slot %d", slot)
	return nil
}

// KeyOn returns the first of prefix0, prefix1, ... whose slot node serves.
func (c *Cluster) KeyOn(prefix string, node *Server) string {
	c.t.Helper()
	own := c.ownSlots(node)
	for i := range 1000 { // a node with a third of the slots needs about three
		key := prefix + strconv.Itoa(i)
		if slices.Contains(own, c.Slot(key)) {
			return key
		}
	}
	c.t.Fatalf("no key %s<n> on %s, which serves %d slots", prefix, node.Addr, len(own))
	return ""
}

// MoveSlot moves key's hash slot, and every key in it, to node while the
// cluster keeps serving, the way redis-cli --cluster reshard does: the
// target imports, the source migrates key by key, then every node is told
// the new owner. Clients of the old owner get MOVED from then on.
func (c *Cluster) MoveSlot(key string, to *Server) {
	c.t.Helper()
	from := c.Owner(key)
	if from == to {
		return
	}
	slot := strconv.Itoa(c.Slot(key))
	fromID, toID := c.id(from), c.id(to)
	c.must(to, "CLUSTER", "SETSLOT", slot, "IMPORTING", fromID)
	c.must(from, "CLUSTER", "SETSLOT", slot, "MIGRATING", toID)
	for {
		keys, err := from.Do("CLUSTER", "GETKEYSINSLOT", slot, "100")
		if err != nil {
			c.t.Fatalf("CLUSTER GETKEYSINSLOT on %s: %v", from.Addr, err)
		}
		if keys == "" {
			break
		}
		args := []string{"MIGRATE", "127.0.0.1", strconv.Itoa(to.Port), "", "0", "5000", "KEYS"}
		c.must(from, append(args, strings.Split(keys, "\n")...)...)
	}
	// The target first, so that it never redirects back to the source.
	c.must(to, "CLUSTER", "SETSLOT", slot, "NODE", toID)
	for _, s := range c.Nodes {
		if s != to {
			c.must(s, "CLUSTER", "SETSLOT", slot, "NODE", toID)
		}
	}
}

func (c *Cluster) must(s *Server, args ...string) string {
	c.t.Helper()
	reply, err := s.Do(args...)
	if err != nil {
		c.t.Fatalf("%s on %s: %v", strings.Join(args, " "), s.Addr, err)
	}
	return reply
}

func (c *Cluster) id(s *Server) string {
	c.t.Helper()
	return c.must(s, "CLUSTER", "MYID")
}

// ownSlots lists the slots node serves, from the "myself" line of its
// CLUSTER NODES: "<id> <addr> myself,master - 0 0 1 connected 0-5460 ...".
func (c *Cluster) ownSlots(node *Server) []int {
	c.t.Helper()
	var slots []int
	for line := range strings.Lines(c.must(node, "CLUSTER", "NODES")) {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.Contains(f[2], "myself") {
			continue
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") { // a slot being migrated or imported
				continue
			}
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil {
				c.t.Fatalf("CLUSTER NODES on %s: bad slot range %q", node.Addr, r)
			}
			for i := a; i <= b; i++ {
				slots = append(slots, i)
			}
		}
	}
	return slots
}
