package natsconf

import (
	"net"
	"strconv"
	"testing"
)

// FuzzRenderServerConfigFields covers the free-text fields
// FuzzRenderServerConfig leaves out: the account and cluster names, the
// store directory, a route's host (a node's private address, which can
// come from another resource's output) and no_auth_user. Whatever it is
// given, the renderer refuses it or nats-server loads exactly the intended
// values: the account holds the user, the cluster keeps its name and both
// routes, each route dials the given host with the route credentials.
func FuzzRenderServerConfigFields(f *testing.F) {
	for _, seed := range [][4]string{
		{"APP", "C1", "/data/nats-storage", "10.0.0.2"},
		{"A\"PP", "C1\"\ninclude /etc/passwd", "/data/\"x\"\n}", "evil@10.0.0.9:1/"},
		{"$G", "C 1", "/tmp/$(id)", "[::1]"},
		{"APP }", "{", "", "10.0.0.2:4248,nats-route://x:y@evil"},
		{"ü", "c\x00", "relative/dir", "fd00::1"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, account, cluster, storeDir, routeHost string) {
		s := testTemplate(4)
		s.Accounts[0].Name = account
		s.Cluster.Name = cluster
		s.JetStream.StoreDir = storeDir
		s.Cluster.Routes = []Route{{Host: "10.0.0.1", Port: 4248}, {Host: routeHost, Port: 4249}}
		s.NoAuthUser = "app"
		files, err := RenderServerConfig(s)
		if err != nil {
			return // refused: fine, as long as nothing was rendered
		}
		o := writeAndLoad(t, files)
		var app bool
		for _, u := range o.Users {
			if u.Username == "app" {
				app = u.Account == account
			}
		}
		if !app {
			t.Fatalf("user app is not in account %q", account)
		}
		if o.NoAuthUser != "app" {
			t.Fatalf("no_auth_user loaded as %q", o.NoAuthUser)
		}
		if o.Cluster.Name != cluster {
			t.Fatalf("cluster name %q loaded as %q", cluster, o.Cluster.Name)
		}
		if o.StoreDir != storeDir {
			t.Fatalf("store_dir %q loaded as %q", storeDir, o.StoreDir)
		}
		if len(o.Routes) != 2 {
			t.Fatalf("%d routes loaded, want 2", len(o.Routes))
		}
		for i, want := range []string{net.JoinHostPort("10.0.0.1", "4248"), net.JoinHostPort(routeHost, strconv.Itoa(4249))} {
			r := o.Routes[i]
			if r.Host != want || r.User != DefaultRouteUser || r.Password != testRoutePassword || r.Scheme != "nats-route" {
				t.Fatalf("route %d loaded as %s (user %q), want nats-route://%s with the route credentials", i, r, r.User, want)
			}
		}
	})
}
