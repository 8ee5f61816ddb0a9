package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, url string, cred Credentials) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.UserInfo(cred.User, cred.Password),
		nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connecting to %s as %s: %v", url, cred.User, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func isAuthError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) ||
		strings.Contains(strings.ToLower(fmt.Sprint(err)), "authorization violation")
}

// pingServers sends $SYS.REQ.SERVER.PING and collects the names of the
// servers that answer, until want of them have or a few seconds passed.
func pingServers(t *testing.T, nc *nats.Conn, want int) map[string]bool {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$SYS.REQ.SERVER.PING", inbox, nil); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	deadline := time.Now().Add(3 * time.Second)
	for len(names) < want {
		msg, err := sub.NextMsg(time.Until(deadline))
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var stats struct {
			Server struct {
				Name    string `json:"name"`
				Cluster string `json:"cluster"`
			} `json:"server"`
		}
		if err := json.Unmarshal(msg.Data, &stats); err != nil {
			t.Fatalf("PING answer %q: %v", msg.Data, err)
		}
		names[stats.Server.Name] = true
	}
	return names
}

func nodeNames(c *Cluster) []string {
	var names []string
	for _, n := range c.Nodes() {
		names = append(names, n.Name)
	}
	return names
}

// publish publishes with an ack, retrying (with the same message ID, so the
// stream stores it once) while a stream leader is being elected.
func publish(ctx context.Context, t *testing.T, js jetstream.JetStream, subject, data string) *jetstream.PubAck {
	t.Helper()
	var lastErr error
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ack, err := js.Publish(pctx, subject, []byte(data), jetstream.WithMsgID(data))
		cancel()
		if err == nil {
			return ack
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("publishing %q: %v (last error: %v)", data, ctx.Err(), lastErr)
	return nil
}

// The seed's walkthrough needs these on a 3-node cluster; they share one
// cluster to keep the package's tests short.
func TestThreeNodeCluster(t *testing.T) {
	c := StartT(t, Options{})
	if got, want := nodeNames(c), []string{"n1", "n2", "n3"}; !slices.Equal(got, want) {
		t.Fatalf("nodes %v, want %v", got, want)
	}
	if got := len(c.ClientURLs()); got != 3 || c.ClientURL() != strings.Join(c.ClientURLs(), ",") {
		t.Fatalf("ClientURLs %v, ClientURL %q", c.ClientURLs(), c.ClientURL())
	}

	// Unlike the seed, nobody gets in without credentials, on any node.
	t.Run("NoCredentialsRefused", func(t *testing.T) {
		for _, url := range append(c.ClientURLs(), c.ClientURL()) {
			nc, err := nats.Connect(url, nats.MaxReconnects(0))
			if err == nil {
				nc.Close()
				t.Fatalf("%s: a client without credentials connected", url)
			}
			if !isAuthError(err) {
				t.Fatalf("%s: want an authorization violation, got %v", url, err)
			}
		}
		wrong := c.App()
		wrong.Password += "x"
		nc, err := nats.Connect(c.ClientURL(), nats.UserInfo(wrong.User, wrong.Password), nats.MaxReconnects(0))
		if err == nil {
			nc.Close()
			t.Fatal("a client with a wrong password connected")
		}
		if !isAuthError(err) {
			t.Fatalf("wrong password: want an authorization violation, got %v", err)
		}
	})

	// The passwords are only in nats.conf as bcrypt hashes; both files are
	// readable by their owner only.
	t.Run("ConfigFilesAreSecret", func(t *testing.T) {
		for _, n := range c.Nodes() {
			for _, name := range []string{"nats.conf", "routes.conf"} {
				path := filepath.Join(filepath.Dir(n.ConfigPath), name)
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
				}
			}
			conf, err := os.ReadFile(n.ConfigPath)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{c.App().Password, c.Admin().Password} {
				if strings.Contains(string(conf), secret) {
					t.Errorf("%s contains a plaintext password", n.ConfigPath)
				}
			}
			if !strings.Contains(string(conf), "cluster {") {
				t.Errorf("%s has no cluster block", n.ConfigPath)
			}
		}
	})

	t.Run("AppCreatesR3StreamAndPublishes", func(t *testing.T) {
		ctx := testContext(t)
		js, err := jetstream.New(connect(t, c.ClientURL(), c.App()))
		if err != nil {
			t.Fatal(err)
		}
		s, err := js.CreateStream(ctx, jetstream.StreamConfig{
			Name: "ORDERS", Subjects: []string{"orders.>"}, Storage: jetstream.FileStorage, Replicas: 3,
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 100; i++ {
			ack, err := js.Publish(ctx, "orders.new", []byte(fmt.Sprintf("order %d", i)))
			if err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
			if ack.Stream != "ORDERS" || ack.Sequence != uint64(i) {
				t.Fatalf("publish %d acked as %s #%d", i, ack.Stream, ack.Sequence)
			}
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != 100 {
			t.Fatalf("stream has %d messages, want 100", info.State.Msgs)
		}
		peers := []string{info.Cluster.Leader}
		for _, r := range info.Cluster.Replicas {
			peers = append(peers, r.Name)
		}
		slices.Sort(peers)
		if !slices.Equal(peers, nodeNames(c)) {
			t.Fatalf("stream's peers are %v, want every node", peers)
		}
	})

	t.Run("AdminReachesSystemAccountOnEveryNode", func(t *testing.T) {
		nc := connect(t, c.ClientURL(), c.Admin())
		names := pingServers(t, nc, 3)
		if got := slices.Sorted(maps.Keys(names)); !slices.Equal(got, nodeNames(c)) {
			t.Fatalf("$SYS.REQ.SERVER.PING answered by %v, want %v", got, nodeNames(c))
		}
		// The application user is not in the system account: nobody answers it.
		if names := pingServers(t, connect(t, c.ClientURL(), c.App()), 1); len(names) != 0 {
			t.Fatalf("the application user's PING was answered by %v", names)
		}
	})

	// kill -9 the stream's leader: the other two keep the cluster healthy and
	// the stream writable; the node comes back, catches up, and the stream
	// holds every message on every replica.
	t.Run("KillAndRestartStreamLeader", func(t *testing.T) {
		ctx := testContext(t)
		js, err := jetstream.New(connect(t, c.ClientURL(), c.App()))
		if err != nil {
			t.Fatal(err)
		}
		s, err := js.CreateStream(ctx, jetstream.StreamConfig{
			Name: "EVENTS", Subjects: []string{"events"}, Storage: jetstream.FileStorage, Replicas: 3,
		})
		if err != nil {
			t.Fatal(err)
		}
		const half = 100
		for i := 1; i <= half; i++ {
			publish(ctx, t, js, "events", fmt.Sprintf("event %d", i))
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		victim, ok := c.NodeIndex(info.Cluster.Leader)
		if !ok {
			t.Fatalf("stream leader %q is not a node", info.Cluster.Leader)
		}
		pid := c.nodes[victim].proc.cmd.Process.Pid
		if err := c.Kill(victim); err != nil {
			t.Fatal(err)
		}
		if c.Running(victim) {
			t.Fatalf("node %d still running after Kill", victim)
		}
		if !processGone(pid) {
			t.Fatalf("pid %d still exists after Kill", pid)
		}
		if err := c.Kill(victim); err == nil {
			t.Fatal("killing a killed node: want an error")
		}
		if err := c.WaitHealthy(ctx); err != nil {
			t.Fatalf("the two remaining nodes are not healthy: %v", err)
		}
		for i := half + 1; i <= 2*half; i++ {
			publish(ctx, t, js, "events", fmt.Sprintf("event %d", i))
		}

		if err := c.StartNode(ctx, victim); err != nil {
			t.Fatal(err)
		}
		if !c.Running(victim) {
			t.Fatal("node not running after StartNode")
		}
		if err := c.StartNode(ctx, victim); err == nil {
			t.Fatal("starting a running node: want an error")
		}
		if err := c.WaitHealthy(ctx); err != nil {
			t.Fatal(err)
		}

		// Every replica current: the restarted node has caught up.
		for {
			info, err = s.Info(ctx)
			if err == nil && info.Cluster != nil && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 2 &&
				!slices.ContainsFunc(info.Cluster.Replicas, func(p *jetstream.PeerInfo) bool { return !p.Current || p.Lag != 0 }) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("replicas not current: %+v, %v", info.Cluster, err)
			case <-time.After(200 * time.Millisecond):
			}
		}
		if info.State.Msgs != 2*half || info.State.LastSeq != 2*half {
			t.Fatalf("stream has %d messages up to #%d, want %d", info.State.Msgs, info.State.LastSeq, 2*half)
		}
		for seq := uint64(1); seq <= 2*half; seq++ {
			var msg *jetstream.RawStreamMsg
			for msg == nil {
				msg, err = s.GetMsg(ctx, seq)
				if err != nil && ctx.Err() != nil {
					t.Fatalf("reading message %d: %v", seq, err)
				}
			}
			if want := fmt.Sprintf("event %d", seq); string(msg.Data) != want {
				t.Fatalf("message %d is %q, want %q", seq, msg.Data, want)
			}
		}
	})
}

// Stop kills every node, is idempotent and removes the directory it created.
func TestStopRemovesDirAndProcesses(t *testing.T) {
	c := StartT(t, Options{Nodes: 3})
	dir := filepath.Dir(filepath.Dir(c.Nodes()[0].ConfigPath))
	var pids []int
	for _, n := range c.nodes {
		pids = append(pids, n.proc.cmd.Process.Pid)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s still exists after Stop (%v)", dir, err)
	}
	for i, pid := range pids {
		if c.Running(i) {
			t.Errorf("node %d still running", i)
		}
		if !processGone(pid) {
			t.Errorf("pid %d (n%d) still exists after Stop", pid, i+1)
		}
	}
	for _, url := range c.ClientURLs() {
		if conn, err := net.Dial("tcp", strings.TrimPrefix(url, "nats://")); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Stop", url)
		}
	}
	if err := c.StartNode(t.Context(), 0); err == nil {
		t.Error("StartNode after Stop: want an error")
	}
}

// A single node has no cluster block and no routes file, and works: the
// application user writes to JetStream and the admin reaches $SYS. A Dir
// and a relative ServerBinary given by the caller work, and the Dir is left
// in place.
func TestSingleNode(t *testing.T) {
	bin, err := serverBinary(t.Context(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	relBin, err := filepath.Rel(wd, bin)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cluster")
	c := StartT(t, Options{Nodes: 1, Dir: dir, Durability: "always", ServerBinary: relBin})
	nodes := c.Nodes()
	if len(nodes) != 1 || nodes[0].Name != "n1" || nodes[0].Index != 0 {
		t.Fatalf("nodes %+v", nodes)
	}
	if !strings.HasPrefix(nodes[0].ConfigPath, dir+string(filepath.Separator)) {
		t.Fatalf("config %s is not under %s", nodes[0].ConfigPath, dir)
	}
	conf, err := os.ReadFile(nodes[0].ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(conf), "cluster {") || strings.Contains(string(conf), "include") {
		t.Fatalf("single node's config has a cluster block:\n%s", conf)
	}
	if !strings.Contains(string(conf), `sync_interval: "always"`) {
		t.Fatalf("Durability always is not rendered:\n%s", conf)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(nodes[0].ConfigPath), "routes.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("single node has a routes.conf (%v)", err)
	}

	ctx := testContext(t)
	js, err := jetstream.New(connect(t, c.ClientURL(), c.App()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ONE", Subjects: []string{"one"}}); err != nil {
		t.Fatal(err)
	}
	if ack, err := js.Publish(ctx, "one", []byte("hello")); err != nil || ack.Sequence != 1 {
		t.Fatalf("publish: %+v, %v", ack, err)
	}
	if names := pingServers(t, connect(t, c.ClientURL(), c.Admin()), 1); !names["n1"] || len(names) != 1 {
		t.Fatalf("PING answered by %v, want n1", names)
	}

	pid := c.nodes[0].proc.cmd.Process.Pid
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if !processGone(pid) {
		t.Fatalf("pid %d still exists after Stop", pid)
	}
	if _, err := os.Stat(nodes[0].ConfigPath); err != nil {
		t.Fatalf("Stop removed files from a Dir it did not create: %v", err)
	}
}

// A port taken between choosing it and the server binding it makes the
// server exit; Start tries again with new ports.
func TestStartRetriesWhenAPortIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	calls := 0
	choosePorts = func(n int) ([]int, error) {
		calls++
		ports, err := freePorts(n)
		if calls == 1 && err == nil {
			ports[0] = taken.Addr().(*net.TCPAddr).Port // n1's client port
		}
		return ports, err
	}
	t.Cleanup(func() { choosePorts = freePorts })

	c := StartT(t, Options{Nodes: 1})
	if calls != 2 {
		t.Fatalf("ports were chosen %d times, want 2", calls)
	}
	if strings.HasSuffix(c.ClientURL(), fmt.Sprintf(":%d", taken.Addr().(*net.TCPAddr).Port)) {
		t.Fatalf("the cluster kept the taken port: %s", c.ClientURL())
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Nodes: -1}, {Durability: "sometimes"}, {ServerBinary: filepath.Join(t.TempDir(), "missing")}} {
		if c, err := Start(t.Context(), o); err == nil {
			c.Stop()
			t.Errorf("Start(%+v): want an error", o)
		}
	}
}

// processGone reports whether pid no longer names a live process (a zombie
// left for an init that does not reap counts as gone).
func processGone(pid int) bool {
	if runtime.GOOS == "windows" {
		return true
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist) && runtime.GOOS == "linux"
	}
	// The state follows the command name in parentheses.
	rest := stat[strings.LastIndexByte(string(stat), ')')+1:]
	return strings.HasPrefix(strings.TrimSpace(string(rest)), "Z")
}
