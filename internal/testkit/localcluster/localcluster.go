// Package localcluster runs a NATS JetStream cluster of real nats-server
// processes on loopback, configured by natsnest's own renderer, for tests and
// the demo.
//
// Every node is its own process with its own client, monitoring and route
// ports, its own directory (nats.conf, routes.conf, nats.log, store/) and the
// configuration production renders: no anonymous access, an application
// account with JetStream, the system account with user admin, authenticated
// routes, lame duck and store limits. Passwords and the bcrypt salt seed are
// random per cluster.
//
// First boot follows docs/architecture.md §3a: all nodes start at once, each counts as
// up when /healthz?js-server-only=true answers (the full /healthz fails until
// a JetStream meta leader exists), and then the full /healthz must answer on
// every node. Nodes can be killed with SIGKILL and started again. Stop kills
// every node and removes the files; on Linux the nodes also die with the
// process that started them, so a crashed test leaves nothing running.
package localcluster

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/natsnest/pulumi-natsnest/internal/natsbin"
	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
	"github.com/natsnest/pulumi-natsnest/internal/version"
)

// Names of the application account and its user, and of the cluster.
const (
	appAccount  = "APP"
	appUser     = "app"
	adminUser   = natsconf.DefaultAdminUser
	clusterName = natsconf.DefaultClusterName
)

const (
	host           = "127.0.0.1"
	maxFileStore   = 1 << 30   // 1 GiB
	maxMemoryStore = 256 << 20 // 256 MiB
	bcryptCost     = 4         // the minimum: hashing on every start must be quick
	logTailLines   = 25

	// How long a node may take to answer /healthz when the caller's
	// context has no earlier deadline.
	healthTimeout = 2 * time.Minute
	// Start and StartNode retry this often when a port was taken between
	// choosing it and the server binding it.
	startAttempts = 5
)

// Options configure Start. The zero value is a 3-node cluster in a fresh
// temporary directory.
type Options struct {
	// Nodes is the number of servers, 1 or more. Defaults to 3.
	Nodes int
	// Dir is the parent directory of the nodes' directories (<Dir>/n1, …).
	// Defaults to a fresh temporary directory, which Stop removes; a Dir
	// given here is left in place with the nodes' files.
	Dir string
	// Durability is "" (the server's default sync_interval, "2m": writes are
	// acknowledged before fsync) or "always" (fsync before every ack).
	Durability string
	// ServerBinary is the nats-server to run. Defaults to the pinned release
	// built by natsbin.Build for this machine.
	ServerBinary string
	// Logf receives progress lines; nil is silent.
	Logf func(format string, args ...any)
	// Accounts replace the application account APP (user "app" with a
	// random password) with a user's own, so that their stream and
	// consumer declarations can be tried before deploying. At least one
	// must have JetStream and a user with a password; App is then its
	// first such user.
	Accounts []natsconf.Account
	// MaxFileStore and MaxMemoryStore are JetStream's limits in bytes, as
	// a deployment's store size. Default 1 GiB and 256 MiB.
	MaxFileStore, MaxMemoryStore int64
	// RenderConfig, when set, renders each node's files in place of
	// natsconf.RenderServerConfig. It receives the Server natsnest would
	// render for the node (name, host, ports, store directory, routes,
	// credentials, durability), so a caller can run a configuration of its
	// own on the same ports and store — the benchmark runs the seed's
	// config this way. The monitoring port must stay enabled: readiness is
	// /healthz. App and Admin credentials mean nothing to a config that
	// does not define them.
	RenderConfig func(s natsconf.Server) (natsconf.Files, error)
}

// Credentials are a user name and a plaintext password.
type Credentials struct{ User, Password string }

// Node describes one server of the cluster.
type Node struct {
	// Index is the node's position in Cluster.Nodes(), from 0; Kill,
	// StartNode and Running take it.
	Index int
	// Name is the server_name, "n<Index+1>".
	Name string
	// ClientURL is nats://127.0.0.1:<port>.
	ClientURL string
	// MonitorURL is http://127.0.0.1:<port>, the monitoring endpoint.
	MonitorURL string
	// StoreDir is the node's JetStream store directory.
	StoreDir string
	// ConfigPath is the node's nats.conf; routes.conf and nats.log are next to it.
	ConfigPath string
}

// Cluster is a running local cluster. Its methods are safe for concurrent use.
type Cluster struct {
	logf   func(format string, args ...any)
	bin    string
	dir    string
	ownDir bool
	sync   string

	app, admin Credentials
	accounts   []natsconf.Account // nil: APP with app
	maxFile    int64
	maxMemory  int64
	routePass  string
	hashSeed   string

	render func(natsconf.Server) (natsconf.Files, error)

	mu      sync.Mutex
	nodes   []*node
	stopped bool
	// template and specs (one per node, removed ones included) are what
	// the nodes' files are rendered from; see ops.go.
	template natsconf.Server
	specs    []natsconf.Node
}

type node struct {
	Node
	dir       string
	logPath   string
	routePort int
	proc      *proc           // nil until started; the last process otherwise
	server    natsconf.Server // what its files were last rendered from
	removed   bool            // taken out of the cluster (RemoveNodes)
}

type proc struct {
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	err      error         // cmd.Wait's result, set before done is closed
	logStart int64         // offset in nats.log where this run's output starts
}

func (p *proc) running() bool {
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

var errAddrInUse = errors.New("address already in use")

// Start renders the configuration of every node, starts all nodes at once
// and returns when every node answers the full /healthz. On any error,
// everything already started is stopped and a directory Start created is
// removed.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 1 {
		return nil, fmt.Errorf("localcluster: Nodes is %d, want 1 or more", o.Nodes)
	}
	accounts, app, err := accountsOf(o.Accounts)
	if err != nil {
		return nil, err
	}
	if o.MaxFileStore < 0 || o.MaxMemoryStore < 0 {
		return nil, fmt.Errorf("localcluster: MaxFileStore and MaxMemoryStore must not be negative")
	}
	c := &Cluster{
		accounts:  accounts,
		maxFile:   cmp.Or(o.MaxFileStore, maxFileStore),
		maxMemory: cmp.Or(o.MaxMemoryStore, maxMemoryStore),
		logf:      o.Logf,
		sync:      natsconf.DefaultSyncInterval,
		app:       app,
		admin:     Credentials{User: adminUser, Password: rand.Text()},
		routePass: rand.Text(),
		hashSeed:  rand.Text(),
		render:    o.RenderConfig,
	}
	if c.render == nil {
		c.render = natsconf.RenderServerConfig
	}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	switch o.Durability {
	case "":
	case natsconf.SyncAlways:
		c.sync = natsconf.SyncAlways
	default:
		return nil, fmt.Errorf("localcluster: Durability is %q, want \"\" or %q", o.Durability, natsconf.SyncAlways)
	}

	c.bin = o.ServerBinary
	if c.bin == "" {
		var err error
		if c.bin, err = serverBinary(ctx, c.logf); err != nil {
			return nil, err
		}
	} else {
		// Nodes run in their own directories: resolve a relative path or a
		// name on $PATH now.
		path, err := exec.LookPath(c.bin)
		if err == nil {
			path, err = filepath.Abs(path)
		}
		if err != nil {
			return nil, fmt.Errorf("localcluster: ServerBinary: %w", err)
		}
		c.bin = path
	}

	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "natsnest-localcluster-")
		if err != nil {
			return nil, fmt.Errorf("localcluster: %w", err)
		}
		c.dir, c.ownDir = dir, true
	} else {
		dir, err := filepath.Abs(o.Dir)
		if err == nil {
			err = os.MkdirAll(dir, 0o700)
		}
		if err != nil {
			return nil, fmt.Errorf("localcluster: Dir: %w", err)
		}
		c.dir = dir
	}

	began := time.Now()
	c.logf("localcluster: starting %d node(s) of nats-server v%s in %s", o.Nodes, version.NATSServer, c.dir)
	for attempt := 1; ; attempt++ {
		err := c.configure(o.Nodes)
		if err == nil {
			err = c.startAll(ctx)
		}
		if err == nil {
			break
		}
		c.killAll()
		if errors.Is(err, errAddrInUse) && attempt < startAttempts && ctx.Err() == nil {
			c.logf("localcluster: a port was taken before the server bound it; choosing new ports (attempt %d)", attempt+1)
			continue
		}
		c.removeDir()
		return nil, err
	}
	if o.Nodes > 1 {
		c.logf("localcluster: all nodes up; waiting for a JetStream meta leader and the full /healthz on every node")
	}
	if err := c.WaitHealthy(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	if o.Nodes > 1 {
		if err := c.waitMetaPeers(ctx); err != nil {
			c.Stop()
			return nil, err
		}
	}
	c.logf("localcluster: %d node(s) healthy after %s: %s", o.Nodes, time.Since(began).Round(10*time.Millisecond), c.ClientURL())
	return c, nil
}

// accountsOf checks a user's accounts and finds the user App returns: the
// first user with a password of the first account with JetStream. No
// accounts is the default APP account with user app.
func accountsOf(accounts []natsconf.Account) ([]natsconf.Account, Credentials, error) {
	if len(accounts) == 0 {
		return nil, Credentials{User: appUser, Password: rand.Text()}, nil
	}
	for _, a := range accounts {
		if !a.JetStream {
			continue
		}
		for _, u := range a.Users {
			if u.Name != "" && u.Password != "" {
				return slices.Clone(accounts), Credentials{User: u.Name, Password: u.Password}, nil
			}
		}
	}
	return nil, Credentials{}, errors.New("localcluster: Accounts: none has JetStream and a user with a password to connect as")
}

// StartT starts a cluster for a test (Logf defaults to t.Logf), fails the
// test on error and stops the cluster when the test ends. If the test
// failed, the last lines of every node's log are logged first.
func StartT(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	c, err := Start(t.Context(), o)
	if err != nil {
		t.Fatalf("starting a local cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes() {
				t.Logf("last lines of %s's log:\n%s", n.Name, c.logTail(n.Index, false))
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the local cluster: %v", err)
		}
	})
	return c
}

func serverBinary(ctx context.Context, logf func(string, ...any)) (string, error) {
	path, err := natsbin.Path(runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return "", fmt.Errorf("localcluster: %w", err)
	}
	if _, err := os.Stat(path); err != nil {
		logf("localcluster: building nats-server v%s into %s (the first build takes a few minutes)", version.NATSServer, path)
	}
	path, err = natsbin.Build(ctx, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return "", fmt.Errorf("localcluster: %w", err)
	}
	return path, nil
}

// configure chooses free ports and writes every node's nats.conf and
// routes.conf (mode 0600: routes.conf holds the route password).
func (c *Cluster) configure(count int) error {
	ports, err := choosePorts(3 * count)
	if err != nil {
		return fmt.Errorf("localcluster: choosing ports: %w", err)
	}
	template := natsconf.Server{
		Host:                host,
		ClientPort:          natsconf.DefaultClientPort,
		MonitorPort:         natsconf.DefaultMonitorPort,
		LameDuckDuration:    natsconf.DefaultLameDuckDuration,
		LameDuckGracePeriod: natsconf.DefaultLameDuckGracePeriod,
		System: natsconf.SystemAccount{
			Name:     natsconf.DefaultSystemAccount,
			User:     c.admin.User,
			Password: c.admin.Password,
		},
		Accounts: c.accounts,
		JetStream: natsconf.JetStream{
			MaxFileStore:   c.maxFile,
			MaxMemoryStore: c.maxMemory,
			SyncInterval:   c.sync,
		},
		Cluster: &natsconf.Cluster{
			Name:     clusterName,
			Host:     host,
			Port:     natsconf.DefaultRoutePort,
			User:     natsconf.DefaultRouteUser,
			Password: c.routePass,
		},
		HashSeed:   c.hashSeed,
		BcryptCost: bcryptCost,
	}
	if template.Accounts == nil {
		template.Accounts = []natsconf.Account{{
			Name:      appAccount,
			JetStream: true,
			Users:     []natsconf.User{{Name: c.app.User, Password: c.app.Password}},
		}}
	}
	specs := make([]natsconf.Node, count)
	nodes := make([]*node, count)
	for i := range specs {
		nodes[i], specs[i] = c.newNode(i, ports[3*i:3*i+3])
	}
	servers, err := natsconf.ClusterConfigs(template, specs)
	if err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	for i, s := range servers {
		if err := c.writeFiles(nodes[i], s); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.nodes = nodes
	c.template, c.specs = template, specs
	for i, s := range servers {
		nodes[i].server = s
	}
	c.mu.Unlock()
	return nil
}

// newNode describes node i listening on ports (client, monitoring, route):
// the runner's view of it and the renderer's.
func (c *Cluster) newNode(i int, ports []int) (*node, natsconf.Node) {
	name := "n" + strconv.Itoa(i+1)
	dir := filepath.Join(c.dir, name)
	n := &node{
		Node: Node{
			Index:      i,
			Name:       name,
			ClientURL:  "nats://" + net.JoinHostPort(host, strconv.Itoa(ports[0])),
			MonitorURL: "http://" + net.JoinHostPort(host, strconv.Itoa(ports[1])),
			StoreDir:   filepath.Join(dir, "store"),
			ConfigPath: filepath.Join(dir, natsconf.ConfigFile),
		},
		dir:       dir,
		logPath:   filepath.Join(dir, "nats.log"),
		routePort: ports[2],
	}
	return n, natsconf.Node{
		Name:        name,
		RouteHost:   host,
		ClientPort:  ports[0],
		MonitorPort: ports[1],
		RoutePort:   ports[2],
		StoreDir:    n.StoreDir,
		Tags:        []string{fmt.Sprintf("az:local-%d", i%3)},
	}
}

func writeSecret(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	// WriteFile keeps the mode of a file that already exists.
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	return nil
}

// choosePorts is freePorts; tests replace it to hand out a taken port.
var choosePorts = freePorts

// freePorts asks the kernel for n distinct free ports on loopback. They are
// released before the servers bind them, so one may be taken in between:
// starting retries with new ports when a server reports it.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startAll starts every node's process, then waits for all of them at once
// until each answers /healthz?js-server-only=true.
func (c *Cluster) startAll(ctx context.Context) error {
	nodes := c.Nodes()
	for _, n := range nodes {
		if err := c.spawn(n.Index); err != nil {
			return err
		}
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			errs[i] = c.waitHealthz(ctx, i, "/healthz?js-server-only=true")
			if errs[i] == nil {
				c.logf("localcluster: %s up: %s (monitoring %s)", n.Name, n.ClientURL, n.MonitorURL)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// spawn starts node i's process with its output appended to its nats.log.
func (c *Cluster) spawn(i int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("localcluster: the cluster is stopped")
	}
	n := c.nodes[i]
	if n.proc.running() {
		return fmt.Errorf("localcluster: %s is already running", n.Name)
	}
	logFile, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	offset, _ := logFile.Seek(0, io.SeekEnd)
	cmd := exec.Command(c.bin, "-c", n.ConfigPath)
	cmd.Dir = n.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("localcluster: starting %s: %w", n.Name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), logStart: offset}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	n.proc = p
	return nil
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// waitHealthz polls node i's monitoring path until it answers 200 OK, the
// process exits or ctx (bounded by healthTimeout) ends.
func (c *Cluster) waitHealthz(ctx context.Context, i int, path string) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	c.mu.Lock()
	n := c.nodes[i]
	p := n.proc
	c.mu.Unlock()
	if !p.running() {
		return c.exitError(i, p)
	}
	url := n.MonitorURL + path
	last := "no answer yet"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := httpClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return c.exitError(i, p)
		case <-ctx.Done():
			return fmt.Errorf("localcluster: %s did not answer %s with 200 OK (%w); last answer: %s\nlast lines of %s:\n%s",
				n.Name, path, context.Cause(ctx), last, n.logPath, c.logTail(i, true))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) exitError(i int, p *proc) error {
	n := c.nodes[i]
	var reason error = errors.New("never started")
	if p != nil {
		<-p.done
		reason = p.err
	}
	tail := c.logTail(i, true)
	err := fmt.Errorf("localcluster: %s exited (%v); last lines of %s:\n%s", n.Name, reason, n.logPath, tail)
	if strings.Contains(tail, "address already in use") {
		err = fmt.Errorf("%w: %w", errAddrInUse, err)
	}
	return err
}

// logTail returns the last lines of node i's log, of its current run only
// when thisRun is set.
func (c *Cluster) logTail(i int, thisRun bool) string {
	c.mu.Lock()
	n := c.nodes[i]
	var from int64
	if thisRun && n.proc != nil {
		from = n.proc.logStart
	}
	c.mu.Unlock()
	f, err := os.Open(n.logPath)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	defer f.Close()
	const maxRead = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size()-from > maxRead {
		from = fi.Size() - maxRead
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return "  (" + err.Error() + ")"
	}
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return "  (empty)"
	}
	return "  " + strings.Join(lines, "\n  ")
}

// Nodes describes every node, running or not, in index order.
func (c *Cluster) Nodes() []Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	nodes := make([]Node, len(c.nodes))
	for i, n := range c.nodes {
		nodes[i] = n.Node
	}
	return nodes
}

// ClientURLs are every node's client URL, in index order.
func (c *Cluster) ClientURLs() []string {
	var urls []string
	for _, n := range c.Nodes() {
		urls = append(urls, n.ClientURL)
	}
	return urls
}

// ClientURL is ClientURLs joined with commas, as nats.Connect takes them.
func (c *Cluster) ClientURL() string { return strings.Join(c.ClientURLs(), ",") }

// App is the application user of account APP, which has JetStream.
func (c *Cluster) App() Credentials { return c.app }

// AppAccount is the name of App's account: APP, or the first of
// Options.Accounts with JetStream and a user.
func (c *Cluster) AppAccount() string {
	for _, a := range c.accounts {
		for _, u := range a.Users {
			if a.JetStream && u.Name == c.app.User {
				return a.Name
			}
		}
	}
	return appAccount
}

// Admin is user admin of the system account $SYS.
func (c *Cluster) Admin() Credentials { return c.admin }

// NodeIndex returns the index of the node whose server_name is serverName.
func (c *Cluster) NodeIndex(serverName string) (int, bool) {
	for _, n := range c.Nodes() {
		if n.Name == serverName {
			return n.Index, true
		}
	}
	return 0, false
}

func (c *Cluster) node(i int) (*node, error) {
	if i < 0 || i >= len(c.nodes) {
		return nil, fmt.Errorf("localcluster: no node %d (the cluster has %d)", i, len(c.nodes))
	}
	return c.nodes[i], nil
}

// Running reports whether node i's process is running.
func (c *Cluster) Running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(i)
	return err == nil && n.proc.running()
}

// Kill sends node i SIGKILL, as kill -9 does, and waits for the process to
// exit. Killing a node that is not running is an error.
func (c *Cluster) Kill(i int) error {
	n, p, err := c.runningProc(i)
	if err != nil {
		return err
	}
	c.logf("localcluster: kill -9 %s (pid %d)", n.Name, p.cmd.Process.Pid)
	kill(p)
	return nil
}

// runningProc returns node i and its process, or an error when there is no
// node i or it is not running.
func (c *Cluster) runningProc(i int) (*node, *proc, error) {
	c.mu.Lock()
	n, err := c.node(i)
	if err != nil {
		c.mu.Unlock()
		return nil, nil, err
	}
	p := n.proc
	c.mu.Unlock()
	if !p.running() {
		return nil, nil, fmt.Errorf("localcluster: %s is not running", n.Name)
	}
	return n, p, nil
}

// kill sends SIGKILL and waits until the process has exited and been reaped.
// An error from Kill means the process has already exited.
func kill(p *proc) {
	p.cmd.Process.Kill()
	<-p.done
}

// LameDuck stops node i the way a planned restart should (docs/architecture.md §3):
// it sends SIGUSR2, so the server enters lame duck mode — stops accepting
// clients, hands its raft leaderships to other nodes, then closes its
// clients spread over the lame duck duration — and waits for the process to
// exit or ctx to end. StartNode starts it again.
func (c *Cluster) LameDuck(ctx context.Context, i int) error {
	if lameDuckSignal == nil {
		return fmt.Errorf("localcluster: lame duck mode by signal is not supported on %s", runtime.GOOS)
	}
	return c.signalAndWait(ctx, i, lameDuckSignal, "lame duck (SIGUSR2)")
}

// Terminate sends node i SIGTERM, which nats-server answers by shutting
// down at once, without lame duck — what `systemctl restart` does to the
// seed's unit — and waits for the process to exit or ctx to end.
func (c *Cluster) Terminate(ctx context.Context, i int) error {
	return c.signalAndWait(ctx, i, syscall.SIGTERM, "terminate (SIGTERM)")
}

func (c *Cluster) signalAndWait(ctx context.Context, i int, sig os.Signal, what string) error {
	n, p, err := c.runningProc(i)
	if err != nil {
		return err
	}
	c.logf("localcluster: %s %s (pid %d)", what, n.Name, p.cmd.Process.Pid)
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("localcluster: signalling %s: %w", n.Name, err)
	}
	select {
	case <-p.done:
		c.logf("localcluster: %s exited", n.Name)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("localcluster: %s did not exit after %s: %w", n.Name, what, context.Cause(ctx))
	}
}

// StartNode starts node i again — with the same configuration, ports and
// store — after Kill or a crash, and waits until it answers the full
// /healthz (its streams and consumers are current). If it does not, the
// node is killed again and the error says why.
func (c *Cluster) StartNode(ctx context.Context, i int) error {
	c.mu.Lock()
	n, err := c.node(i)
	stopped := c.stopped
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if stopped {
		return errors.New("localcluster: the cluster is stopped")
	}
	for attempt := 1; ; attempt++ {
		if err = c.spawn(i); err != nil {
			return err
		}
		c.logf("localcluster: %s started again; waiting for its full /healthz", n.Name)
		err = c.waitHealthz(ctx, i, "/healthz?js-server-only=true")
		if err == nil {
			err = c.waitHealthz(ctx, i, "/healthz")
		}
		if err == nil {
			c.logf("localcluster: %s healthy", n.Name)
			return nil
		}
		c.mu.Lock()
		p := n.proc
		c.mu.Unlock()
		if p.running() {
			kill(p)
		}
		// The node's ports are in its peers' routes and in clients' URLs,
		// so a port taken meanwhile can only be waited for.
		if !errors.Is(err, errAddrInUse) || attempt == startAttempts || ctx.Err() != nil {
			return err
		}
		c.logf("localcluster: a port of %s is in use; retrying", n.Name)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		}
	}
}

// waitMetaPeers waits until the JetStream meta leader sees every other node
// as a current, online peer (its /jsz). The full /healthz of every node
// says each follows the leader, not that the leader has heard from all of
// them: a replicated stream created in between can fail with "no suitable
// peers for placement, peer offline", which a loaded machine made happen.
func (c *Cluster) waitMetaPeers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	nodes := c.Nodes()
	last := "no answer yet"
	for {
		for _, n := range nodes {
			ok, state := metaPeersOnline(ctx, n.MonitorURL, n.Name, len(nodes))
			if ok {
				return nil
			}
			if state != "" {
				last = state
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localcluster: the meta leader does not see every peer online: %s: %w", last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// metaPeersOnline asks the node at monitorURL, if it is the meta leader,
// whether all size-1 other peers are current and online; state says what it
// saw.
func metaPeersOnline(ctx context.Context, monitorURL, name string, size int) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, monitorURL+"/jsz", nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	var jsz struct {
		Meta *struct {
			Leader   string `json:"leader"`
			Replicas []struct {
				Name    string `json:"name"`
				Current bool   `json:"current"`
				Offline bool   `json:"offline"`
			} `json:"replicas"`
		} `json:"meta_cluster"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&jsz); err != nil {
		return false, err.Error()
	}
	if jsz.Meta == nil || jsz.Meta.Leader != name {
		return false, ""
	}
	online := 0
	for _, r := range jsz.Meta.Replicas {
		if r.Current && !r.Offline {
			online++
		}
	}
	return online == size-1, fmt.Sprintf("leader %s sees %d of %d peers current and online", name, online, size-1)
}

// WaitHealthy waits until every running node answers the full /healthz:
// the server is up, JetStream has a meta leader and the node's streams and
// consumers are current. Without a deadline in ctx it gives up after two
// minutes. It is an error if no node is running.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	var running []int
	for _, n := range c.Nodes() {
		if c.Running(n.Index) {
			running = append(running, n.Index)
		}
	}
	if len(running) == 0 {
		return errors.New("localcluster: no node is running")
	}
	errs := make([]error, len(running))
	var wg sync.WaitGroup
	for j, i := range running {
		wg.Go(func() { errs[j] = c.waitHealthz(ctx, i, "/healthz") })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Stop kills every node and waits for the processes to exit, then removes
// the directory if Start created it. It can be called more than once.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	c.mu.Unlock()
	c.killAll()
	if err := c.removeDir(); err != nil {
		return err
	}
	c.logf("localcluster: stopped")
	return nil
}

func (c *Cluster) killAll() {
	c.mu.Lock()
	var procs []*proc
	for _, n := range c.nodes {
		if n.proc.running() {
			procs = append(procs, n.proc)
		}
	}
	c.mu.Unlock()
	for _, p := range procs {
		p.cmd.Process.Kill()
	}
	for _, p := range procs {
		<-p.done
	}
}

func (c *Cluster) removeDir() error {
	if !c.ownDir {
		return nil
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("localcluster: removing %s: %w", c.dir, err)
	}
	return nil
}
