package natsconf

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/natsserver"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	testAdminPassword = "Admin-Password-0123456789"
	testAppPassword   = "app-password-secret"
	testRoutePassword = "route-password-secret"
	testSeed          = "per-stack-hash-seed"
)

// testTemplate is a cluster template with everything a deployment sets.
func testTemplate(cost int) Server {
	return Server{
		Host:                "0.0.0.0",
		ClientPort:          DefaultClientPort,
		MonitorPort:         DefaultMonitorPort,
		LameDuckDuration:    DefaultLameDuckDuration,
		LameDuckGracePeriod: DefaultLameDuckGracePeriod,
		System:              SystemAccount{Name: DefaultSystemAccount, User: DefaultAdminUser, Password: testAdminPassword},
		Accounts:            []Account{{Name: "APP", JetStream: true, Users: []User{{Name: "app", Password: testAppPassword}}}},
		JetStream:           JetStream{StoreDir: "/data/nats-storage", MaxFileStore: 32 << 30, MaxMemoryStore: 1 << 30, SyncInterval: DefaultSyncInterval},
		Cluster:             &Cluster{Name: DefaultClusterName, Host: "0.0.0.0", Port: DefaultRoutePort, User: DefaultRouteUser, Password: testRoutePassword},
		HashSeed:            testSeed,
		BcryptCost:          cost,
	}
}

func testNodes(n int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{Name: fmt.Sprintf("nats-%d", i+1), RouteHost: fmt.Sprintf("172.16.0.%d", 10+i), Tags: []string{"az:cn-hangzhou-" + string(rune('h'+i%3))}}
	}
	return nodes
}

type goldenCase struct {
	name    string
	servers []Server
}

func goldenCases(t *testing.T) []goldenCase {
	t.Helper()
	mk := func(tmpl Server, n int) []Server {
		s, err := ClusterConfigs(tmpl, testNodes(n))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	every := testTemplate(6)
	every.Tags = []string{"env:prod", "team:\"msg\""}
	every.LameDuckDuration = 2 * time.Minute
	every.LameDuckGracePeriod = 20 * time.Second
	every.Accounts = append(every.Accounts, Account{Name: "ORDERS", JetStream: true, Users: []User{{Name: "orders-writer", Password: "w-secret"}, {Name: "orders-reader", Password: "r-secret"}}}, Account{Name: "CORE", Users: []User{{Name: "core", Password: "c-secret"}}})
	every.NoAuthUser = "core"
	every.JetStream.SyncInterval = SyncAlways
	every.Cluster.NoAdvertise = true
	every.TLS = &TLS{CertFile: "/etc/nats/tls/server.pem", KeyFile: "/etc/nats/tls/server-key.pem", CAFile: "/etc/nats/tls/ca.pem", Verify: true}
	every.MonitorTLS = true
	every.Cluster.TLS = &TLS{CertFile: "/etc/nats/tls/route.pem", KeyFile: "/etc/nats/tls/route-key.pem", CAFile: "/etc/nats/tls/ca.pem", Verify: true}
	return []goldenCase{
		{"single", mk(testTemplate(DefaultBcryptCost), 1)},
		{"cluster3", mk(testTemplate(4), 3)},
		{"cluster11", mk(testTemplate(4), 11)},
		{"every-option", mk(every, 3)},
	}
}

// renderAll renders every server of a case into one document, each file
// under a header.
func renderAll(t *testing.T, servers []Server) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, s := range servers {
		f, err := RenderServerConfig(s)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "=== %s/%s ===\n%s", s.Name, ConfigFile, f.Config)
		if f.Routes != "" {
			fmt.Fprintf(&b, "=== %s/%s ===\n%s", s.Name, RoutesFile, f.Routes)
		}
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			got := renderAll(t, tc.servers)
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendered output; review and run go test ./internal/natsconf -update\n--- got ---\n%s", path, got)
			}
		})
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	for _, tc := range goldenCases(t) {
		a, b := renderAll(t, tc.servers), renderAll(t, tc.servers)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two renders of the same input differ", tc.name)
		}
	}
}

// writeFiles writes a server's files into dir as provisioning does.
func writeFiles(t *testing.T, dir string, f Files) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(f.Config), 0o600); err != nil {
		t.Fatal(err)
	}
	if f.Routes != "" {
		if err := os.WriteFile(filepath.Join(dir, RoutesFile), []byte(f.Routes), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// writeAndLoad writes a server's files and loads them with nats-server's
// own configuration processing, which fails on unknown keys.
func writeAndLoad(t *testing.T, f Files) *natsserver.Options {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, f)
	opts, err := natsserver.Load(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatalf("nats-server rejects the rendered config: %v\n%s", err, f.Config)
	}
	return opts
}

func TestRenderedConfigsLoadInNATSServer(t *testing.T) {
	pki := newTestPKI(t)
	for _, tc := range goldenCases(t) {
		for _, s := range tc.servers {
			// nats-server reads TLS files while loading: point the golden
			// paths at real test certificates.
			if s.TLS != nil {
				s.TLS = &TLS{CertFile: pki.cert, KeyFile: pki.key, CAFile: pki.ca, Verify: s.TLS.Verify}
			}
			if s.Cluster != nil && s.Cluster.TLS != nil {
				c := *s.Cluster
				c.TLS = &TLS{CertFile: pki.cert, KeyFile: pki.key, CAFile: pki.ca, Verify: c.TLS.Verify}
				s.Cluster = &c
			}
			f, err := RenderServerConfig(s)
			if err != nil {
				t.Fatal(err)
			}
			o := writeAndLoad(t, f)
			checkLoaded(t, tc.name, s, o)
			if (o.TLS != nil) != (s.TLS != nil) || (s.Cluster != nil && (o.Cluster.TLS != nil) != (s.Cluster.TLS != nil)) {
				t.Errorf("%s/%s: TLS not loaded as rendered", tc.name, s.Name)
			}
		}
	}
}

// checkLoaded compares what nats-server read with what the model asked for.
func checkLoaded(t *testing.T, name string, s Server, o *natsserver.Options) {
	t.Helper()
	fail := func(field string, got, want any) {
		t.Errorf("%s/%s: %s = %v, want %v", name, s.Name, field, got, want)
	}
	if o.ServerName != s.Name {
		fail("server_name", o.ServerName, s.Name)
	}
	if o.Host != s.Host || o.Port != s.ClientPort {
		fail("listen", fmt.Sprint(o.Host, ":", o.Port), fmt.Sprint(s.Host, ":", s.ClientPort))
	}
	if s.MonitorTLS {
		if o.HTTPSPort != s.MonitorPort || o.HTTPPort != 0 {
			fail("https port", o.HTTPSPort, s.MonitorPort)
		}
	} else if o.HTTPPort != s.MonitorPort {
		fail("http port", o.HTTPPort, s.MonitorPort)
	}
	if o.LameDuckDuration != s.LameDuckDuration || o.LameDuckGracePeriod != s.LameDuckGracePeriod {
		fail("lame duck", fmt.Sprint(o.LameDuckDuration, o.LameDuckGracePeriod), fmt.Sprint(s.LameDuckDuration, s.LameDuckGracePeriod))
	}
	if got, want := strings.Join(o.Tags, ","), strings.ToLower(strings.Join(s.Tags, ",")); got != want {
		fail("server_tags", got, want)
	}
	if o.SystemAccount != s.System.Name {
		fail("system_account", o.SystemAccount, s.System.Name)
	}
	if o.NoAuthUser != s.NoAuthUser {
		fail("no_auth_user", o.NoAuthUser, s.NoAuthUser)
	}
	if !o.JetStream || o.StoreDir != s.JetStream.StoreDir || o.JetStreamMaxStore != s.JetStream.MaxFileStore || o.JetStreamMaxMemory != s.JetStream.MaxMemoryStore {
		fail("jetstream", fmt.Sprint(o.JetStream, o.StoreDir, o.JetStreamMaxStore, o.JetStreamMaxMemory), s.JetStream)
	}
	if o.SyncAlways != (s.JetStream.SyncInterval == SyncAlways) {
		fail("sync always", o.SyncAlways, s.JetStream.SyncInterval)
	}
	if s.JetStream.SyncInterval != SyncAlways {
		if d, _ := time.ParseDuration(s.JetStream.SyncInterval); o.SyncInterval != d {
			fail("sync_interval", o.SyncInterval, d)
		}
	}
	// Every user, with a hash that the plaintext password matches.
	want := map[string]string{s.System.User: s.System.Password}
	wantAcc := map[string]string{s.System.User: s.System.Name}
	for _, a := range s.Accounts {
		for _, u := range a.Users {
			want[u.Name], wantAcc[u.Name] = u.Password, a.Name
		}
	}
	if len(o.Users) != len(want) {
		fail("users", len(o.Users), len(want))
	}
	for _, u := range o.Users {
		if u.Account != wantAcc[u.Username] {
			fail("account of "+u.Username, u.Account, wantAcc[u.Username])
		}
		if bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(want[u.Username])) != nil {
			t.Errorf("%s/%s: user %s: hash does not match the password", name, s.Name, u.Username)
		}
	}
	for _, a := range s.Accounts {
		if a.JetStream {
			found := false
			for _, oa := range o.Accounts {
				if oa == a.Name {
					found = true
				}
			}
			if !found {
				fail("account", "missing", a.Name)
			}
		}
	}
	if s.Cluster == nil {
		if o.Cluster.Port != 0 || len(o.Routes) != 0 {
			fail("cluster", o.Cluster.Port, "no cluster block")
		}
		return
	}
	c := s.Cluster
	if o.Cluster.Name != c.Name || o.Cluster.Port != c.Port || o.Cluster.Host != c.Host || o.Cluster.NoAdvertise != c.NoAdvertise {
		fail("cluster", fmt.Sprint(o.Cluster.Name, o.Cluster.Host, o.Cluster.Port, o.Cluster.NoAdvertise), fmt.Sprint(c.Name, c.Host, c.Port, c.NoAdvertise))
	}
	if o.Cluster.Username != c.User || o.Cluster.Password != c.Password {
		fail("cluster authorization", o.Cluster.Username, c.User)
	}
	if len(o.Routes) != len(c.Routes) {
		fail("routes", len(o.Routes), len(c.Routes))
	}
	for i, r := range o.Routes {
		if i >= len(c.Routes) {
			break
		}
		if r.Scheme != "nats-route" || r.Host != hostPort(c.Routes[i].Host, c.Routes[i].Port) || r.User != c.User || r.Password != c.Password {
			fail(fmt.Sprintf("routes[%d]", i), r, c.Routes[i])
		}
	}
}

// The plaintext of every password given as input stays out of nats.conf; the
// route password appears only in the routes file, and no other secret does.
func TestNoPlaintextSecretInOutput(t *testing.T) {
	for _, tc := range goldenCases(t) {
		for _, s := range tc.servers {
			f, err := RenderServerConfig(s)
			if err != nil {
				t.Fatal(err)
			}
			secrets := []string{s.System.Password, s.HashSeed}
			for _, a := range s.Accounts {
				for _, u := range a.Users {
					secrets = append(secrets, u.Password)
				}
			}
			for _, sec := range secrets {
				if strings.Contains(f.Config, sec) || strings.Contains(f.Routes, sec) {
					t.Errorf("%s/%s: secret %q appears in plaintext", tc.name, s.Name, sec)
				}
			}
			if s.Cluster != nil {
				if strings.Contains(f.Config, s.Cluster.Password) {
					t.Errorf("%s/%s: the route password appears in nats.conf", tc.name, s.Name)
				}
				if !strings.Contains(f.Routes, s.Cluster.Password) {
					t.Errorf("%s/%s: the routes file lacks the route password the node dials with", tc.name, s.Name)
				}
			}
		}
	}
}

func TestSingleNodeHasNoClusterBlock(t *testing.T) {
	s, err := ClusterConfigs(testTemplate(4), testNodes(1))
	if err != nil {
		t.Fatal(err)
	}
	f, err := RenderServerConfig(s[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.Config, "cluster") || f.Routes != "" {
		t.Fatalf("a single node renders a cluster block:\n%s", f.Config)
	}
}

func TestServerNamesAreUniqueAndStable(t *testing.T) {
	a, _ := ClusterConfigs(testTemplate(4), testNodes(11))
	b, _ := ClusterConfigs(testTemplate(4), testNodes(11))
	seen := map[string]bool{}
	for i := range a {
		if a[i].Name != b[i].Name {
			t.Errorf("node %d: name %q then %q", i, a[i].Name, b[i].Name)
		}
		if seen[a[i].Name] {
			t.Errorf("name %q twice", a[i].Name)
		}
		seen[a[i].Name] = true
	}
	dup := testNodes(3)
	dup[2].Name = dup[0].Name
	if _, err := ClusterConfigs(testTemplate(4), dup); err == nil {
		t.Error("duplicate server names accepted")
	}
}

func TestRenderReportsEveryProblem(t *testing.T) {
	s := testTemplate(4)
	s.Name = ""
	s.ClientPort = 70000
	s.LameDuckDuration = time.Second
	s.JetStream.SyncInterval = "sometimes"
	s.Cluster.Routes = []Route{{Host: "a", Port: 4248}}
	_, err := RenderServerConfig(s)
	if err == nil {
		t.Fatal("no error")
	}
	for _, field := range []string{"Name:", "ClientPort:", "LameDuckDuration:", "JetStream.SyncInterval:", "Cluster.Routes:"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
}

// Hostile strings stay inside their quotes: nats-server reads back exactly
// what was given, and no extra key appears.
func TestQuoteRoundTrips(t *testing.T) {
	for _, v := range []string{`a"b`, `back\slash`, "new\nline: evil", "}\ninclude \"/etc/passwd\"", "$VAR", "tab\there", "ünïcode", "\x00nul"} {
		s := testTemplate(4)
		s.Cluster = nil
		s.Name = "x"
		s.Accounts[0].Users[0].Name = v
		f, err := RenderServerConfig(s)
		if err != nil {
			t.Fatal(err)
		}
		o := writeAndLoad(t, f)
		found := false
		for _, u := range o.Users {
			found = found || u.Username == v
		}
		if !found {
			t.Errorf("user %q not read back", v)
		}
		if strings.Count(f.Config, "\n") != strings.Count(renderPlain(t), "\n") {
			t.Errorf("%q changed the number of lines", v)
		}
	}
}

func TestRenderRejectsUnsafeNames(t *testing.T) {
	s := testTemplate(4)
	s.Name = "has space"
	s.Accounts[0].Name = "A}B"
	s.Tags = []string{"ok", "new\nline", " ", "OK"}
	_, err := RenderServerConfig(s)
	if err == nil || !strings.Contains(err.Error(), "Name:") || !strings.Contains(err.Error(), "Accounts[0].Name:") ||
		!strings.Contains(err.Error(), "Tags[1]:") || !strings.Contains(err.Error(), "Tags[2]:") || !strings.Contains(err.Error(), "Tags[3]:") || strings.Contains(err.Error(), "Tags[0]:") {
		t.Fatalf("unsafe names not reported: %v", err)
	}
}

func renderPlain(t *testing.T) string {
	s := testTemplate(4)
	s.Cluster = nil
	s.Name = "x"
	s.Accounts[0].Users[0].Name = "x"
	f, err := RenderServerConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	return f.Config
}
