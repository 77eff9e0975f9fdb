package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// HA is a master, its replicas and three Sentinels watching them, all real
// redis-server processes on loopback: the setup of a Redis that survives
// losing its master.
type HA struct {
	MasterName string
	Servers    []*Server // Servers[0] is the first master
	Sentinels  []*Server
	certs      *Certs // every server and Sentinel speaks TLS only; nil: plain TCP
}

// StartHA starts a master with two replicas and three Sentinels (a quorum of
// two), and waits until the replicas have synced and the Sentinels know each
// other and both replicas. The Sentinels call a master down after 1 s without
// an answer. min-replicas-to-write stays 0, so that the master never refuses
// a write by itself and the service's own WAIT is what a test sees.
func StartHA(t *testing.T) *HA {
	t.Helper()
	return startHA(t, nil)
}

// StartHATLS starts the same as StartHA, every server and Sentinel speaking
// TLS only with the server certificate of certs, replication included.
func StartHATLS(t *testing.T, certs *Certs) *HA {
	t.Helper()
	return startHA(t, certs)
}

func startHA(t *testing.T, certs *Certs) *HA {
	t.Helper()
	h := &HA{MasterName: "pingpong", certs: certs}
	master := start(t, certs, []string{"--repl-diskless-sync-delay", "0"})
	h.Servers = []*Server{master}
	for range 2 {
		h.Servers = append(h.Servers, start(t, certs, []string{"--repl-diskless-sync-delay", "0", "--replicaof", "127.0.0.1", master.Port()}))
	}
	for range 3 {
		h.Sentinels = append(h.Sentinels, startSentinel(t, h.MasterName, master))
	}
	ctx := context.Background()
	for _, replica := range h.Servers[1:] {
		waitFor(t, replica.Addr+" to sync with the master", func() bool {
			c := redis.NewClient(options(replica.Addr, h.certs))
			defer c.Close()
			info, err := c.Info(ctx, "replication").Result()
			return err == nil && strings.Contains(info, "master_link_status:up")
		})
	}
	for _, s := range h.Sentinels {
		waitFor(t, "Sentinel "+s.Addr+" to know both replicas and the other Sentinels", func() bool {
			c := redis.NewSentinelClient(options(s.Addr, h.certs))
			defer c.Close()
			master, err := c.Master(ctx, h.MasterName).Result()
			return err == nil && master["num-slaves"] == "2" && master["num-other-sentinels"] == "2"
		})
	}
	return h
}

// SentinelAddrs is the list REDIS_SENTINELS takes.
func (h *HA) SentinelAddrs() string {
	addrs := make([]string, len(h.Sentinels))
	for i, s := range h.Sentinels {
		addrs[i] = s.Addr
	}
	return strings.Join(addrs, ",")
}

// MasterAddr asks a Sentinel which server is the master now.
func (h *HA) MasterAddr(t *testing.T) string {
	t.Helper()
	c := redis.NewSentinelClient(options(h.Sentinels[0].Addr, h.certs))
	defer c.Close()
	addr, err := c.GetMasterAddrByName(context.Background(), h.MasterName).Result()
	if err != nil {
		t.Fatalf("asking Sentinel for the master: %v", err)
	}
	return addr[0] + ":" + addr[1]
}

// WaitForNewMaster waits until the Sentinels name a master other than old.
func (h *HA) WaitForNewMaster(t *testing.T, old string) string {
	t.Helper()
	var addr string
	waitFor(t, "the Sentinels to promote a replica", func() bool {
		addr = h.MasterAddr(t)
		return addr != old
	})
	return addr
}

// Client returns a client of one server, closed when the test ends.
func Client(t *testing.T, addr string) *redis.Client {
	c := client(addr)
	t.Cleanup(func() { c.Close() })
	return c
}

func client(addr string) *redis.Client {
	return redis.NewClient(options(addr, nil))
}

// options are a test's client options for one server or Sentinel: over TLS,
// trusting the CA of certs, unless certs is nil.
func options(addr string, certs *Certs) *redis.Options {
	opts := &redis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true}
	if certs != nil {
		opts.TLSConfig = certs.TLSConfig()
	}
	return opts
}

// startSentinel runs redis-server in Sentinel mode, watching master, over
// TLS when master speaks it. Sentinel rewrites its configuration file, so
// each one gets its own.
func startSentinel(t *testing.T, name string, master *Server) *Server {
	t.Helper()
	s := start(t, master.certs, nil) // a free port and a folder; replaced below by the Sentinel
	s.Stop(t)
	conf := filepath.Join(s.dir, "sentinel.conf")
	content := fmt.Sprintf("bind 127.0.0.1\ndir %s\n"+
		"sentinel monitor %s 127.0.0.1 %s 2\n"+
		"sentinel down-after-milliseconds %s 1000\n"+
		"sentinel failover-timeout %s 3000\n"+
		"sentinel parallel-syncs %s 1\n",
		s.dir, name, master.Port(), name, name, name)
	if err := os.WriteFile(conf, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	s.command = append([]string{conf, "--sentinel"}, s.listenArgs()...)
	s.Start(t)
	return s
}

// waitFor fails the test unless cond becomes true within 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s", what)
		}
	}
}
