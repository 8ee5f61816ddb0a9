package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/natsnest/pulumi-natsnest/internal/natsbin"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
	"github.com/natsnest/pulumi-natsnest/internal/version"
)

// steps numbers what the test does and reports what it verified; scripts/
// e2e.sh collects the "step" and "verified" lines into the summary.
type steps struct {
	t *testing.T
	n int
}

func (s *steps) Step(format string, args ...any) {
	s.t.Helper()
	s.n++
	s.t.Logf("step %d: %s", s.n, fmt.Sprintf(format, args...))
}

func (s *steps) Verified(format string, args ...any) {
	s.t.Helper()
	s.t.Logf("verified: %s", fmt.Sprintf(format, args...))
}

// stackConfig reads a stack file of the root program (stacks/Pulumi.*.yaml)
// as the program's ConfigGetter sees it: keys of the "natsnest" namespace,
// scalars as text, lists and maps as JSON.
func stackConfig(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	cfg := map[string]string{}
	for k, v := range doc.Config {
		key, ok := strings.CutPrefix(k, "natsnest:")
		if !ok {
			continue
		}
		switch v := v.(type) {
		case string:
			cfg[key] = v
		case int, bool, float64:
			cfg[key] = fmt.Sprint(v)
		default:
			j, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%s: %s: %v", file, k, err)
			}
			cfg[key] = string(j)
		}
	}
	return cfg
}

// release is a nats-server binary as the deploying machine has it, and as
// a release archive on the fleet's HTTP server.
type release struct {
	Binary    string // local path
	BinarySHA string
	URL       string // the .tar.gz on the bridge
	SHA256    string // of the .tar.gz
	Path      string // URL path, for HTTP hit counts
}

// buildRelease builds the pinned nats-server for the machines (linux/amd64)
// and serves it, packed as the project's release archives are, on the bridge.
func buildRelease(t *testing.T, f *machines.Fleet) release {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin, err := natsbin.Build(ctx, "linux", "amd64")
	if err != nil {
		t.Fatalf("building nats-server %s: %v", version.NATSServer, err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("nats-server-v%s-linux-amd64", version.NATSServer)
	r := release{Binary: bin, BinarySHA: sha256Hex(data), Path: "/" + name + ".tar.gz"}
	r.URL = f.HTTPURL + r.Path
	r.SHA256 = writeTarGz(t, filepath.Join(f.HTTPDir, name+".tar.gz"), name, data)
	return r
}

// writeTarGz writes a release-shaped archive: <dir>/nats-server and a README.
func writeTarGz(t *testing.T, path, dir string, binary []byte) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	gz := gzip.NewWriter(io.MultiWriter(f, h))
	tw := tar.NewWriter(gz)
	for _, e := range []struct {
		name string
		mode int64
		data []byte
	}{
		{dir + "/README.md", 0o644, []byte("nats-server, packed by natsnest's e2e test\n")},
		{dir + "/nats-server", 0o755, binary},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// mustRun runs cmd on m and fails the test on error.
func mustRun(t *testing.T, m *machines.Machine, cmd string) string {
	t.Helper()
	out, err := m.Run(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// serviceState is natsd's systemd state on a machine.
type serviceState struct {
	Active    string
	MainPID   int
	NRestarts int
	User      string
}

func natsdState(t *testing.T, m *machines.Machine) serviceState {
	t.Helper()
	out := mustRun(t, m, "systemctl is-active natsd || true; systemctl show -p MainPID -p NRestarts natsd; "+
		"pid=$(systemctl show -p MainPID --value natsd); if [ \"$pid\" != 0 ]; then ps -o user= -p \"$pid\"; else echo none; fi")
	lines := strings.Split(out, "\n")
	st := serviceState{Active: lines[0]}
	for _, l := range lines[1:] {
		if v, ok := strings.CutPrefix(l, "MainPID="); ok {
			st.MainPID, _ = strconv.Atoi(v)
		} else if v, ok := strings.CutPrefix(l, "NRestarts="); ok {
			st.NRestarts, _ = strconv.Atoi(v)
		} else {
			st.User = strings.TrimSpace(l)
		}
	}
	return st
}

// getJSON fetches a monitoring endpoint of a machine.
func getJSON(url string, v any) error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return json.Unmarshal(body, v)
}

type routez struct {
	ServerName string `json:"server_name"`
	NumRoutes  int    `json:"num_routes"`
	Routes     []struct {
		RemoteName string `json:"remote_name"`
		IP         string `json:"ip"`
	} `json:"routes"`
}

// jsz is the part of /jsz?accounts=true&streams=true the test reads: what one
// server holds of each stream.
type jsz struct {
	ServerName     string `json:"server_name"`
	AccountDetails []struct {
		Name          string `json:"name"`
		StreamDetails []struct {
			Name  string `json:"name"`
			State struct {
				Msgs    uint64 `json:"messages"`
				LastSeq uint64 `json:"last_seq"`
			} `json:"state"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// streamOnServer is what the server at addr holds of stream: its message
// count and last sequence, or ok=false when it holds no replica.
func streamOnServer(addr, stream string) (msgs, last uint64, ok bool, err error) {
	var j jsz
	if err := getJSON("http://"+addr+":8222/jsz?accounts=true&streams=true", &j); err != nil {
		return 0, 0, false, err
	}
	for _, a := range j.AccountDetails {
		for _, s := range a.StreamDetails {
			if s.Name == stream {
				return s.State.Msgs, s.State.LastSeq, true, nil
			}
		}
	}
	return 0, 0, false, nil
}

func eventually(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// logJournalsOnFailure logs the last lines of natsd's journal on every
// running machine of fleet when the test has failed.
func logJournalsOnFailure(t *testing.T, fleet *machines.Fleet, lines int) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, m := range fleet.Machines {
			if m.Running() {
				out, _ := m.Run(fmt.Sprintf("journalctl -u natsd -n %d --no-pager", lines))
				t.Logf("%s: natsd's journal (last lines):\n%s", m.Name, out)
			}
		}
	})
}
