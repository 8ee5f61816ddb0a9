package provision

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
)

func unitDirectives(unit string) map[string][]string {
	d := map[string][]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			d[k] = append(d[k], v)
		}
	}
	return d
}

func TestUnit(t *testing.T) {
	for _, ldm := range []time.Duration{30 * time.Second, 2 * time.Minute, 90*time.Second + time.Millisecond} {
		unit, err := RenderUnit(UnitOptions{Layout: DefaultLayout(), LameDuckDuration: ldm})
		if err != nil {
			t.Fatal(err)
		}
		d := unitDirectives(unit)
		for k, want := range map[string]string{
			"Restart": "always", "RestartSec": "10", "KillSignal": "SIGUSR2", "User": "nats", "Group": "nats",
			"RequiresMountsFor": "/data", "AssertPathIsMountPoint": "/data", "After": "network-online.target",
			"Wants": "network-online.target", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
			"ReadWritePaths": "/data/nats-storage", "PrivateTmp": "yes", "LimitNOFILE": "1048576",
			"ExecStart":  "/usr/local/bin/nats-server --config /etc/nats/nats.conf",
			"ExecReload": "/usr/local/bin/nats-server --signal reload=${MAINPID}",
			"WantedBy":   "multi-user.target",
		} {
			if len(d[k]) != 1 || d[k][0] != want {
				t.Errorf("%s=%v, want %s", k, d[k], want)
			}
		}
		if _, ok := d["ExecStop"]; ok {
			t.Error("ExecStop= would return before lame duck ends, and systemd would then SIGTERM")
		}
		stop, err := strconv.Atoi(d["TimeoutStopSec"][0])
		if err != nil || time.Duration(stop)*time.Second <= ldm+30*time.Second {
			t.Errorf("TimeoutStopSec=%v is not well above the lame duck duration %s", d["TimeoutStopSec"], ldm)
		}
	}
	unit, _ := RenderUnit(UnitOptions{Layout: DefaultLayout(), LameDuckDuration: time.Minute, NoDataDisk: true})
	if d := unitDirectives(unit); d["RequiresMountsFor"] != nil || d["AssertPathIsMountPoint"] != nil {
		t.Error("NoDataDisk still requires the mount")
	}
	if _, err := RenderUnit(UnitOptions{Layout: DefaultLayout(), LameDuckDuration: time.Second}); err == nil {
		t.Error("lame duck below 30s accepted")
	}
	bad := DefaultLayout()
	bad.StoreDir = "/var/lib/nats"
	if _, err := RenderUnit(UnitOptions{Layout: bad, LameDuckDuration: time.Minute}); err == nil {
		t.Error("a store outside the data mount accepted")
	}
}

// systemd's own checker, where it exists (not in every container).
func TestUnitVerifiesWithSystemd(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit is checked against its golden file only")
	}
	unit, _ := RenderUnit(UnitOptions{Layout: DefaultLayout(), LameDuckDuration: time.Minute})
	path := filepath.Join(t.TempDir(), "natsd.service")
	os.WriteFile(path, []byte(unit), 0o644)
	out, _ := exec.Command(sa, "verify", path).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		// The binary is not installed here; everything else must be clean.
		if strings.TrimSpace(line) != "" && !strings.Contains(line, "nats-server") && !strings.Contains(line, "Command ") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}

func testServer(t *testing.T, nodes int, edit func(*natsconf.Server)) natsconf.Server {
	t.Helper()
	tmpl := natsconf.Server{
		Host: "0.0.0.0", ClientPort: 4222, MonitorPort: 8222, LameDuckDuration: 30 * time.Second, LameDuckGracePeriod: 10 * time.Second,
		System:    natsconf.SystemAccount{Name: "$SYS", User: "admin", Password: "admin-password-0123456789"},
		Accounts:  []natsconf.Account{{Name: "APP", JetStream: true, Users: []natsconf.User{{Name: "app", Password: "app-password-1"}}}},
		JetStream: natsconf.JetStream{StoreDir: "/data/nats-storage", MaxFileStore: 1 << 30, SyncInterval: "2m"},
		Cluster:   &natsconf.Cluster{Name: "C1", Host: "0.0.0.0", Port: 4248, User: "route", Password: "route-secret"},
		HashSeed:  "seed-seed-seed-seed",
	}
	if edit != nil {
		edit(&tmpl)
	}
	var ns []natsconf.Node
	for i := 0; i < nodes; i++ {
		ns = append(ns, natsconf.Node{Name: "n" + strconv.Itoa(i), RouteHost: "10.0.0." + strconv.Itoa(i+1)})
	}
	s, err := natsconf.ClusterConfigs(tmpl, ns)
	if err != nil {
		t.Fatal(err)
	}
	return s[0]
}

func TestRestartSettings(t *testing.T) {
	base := RestartSettings(testServer(t, 3, nil))
	for name, edit := range map[string]func(*natsconf.Server){
		"user password":  func(s *natsconf.Server) { s.Accounts[0].Users[0].Password = "other-password" },
		"admin password": func(s *natsconf.Server) { s.System.Password = "other-admin-password-00" },
		"new user": func(s *natsconf.Server) {
			s.Accounts[0].Users = append(s.Accounts[0].Users, natsconf.User{Name: "b", Password: "b-password-00"})
		},
		"tags":           func(s *natsconf.Server) { s.Tags = []string{"env:prod"} },
		"route password": func(s *natsconf.Server) { s.Cluster.Password = "new-route-secret" },
		"no_advertise":   func(s *natsconf.Server) { s.Cluster.NoAdvertise = true },
		"hash seed":      func(s *natsconf.Server) { s.HashSeed = "another-seed-123" },
		// TLS reloads, and a reload keeps the connections open meanwhile,
		// so switching route TLS on rolls without splitting the cluster.
		"client tls": func(s *natsconf.Server) { s.TLS = &natsconf.TLS{CertFile: "/c", KeyFile: "/k"} },
		"route tls":  func(s *natsconf.Server) { s.Cluster.TLS = &natsconf.TLS{CertFile: "/c", KeyFile: "/k", CAFile: "/a"} },
	} {
		if got := RestartSettings(testServer(t, 3, edit)); got != base {
			t.Errorf("%s is reloadable but changes the restart settings:\n%s", name, got)
		}
	}
	if RestartSettings(testServer(t, 5, nil)) != base {
		t.Error("more routes (reloadable) change the restart settings")
	}
	for name, edit := range map[string]func(*natsconf.Server){
		"sync_interval":    func(s *natsconf.Server) { s.JetStream.SyncInterval = natsconf.SyncAlways },
		"store_dir":        func(s *natsconf.Server) { s.JetStream.StoreDir = "/data/other" },
		"max_file_store":   func(s *natsconf.Server) { s.JetStream.MaxFileStore = 1 << 29 },
		"max_memory_store": func(s *natsconf.Server) { s.JetStream.MaxMemoryStore = 1 << 29 },
		"client port":      func(s *natsconf.Server) { s.ClientPort = 4223 },
		"monitor port":     func(s *natsconf.Server) { s.MonitorPort = 8223 },
		"lame duck":        func(s *natsconf.Server) { s.LameDuckDuration = time.Minute },
		"lame duck grace":  func(s *natsconf.Server) { s.LameDuckGracePeriod = 20 * time.Second },
		"cluster port":     func(s *natsconf.Server) { s.Cluster.Port = 4249 },
		"cluster name":     func(s *natsconf.Server) { s.Cluster.Name = "C2" },
		"no_auth_user":     func(s *natsconf.Server) { s.NoAuthUser = "app" },
		"https monitoring": func(s *natsconf.Server) { s.MonitorTLS = true },
	} {
		if got := RestartSettings(testServer(t, 3, edit)); got == base {
			t.Errorf("%s needs a restart but leaves the restart settings unchanged", name)
		}
	}
	if RestartSettings(testServer(t, 1, nil)) == base {
		t.Error("a single node (no cluster block) has the restart settings of a cluster member")
	}
	if s := RestartSettings(testServer(t, 3, nil)); strings.Contains(s, "secret") || strings.Contains(s, "password") {
		t.Errorf("restart settings hold a secret:\n%s", s)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	for _, f := range []NodeFiles{
		{Config: "a: 1\n", Routes: "routes: []\n", Unit: "[Unit]\n", RestartSettings: "x=\"1\"\n"},
		{Config: "single\n", Unit: "u", RestartSettings: "s"},
		{Config: "weird ' \" $ ` \\ \n\x00 bytes", Routes: "r", Unit: "u", RestartSettings: "s"},
		{Config: "c", Unit: "u", RestartSettings: "s", TLSCert: "cert", TLSKey: "key"},
		{Config: "c", Routes: "r", Unit: "u", RestartSettings: "s", TLSCert: "cert", TLSKey: "key", TLSCA: "ca"},
	} {
		p := EncodePayload(f)
		if strings.Count(p, "\n") != 3+boolInt(f.Routes != "")+boolInt(f.TLSCert != "")+boolInt(f.TLSKey != "")+boolInt(f.TLSCA != "") {
			t.Errorf("payload has %d lines:\n%s", strings.Count(p, "\n"), p)
		}
		back, err := DecodePayload(p)
		if err != nil || back != f {
			t.Errorf("round trip: %+v, %v", back, err)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// systemd-analyze rates the rendered unit at most MaxUnitExposure, and as
// the unit's comment says. Offline, where systemd-analyze is installed (the
// machine tier rates the running unit on a node).
func TestUnitExposure(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; the machine tier rates the unit on a node")
	}
	unit, err := RenderUnit(UnitOptions{Layout: DefaultLayout(), LameDuckDuration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), Service+".service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Skipf("systemd-analyze security --offline: %v\n%s", err, out)
	}
	got, ok := ParseExposure(string(out))
	if !ok {
		t.Fatalf("no overall exposure in:\n%s", out)
	}
	if got > MaxUnitExposure {
		t.Errorf("systemd-analyze security rates the unit %.1f, above %.1f:\n%s", got, MaxUnitExposure, out)
	}
	if !strings.Contains(string(out), "Overall exposure level for "+Service+".service: "+unitExposure) {
		t.Errorf("the unit's comment says %q; systemd-analyze says:\n%s", unitExposure, out)
	}
}
