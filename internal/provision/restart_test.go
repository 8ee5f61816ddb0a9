package provision

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
)

func limitsServer(file, mem int64, edit func(*natsconf.Server)) natsconf.Server {
	s := natsconf.Server{Name: "n1", Host: "0.0.0.0", ClientPort: 4222, MonitorPort: 8222,
		LameDuckDuration: 30 * time.Second, System: natsconf.SystemAccount{Name: "$SYS"},
		JetStream: natsconf.JetStream{StoreDir: "/data/nats-storage", MaxFileStore: file, MaxMemoryStore: mem, SyncInterval: "2m"},
		Cluster:   &natsconf.Cluster{Name: "C1", Host: "0.0.0.0", Port: 4248}}
	if edit != nil {
		edit(&s)
	}
	return s
}

// restartCases are pairs of settings a running server has and gets next,
// with whether a restart is needed (from nats-server v2.15.2's reload.go).
var restartCases = []struct {
	name        string
	applied     natsconf.Server
	next        natsconf.Server
	wantRestart bool
}{
	{"file store raised", limitsServer(10<<30, 1<<30, nil), limitsServer(20<<30, 1<<30, nil), false},
	{"memory store raised", limitsServer(10<<30, 1<<30, nil), limitsServer(10<<30, 2<<30, nil), false},
	{"both raised", limitsServer(10<<30, 1<<30, nil), limitsServer(11<<30, 2<<30, nil), false},
	{"file store lowered", limitsServer(10<<30, 1<<30, nil), limitsServer(5<<30, 1<<30, nil), true},
	{"memory store lowered", limitsServer(10<<30, 2<<30, nil), limitsServer(10<<30, 1<<30, nil), true},
	{"one raised one lowered", limitsServer(10<<30, 2<<30, nil), limitsServer(11<<30, 1<<30, nil), true},
	{"memory store set from the default", limitsServer(10<<30, 0, nil), limitsServer(10<<30, 1<<30, nil), true},
	{"memory store unset", limitsServer(10<<30, 1<<30, nil), limitsServer(10<<30, 0, nil), true},
	{"file store raised and sync_interval changed", limitsServer(10<<30, 1<<30, nil),
		limitsServer(20<<30, 1<<30, func(s *natsconf.Server) { s.JetStream.SyncInterval = natsconf.SyncAlways }), true},
	{"sync_interval", limitsServer(10<<30, 1<<30, nil), limitsServer(10<<30, 1<<30, func(s *natsconf.Server) { s.JetStream.SyncInterval = natsconf.SyncAlways }), true},
	{"store_dir", limitsServer(10<<30, 1<<30, nil), limitsServer(10<<30, 1<<30, func(s *natsconf.Server) { s.JetStream.StoreDir = "/data/other" }), true},
	{"lame duck", limitsServer(10<<30, 1<<30, nil), limitsServer(10<<30, 1<<30, func(s *natsconf.Server) { s.LameDuckDuration = time.Minute }), true},
	{"users and tags only", limitsServer(10<<30, 1<<30, nil), limitsServer(10<<30, 1<<30, func(s *natsconf.Server) {
		s.Tags = []string{"az:x"}
		s.Accounts = []natsconf.Account{{Name: "APP", Users: []natsconf.User{{Name: "u", Password: "p"}}}}
	}), false},
}

func TestNeedsRestart(t *testing.T) {
	for _, c := range restartCases {
		if got := NeedsRestart(RestartSettings(c.applied), RestartSettings(c.next)); got != c.wantRestart {
			t.Errorf("%s: NeedsRestart %v, want %v", c.name, got, c.wantRestart)
		}
	}
	if NeedsRestart("a=\"1\"\n", "a=\"1\"\n") {
		t.Error("identical settings need a restart")
	}
}

// The service step decides like NeedsRestart: for each case, a node that
// runs with the applied settings and gets the next ones (and a changed
// nats.conf, as the limits are in it) reloads or restarts.
func TestServiceStepDecidesLikeNeedsRestart(t *testing.T) {
	t.Parallel()
	for _, c := range restartCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := newTestNode(t)
			port := n.monitor(t)
			script, err := ServiceScript(n.l, ServiceOptions{MonitorPort: port, StartTimeout: 3 * time.Second, RollTimeout: 3 * time.Second, ReloadTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			write(t, n.l.Binary, fakeNATSServer("2.15.2"), 0o755)
			write(t, n.l.UnitPath(), "u\n", 0o644)
			apply := func(s natsconf.Server, conf string) string {
				write(t, n.l.ConfigPath(), conf, 0o640)
				write(t, filepath.Join(n.l.StateDir, "restart-settings"), RestartSettings(s), 0o644)
				return n.mustRun(script, "")
			}
			apply(c.applied, "a\n")
			out := apply(c.next, "b\n")
			want := "natsd reloaded"
			if c.wantRestart {
				want = "natsd restarted"
			}
			if !strings.Contains(out, want) {
				t.Errorf("want %q:\n%s", want, out)
			}
			if out := apply(c.next, "b\n"); !strings.Contains(out, "natsd unchanged") {
				t.Errorf("a second run is not unchanged:\n%s", out)
			}
		})
	}
}
