package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
)

// Day-2 operations on a running cluster (docs/architecture.md §3a): change the
// configuration and reload it, add and remove nodes, switch the binary that
// nodes run when they start. These rewrite files and send signals; which
// change needs a reload and which a restart is the caller's decision — the
// tests take it from internal/provision, as the nodes' service step does.

// Change is one node's configuration before and after Reconfigure,
// AddNodes or RemoveNodes rewrote its files. Before is the zero Server for
// a node that was just added.
type Change struct {
	Index         int
	Before, After natsconf.Server
}

// reloadTimeout bounds the wait for a reload to show in /varz.
const reloadTimeout = 10 * time.Second

// Reconfigure applies edit to the settings every node is rendered from
// (users, limits, durability, lame duck, tags: anything but the per-node
// name, ports, store and routes) and rewrites the configuration of every
// node that is a member, running or not. Running servers are not told:
// Reload or a restart (LameDuck, then StartNode) applies it.
func (c *Cluster) Reconfigure(edit func(*natsconf.Server)) ([]Change, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tmpl := copyServer(c.template)
	edit(&tmpl)
	return c.rerender(tmpl)
}

// AddNodes adds n nodes to the cluster — new names, ports and stores — and
// rewrites every member's configuration, so that all route to all. The new
// nodes are not started (StartNode starts them) and the running ones not
// reloaded (Reload does: routes reload). It returns the changes of every
// member, the new ones included.
func (c *Cluster) AddNodes(n int) ([]Change, error) {
	if n < 1 {
		return nil, fmt.Errorf("localcluster: AddNodes(%d): want 1 or more", n)
	}
	ports, err := choosePorts(3 * n)
	if err != nil {
		return nil, fmt.Errorf("localcluster: choosing ports: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil, errors.New("localcluster: the cluster is stopped")
	}
	if len(c.nodes) == 1 || c.template.Cluster == nil {
		return nil, errors.New("localcluster: a single node has no cluster block to grow")
	}
	for j := range n {
		i := len(c.nodes)
		nd, spec := c.newNode(i, ports[3*j:3*j+3])
		c.nodes = append(c.nodes, nd)
		c.specs = append(c.specs, spec)
	}
	return c.rerender(c.template)
}

// RemoveNodes takes nodes out of the cluster's membership: the remaining
// members' configurations no longer route to them. Nothing is stopped or
// reloaded; the caller reloads the remaining nodes, then stops the leaving
// ones and removes them from JetStream. Removed nodes keep their index but
// are no longer Members.
func (c *Cluster) RemoveNodes(indexes ...int) ([]Change, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, i := range indexes {
		n, err := c.node(i)
		if err != nil {
			return nil, err
		}
		n.removed = true
	}
	members := 0
	for _, n := range c.nodes {
		if !n.removed {
			members++
		}
	}
	if members < 2 {
		return nil, errors.New("localcluster: RemoveNodes would leave fewer than 2 members")
	}
	return c.rerender(c.template)
}

// rerender renders every member's files from tmpl and writes them.
func (c *Cluster) rerender(tmpl natsconf.Server) ([]Change, error) {
	var idx []int
	var specs []natsconf.Node
	for i, n := range c.nodes {
		if !n.removed {
			idx = append(idx, i)
			specs = append(specs, c.specs[i])
		}
	}
	servers, err := natsconf.ClusterConfigs(tmpl, specs)
	if err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	changes := make([]Change, len(servers))
	for j, s := range servers {
		n := c.nodes[idx[j]]
		if err := c.writeFiles(n, s); err != nil {
			return nil, err
		}
		changes[j] = Change{Index: idx[j], Before: n.server, After: s}
		n.server = s
	}
	c.template = tmpl
	return changes, nil
}

// writeFiles renders s and writes the node's nats.conf and routes.conf.
func (c *Cluster) writeFiles(n *node, s natsconf.Server) error {
	files, err := c.render(s)
	if err != nil {
		return fmt.Errorf("localcluster: rendering %s: %w", s.Name, err)
	}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	if err := writeSecret(n.ConfigPath, files.Config); err != nil {
		return err
	}
	routes := filepath.Join(n.dir, natsconf.RoutesFile)
	if files.Routes != "" {
		err = writeSecret(routes, files.Routes)
	} else if err = os.Remove(routes); errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	return nil
}

// copyServer copies s deeply enough that editing the copy's accounts,
// users, tags or cluster leaves s as it was.
func copyServer(s natsconf.Server) natsconf.Server {
	s.Tags = slices.Clone(s.Tags)
	s.Accounts = slices.Clone(s.Accounts)
	for i := range s.Accounts {
		s.Accounts[i].Users = slices.Clone(s.Accounts[i].Users)
	}
	if s.Cluster != nil {
		cl := *s.Cluster
		cl.Routes = slices.Clone(cl.Routes)
		s.Cluster = &cl
	}
	return s
}

// Reload makes node i reload its configuration, as `systemctl reload`
// does (SIGHUP), and waits until /varz shows that it did: a reload the
// server rejects reports nothing back, only the unchanged config_load_time
// and a line in its log, which the error then quotes.
func (c *Cluster) Reload(ctx context.Context, i int) error {
	c.mu.Lock()
	n, err := c.node(i)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	p, nd := n.proc, n.Node
	c.mu.Unlock()
	if !p.running() {
		return fmt.Errorf("localcluster: %s is not running", nd.Name)
	}
	before, err := configLoadTime(ctx, nd)
	if err != nil {
		return err
	}
	c.logf("localcluster: reload %s (SIGHUP to pid %d)", nd.Name, p.cmd.Process.Pid)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("localcluster: signalling %s: %w", nd.Name, err)
	}
	deadline := time.Now().Add(reloadTimeout)
	for time.Now().Before(deadline) {
		now, err := configLoadTime(ctx, nd)
		if err == nil && !now.Equal(before) {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-p.done:
			return c.exitError(i, p)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("localcluster: %s did not apply the reload within %s (rejected?); last lines of its log:\n%s",
		nd.Name, reloadTimeout, c.logTail(i, true))
}

// configLoadTime is /varz's config_load_time: when the server last loaded
// its configuration.
func configLoadTime(ctx context.Context, n Node) (time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.MonitorURL+"/varz", nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return time.Time{}, fmt.Errorf("localcluster: %s /varz: %w", n.Name, err)
	}
	defer resp.Body.Close()
	var v struct {
		ConfigLoadTime time.Time `json:"config_load_time"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return time.Time{}, fmt.Errorf("localcluster: %s /varz: %w", n.Name, err)
	}
	return v.ConfigLoadTime, nil
}

// PID is node i's process ID, or 0 when it is not running.
func (c *Cluster) PID(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(i)
	if err != nil || !n.proc.running() {
		return 0
	}
	return n.proc.cmd.Process.Pid
}

// Server is what node i's files were last rendered from.
func (c *Cluster) Server(i int) (natsconf.Server, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.node(i)
	if err != nil {
		return natsconf.Server{}, err
	}
	return n.server, nil
}

// Members are the nodes that have not been removed, running or not.
func (c *Cluster) Members() []Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Node
	for _, n := range c.nodes {
		if !n.removed {
			out = append(out, n.Node)
		}
	}
	return out
}

// SetServerBinary makes nodes started from now on (StartNode) run the
// nats-server at path: an upgrade rolls by restarting one node after the
// other.
func (c *Cluster) SetServerBinary(path string) error {
	p, err := exec.LookPath(path)
	if err == nil {
		p, err = filepath.Abs(p)
	}
	if err != nil {
		return fmt.Errorf("localcluster: SetServerBinary: %w", err)
	}
	c.mu.Lock()
	c.bin = p
	c.mu.Unlock()
	c.logf("localcluster: nodes started from now on run %s", p)
	return nil
}
