// Package natsserver gives the root module's tests the real nats-server —
// its configuration parser and its server code — without the root module
// importing it: a helper program in a module of its own (helper/) does, and
// answers over pipes. A program that imports natsnest therefore never has
// nats-server in its module graph, while every rendered file is still parsed
// by nats-server's own ProcessConfigFile and run by its own NewServer.
//
// The types here are the part of server.Options the tests compare, copied
// field by field by the helper (server.Options itself does not encode).
package natsserver

import (
	"bufio"
	"crypto/tls"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natsnest/pulumi-natsnest/internal/natsbin"
	"github.com/natsnest/pulumi-natsnest/internal/version"
)

// Options is what nats-server read from a configuration file.
type Options struct {
	ServerName          string
	Host                string
	Port                int
	HTTPHost            string
	HTTPPort            int
	HTTPSPort           int
	LameDuckDuration    time.Duration
	LameDuckGracePeriod time.Duration
	Tags                []string
	SystemAccount       string
	NoAuthUser          string
	JetStream           bool
	StoreDir            string
	JetStreamMaxStore   int64
	JetStreamMaxMemory  int64
	SyncAlways          bool
	SyncInterval        time.Duration
	Users               []User
	Nkeys               []NkeyUser
	// Accounts are the names of the accounts the file declares.
	Accounts []string
	Cluster  Cluster
	Routes   []Route
	// TLS is the client TLS configuration; nil without a tls block.
	TLS *TLS
}

// User is a user with a password; Account is its account's name ("" for none).
type User struct {
	Username, Password, Account string
}

// NkeyUser is a user identified by an NKEY public key.
type NkeyUser struct {
	Nkey, Account string
}

// Route is one explicit route URL, with its credentials.
type Route struct {
	Scheme, Host, User, Password string
}

// String is the route without its password.
func (r Route) String() string {
	return fmt.Sprintf("%s://%s:***@%s", r.Scheme, r.User, r.Host)
}

// Cluster is the cluster block.
type Cluster struct {
	Name        string
	Host        string
	Port        int
	NoAdvertise bool
	Username    string
	Password    string
	TLS         *TLS
}

// TLS is what the tests check of a tls block.
type TLS struct {
	ClientAuth tls.ClientAuthType
}

// Request and Response are the helper's protocol, gob-encoded: unlike JSON,
// gob carries strings as the bytes they are, invalid UTF-8 included (a user
// name the fuzzer makes must read back as it was written).
type Request struct {
	// Load is a configuration file to process.
	Load string `json:",omitempty"`
	// Routes asks a running server for its number of routes.
	Routes bool `json:",omitempty"`
}

// Response answers a Request, or reports that a server is ready.
type Response struct {
	Options   *Options `json:",omitempty"`
	ClientURL string   `json:",omitempty"`
	Routes    int      `json:",omitempty"`
	Error     string   `json:",omitempty"`
}

// Overrides change what a started server read from its file, as a test in
// one process needs: its own listen address, store and no signal handlers.
type Overrides struct {
	// Host and Port replace the client listen address; Port -1 is any
	// free port. Zero values keep the file's.
	Host string
	Port int
	// NoMonitoring turns the monitoring port off.
	NoMonitoring bool
	// StoreDir replaces the JetStream store directory.
	StoreDir string
}

// Args are the helper's command line for Overrides.
func (o Overrides) Args() []string {
	args := []string{"run"}
	if o.Host != "" {
		args = append(args, "-host", o.Host)
	}
	if o.Port != 0 {
		args = append(args, "-port", fmt.Sprint(o.Port))
	}
	if o.NoMonitoring {
		args = append(args, "-no-monitoring")
	}
	if o.StoreDir != "" {
		args = append(args, "-store", o.StoreDir)
	}
	return args
}

// process is one running helper and its pipes.
type process struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	enc *gob.Encoder
	dec *gob.Decoder
	mu  sync.Mutex
}

func (p *process) call(req Request) (Response, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.enc.Encode(req); err != nil {
		return Response{}, fmt.Errorf("natsserver helper: %w", err)
	}
	return p.read()
}

func (p *process) read() (Response, error) {
	var r Response
	if err := p.dec.Decode(&r); err != nil {
		return Response{}, fmt.Errorf("natsserver helper stopped: %w", err)
	}
	return r, nil
}

func start(args ...string) (*process, error) {
	bin, err := helper()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &process{cmd: cmd, in: in, enc: gob.NewEncoder(in), dec: gob.NewDecoder(bufio.NewReader(out))}, nil
}

var (
	loaderOnce sync.Once
	loader     *process
	loaderErr  error
)

// Load processes a configuration file with nats-server's
// ProcessConfigFile, which fails on unknown keys, in a helper process
// shared by every call of this test binary.
func Load(path string) (*Options, error) {
	loaderOnce.Do(func() { loader, loaderErr = start("serve") })
	if loaderErr != nil {
		return nil, loaderErr
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	r, err := loader.call(Request{Load: abs})
	if err != nil {
		return nil, err
	}
	if r.Error != "" {
		return nil, errors.New(r.Error)
	}
	return r.Options, nil
}

// Server is a nats-server running in a helper process, from a rendered file.
type Server struct {
	p         *process
	clientURL string
	once      sync.Once
}

// Start runs nats-server's own server code on the configuration file, with
// the overrides, and waits until it accepts connections; the test's
// cleanup shuts it down.
func Start(t testing.TB, conf string, o Overrides) *Server {
	t.Helper()
	p, err := start(append(o.Args(), conf)...)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{p: p}
	t.Cleanup(s.Shutdown)
	r, err := p.read()
	if err != nil {
		t.Fatalf("%s: %v", conf, err)
	}
	if r.Error != "" {
		t.Fatalf("%s: %s", conf, r.Error)
	}
	s.clientURL = r.ClientURL
	return s
}

// ClientURL is the server's client URL.
func (s *Server) ClientURL() string { return s.clientURL }

// NumRoutes is the server's number of routes (0 when it cannot be asked).
func (s *Server) NumRoutes() int {
	r, err := s.p.call(Request{Routes: true})
	if err != nil {
		return 0
	}
	return r.Routes
}

// Shutdown stops the server: the helper shuts it down when its input closes.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		s.p.in.Close()
		done := make(chan struct{})
		go func() { s.p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			s.p.cmd.Process.Kill()
			<-done
		}
	})
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// helper builds the helper program once per test binary, from its module
// next to this file, into natsnest's cache directory.
func helper() (string, error) {
	buildOnce.Do(func() {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			buildErr = errors.New("natsserver: cannot find the helper's source")
			return
		}
		dir := filepath.Join(filepath.Dir(file), "helper")
		cache, err := natsbin.CacheDir()
		if err != nil {
			buildErr = err
			return
		}
		outDir := filepath.Join(cache, "testkit")
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			buildErr = err
			return
		}
		// Test binaries run in parallel: each links to a file of its own
		// and renames it over the shared path (a running helper keeps the
		// file it started from).
		f, err := os.CreateTemp(outDir, "natsserver-helper-*.tmp")
		if err != nil {
			buildErr = err
			return
		}
		f.Close()
		tmp := f.Name()
		defer os.Remove(tmp)
		// The pinned toolchain, whatever runs the tests: make fuzz runs on
		// a newer Go, which would otherwise compile nats-server afresh
		// (minutes on a small machine) for the first fuzz input.
		cmd := exec.Command("go", "build", "-o", tmp, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOTOOLCHAIN=go"+version.Go)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("natsserver: building the helper in %s: %v\n%s", dir, err, strings.TrimSpace(string(out)))
			return
		}
		built = filepath.Join(outDir, "natsserver-helper")
		buildErr = os.Rename(tmp, built)
	})
	return built, buildErr
}
