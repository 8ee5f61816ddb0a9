package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
)

// The seed's config, rendered for loopback, has the seed's settings when
// nats-server itself parses it.
func TestSeedConfigParsesToTheSeedsSettings(t *testing.T) {
	dir := t.TempDir()
	s := natsconf.Server{
		Name: "n2", Host: "127.0.0.1", ClientPort: 14222, MonitorPort: 18222,
		System:           natsconf.SystemAccount{Name: "$SYS", User: "admin", Password: "admin-password"},
		Accounts:         []natsconf.Account{{Name: "APP", JetStream: true, Users: []natsconf.User{{Name: "app", Password: "x"}}}},
		JetStream:        natsconf.JetStream{StoreDir: filepath.Join(dir, "store"), MaxFileStore: 1 << 30, SyncInterval: natsconf.SyncAlways},
		LameDuckDuration: 30 * time.Second,
		Cluster: &natsconf.Cluster{Name: "C1", Host: "127.0.0.1", Port: 14248, User: "route", Password: "route-password",
			Routes: []natsconf.Route{{Host: "127.0.0.1", Port: 14248}, {Host: "127.0.0.1", Port: 14249}, {Host: "127.0.0.1", Port: 14250}}},
		HashSeed: "seed",
	}
	files, err := seedConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	if files.Routes != "" {
		t.Errorf("the seed has no separate routes file: %q", files.Routes)
	}
	for _, secret := range []string{"admin-password", "route-password"} {
		if strings.Contains(files.Config, secret) {
			t.Errorf("config holds %q in plaintext:\n%s", secret, files.Config)
		}
	}
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(files.Config), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server rejects the seed config: %v\n%s", err, files.Config)
	}
	check := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s; config:\n%s", what, files.Config)
		}
	}
	check("server_name", o.ServerName == "n2")
	check("listen", o.Host == "127.0.0.1" && o.Port == 14222)
	check("http", o.HTTPPort == 18222)
	check("jetstream with store_dir only", o.JetStream && o.StoreDir == s.JetStream.StoreDir && o.JetStreamMaxStore == 0)
	check("default sync", o.SyncInterval == 0 && !o.SyncAlways)
	check("no lame duck settings", o.LameDuckDuration == 0 && o.LameDuckGracePeriod == 0)
	check("cluster C1", o.Cluster.Name == "C1" && o.Cluster.Port == 14248 && len(o.Routes) == 3)
	check("routes without credentials", o.Cluster.Username == "" && o.Routes[0].User == nil)
	check("no client users outside $SYS", o.NoAuthUser == "" && len(o.Nkeys) == 0)
	check("admin in $SYS with a bcrypt hash", len(o.Users) == 1 && o.Users[0].Username == "admin" &&
		o.Users[0].Account != nil && o.Users[0].Account.Name == "$SYS" && strings.HasPrefix(o.Users[0].Password, "$2a$11$"))
	check("no application account", len(o.Accounts) == 1)
}
