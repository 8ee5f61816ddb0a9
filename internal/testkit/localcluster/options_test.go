package localcluster

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
)

// anonymousConfig renders a config of its own, as the benchmark does with
// the seed's: no client authentication, JetStream in the global account,
// routes without credentials.
func anonymousConfig(s natsconf.Server) (natsconf.Files, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %q\nlisten: \"%s:%d\"\nhttp: \"%s:%d\"\n", s.Name, s.Host, s.ClientPort, s.Host, s.MonitorPort)
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n}\n", s.JetStream.StoreDir)
	if c := s.Cluster; c != nil {
		fmt.Fprintf(&b, "cluster {\n  name: %q\n  listen: \"%s:%d\"\n  routes: [\n", c.Name, c.Host, c.Port)
		for _, r := range c.Routes {
			fmt.Fprintf(&b, "    \"nats-route://%s:%d\"\n", r.Host, r.Port)
		}
		b.WriteString("  ]\n}\n")
	}
	return natsconf.Files{Config: b.String()}, nil
}

func TestRenderConfigRunsTheCallersConfig(t *testing.T) {
	var mu sync.Mutex
	got := map[string]natsconf.Server{}
	c := StartT(t, Options{Nodes: 2, RenderConfig: func(s natsconf.Server) (natsconf.Files, error) {
		mu.Lock()
		got[s.Name] = s
		mu.Unlock()
		return anonymousConfig(s)
	}})

	for _, n := range c.Nodes() {
		s, ok := got[n.Name]
		if !ok {
			t.Fatalf("RenderConfig was not called for %s (called for %v)", n.Name, got)
		}
		if want := fmt.Sprintf("nats://%s:%d", s.Host, s.ClientPort); n.ClientURL != want {
			t.Errorf("%s: ClientURL %s, but RenderConfig was given %s", n.Name, n.ClientURL, want)
		}
		if want := fmt.Sprintf("http://%s:%d", s.Host, s.MonitorPort); n.MonitorURL != want {
			t.Errorf("%s: MonitorURL %s, but RenderConfig was given %s", n.Name, n.MonitorURL, want)
		}
		if s.JetStream.StoreDir != n.StoreDir || s.Cluster == nil || len(s.Cluster.Routes) != 2 {
			t.Errorf("%s: RenderConfig was given store %q and cluster %+v", n.Name, s.JetStream.StoreDir, s.Cluster)
		}
		conf, err := os.ReadFile(n.ConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(conf), "accounts") {
			t.Fatalf("%s runs natsnest's config, not the caller's:\n%s", n.Name, conf)
		}
	}

	// Only the caller's config lets a client in without credentials; the
	// stream's two replicas prove the routes formed.
	nc, err := nats.Connect(c.ClientURL())
	if err != nil {
		t.Fatalf("anonymous client refused by the caller's config: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ANON", Subjects: []string{"anon"}, Replicas: 2}); err != nil {
		t.Fatal(err)
	}
	if ack := publish(ctx, t, js, "anon", "hello"); ack.Sequence != 1 {
		t.Fatalf("ack %+v", ack)
	}
}

func TestLameDuckAndTerminateStopTheNode(t *testing.T) {
	c := StartT(t, Options{Nodes: 1})
	ctx := testContext(t)
	logPath := c.nodes[0].logPath

	if err := c.LameDuck(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if c.Running(0) {
		t.Fatal("node still running after LameDuck returned")
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "Entering lame duck mode") {
		t.Fatalf("the server did not enter lame duck mode; its log:\n%s", log)
	}
	if err := c.LameDuck(ctx, 0); err == nil {
		t.Fatal("LameDuck of a stopped node: want an error")
	}

	if err := c.StartNode(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Terminate(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if c.Running(0) {
		t.Fatal("node still running after Terminate returned")
	}
	log, err = os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "Entering lame duck mode"); n != 1 {
		t.Fatalf("lame duck mode entered %d times, want once (SIGTERM shuts down without it)", n)
	}
	if err := c.StartNode(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

// A user's own accounts and store size: their users connect, the default
// app user does not exist, and JetStream reports the store limit.
func TestUsersAccountsAndStoreSize(t *testing.T) {
	const store = 64 << 20
	c := StartT(t, Options{Nodes: 1, MaxFileStore: store, Accounts: []natsconf.Account{
		{Name: "ORDERS", JetStream: true, Users: []natsconf.User{{Name: "orders", Password: "orders-password-0123"}}},
		{Name: "AUDIT", Users: []natsconf.User{{Name: "audit", Password: "audit-password-0123"}}},
	}})
	if got := c.App(); got.User != "orders" || got.Password != "orders-password-0123" || c.AppAccount() != "ORDERS" {
		t.Errorf("App() = %v of %s, want the first JetStream account's user", got, c.AppAccount())
	}
	nc, err := nats.Connect(c.ClientURL(), nats.UserInfo("orders", "orders-password-0123"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	_, err = js.AccountInfo(t.Context())
	if err != nil {
		t.Fatalf("account info as orders: %v", err)
	}
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "BIG", MaxBytes: 2 * store}); err == nil {
		t.Errorf("a stream of %d bytes fits a store of %d", 2*store, store)
	}
	if nc, err := nats.Connect(c.ClientURL(), nats.UserInfo("app", "")); err == nil {
		nc.Close()
		t.Error("the default user app connects although Accounts replaced its account")
	}
	if _, err := Start(t.Context(), Options{Accounts: []natsconf.Account{{Name: "NOJS", Users: []natsconf.User{{Name: "u", Password: "p"}}}}}); err == nil ||
		!strings.Contains(err.Error(), "none has JetStream") {
		t.Errorf("accounts without JetStream: %v, want an error saying so", err)
	}
}
