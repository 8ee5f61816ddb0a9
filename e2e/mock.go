// Package e2e is natsnest's machine tier (docs/architecture.md §5, tier 3): the
// production programs run under Pulumi mocks whose command:remote:*
// resources are executed for real, over SSH, on Debian machines booted with
// systemd-nspawn (internal/testkit/machines), and whose ECS instances, disks and
// EIPs resolve to those machines. The tests then check the result on the
// machines and with NATS clients.
//
// The tests run only with NATSNEST_E2E=1, as root, where systemd-nspawn
// works (`make e2e`); elsewhere they skip and say why.
package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Type tokens the mock gives meaning to.
const (
	typeRemoteCommand  = "command:remote:Command"
	typeCopyToRemote   = "command:remote:CopyToRemote"
	typeLocalCommand   = "command:local:Command"
	typeInstance       = "alicloud:ecs/instance:Instance"
	typeEcsDisk        = "alicloud:ecs/ecsDisk:EcsDisk"
	typeDiskAttachment = "alicloud:ecs/ecsDiskAttachment:EcsDiskAttachment"
	typeEipAddress     = "alicloud:ecs/eipAddress:EipAddress"
	typeEipAssociation = "alicloud:ecs/eipAssociation:EipAssociation"
)

// ExecMock is not natsnesttest's Mocks, the fake engine of the unit tests:
// it runs what a program registers on real machines, which no unit test
// does. It models pulumi-command and the engine where the machine tier is
// not yet driven by the real engine (docs/architecture.md, §5).
//
// ExecMock is a pulumi.MockResourceMonitor that deploys for real: it runs
// command:remote:Command and copies command:remote:CopyToRemote over SSH
// (golang.org/x/crypto/ssh) when the program registers them, and returns
// their real stdout and stderr; a failing command fails its resource with
// stderr in the error, so nothing that depends on it runs. ECS instances
// resolve to the fleet's machine with the instance's host name, EIPs to the
// machine they are named for, disk attachments give the machine's data disk
// the disk's ID as serial number; every other resource gets a stable fake ID.
//
// The Go SDK registers a resource only after its inputs and its DependsOn
// resources have resolved, and a mocked resource resolves only when
// NewResource returns — after its command ran. So commands run in the order
// and with the parallelism that `pulumi up` would run them.
//
// One ExecMock can deploy several times (Deploy): it remembers each
// resource's inputs like a stack's state and reports what a real `pulumi
// up` would change. With RerunUnchanged, resources whose inputs did not
// change are executed again anyway, which proves the scripts idempotent.
type ExecMock struct {
	// Fleet supplies the machines; the mock refuses to connect anywhere else.
	Fleet *machines.Fleet
	// Logf reports every execution.
	Logf func(format string, args ...any)
	// RerunUnchanged executes commands whose inputs are unchanged since the
	// previous Deploy (a real `pulumi up` would skip them).
	RerunUnchanged bool
	// Zones is what alicloud:index/getZones:getZones returns.
	Zones []string

	mu   sync.Mutex
	prev map[string]resource.PropertyMap // inputs by type::name, previous deployment
	cur  map[string]resource.PropertyMap
	// Commands' stdout and stderr by type::name, as stack state keeps them.
	prevOut, curOut map[string][2]string
	events          []Event
	start           time.Time
	eips            map[string]*machines.Machine // EIP id → machine
}

// Event is one resource the mock handled in a deployment.
type Event struct {
	Type, Name string
	// Op is what ran: "create", "update", "replace", "rerun" (unchanged
	// inputs, executed again), "same" (unchanged, not executed) or
	// "registered" for resources that execute nothing.
	Op string
	// Changed says a real `pulumi up` would create or update it.
	Changed        bool
	Host           string
	Start, End     time.Duration // since the deployment began
	Stdout, Stderr string
	Err            error
	// Script and Stdin are what a command ran with (for commands only).
	Script, Stdin string
}

// Deployment is the result of one Deploy.
type Deployment struct {
	Events []Event
	// Changes are the resources a real `pulumi up` would have created or
	// updated ("type name"), sorted.
	Changes []string
	Took    time.Duration
}

// Commands are the executed command and copy events, in completion order.
func (d *Deployment) Commands() []Event {
	var out []Event
	for _, e := range d.Events {
		if e.Type == typeRemoteCommand || e.Type == typeCopyToRemote || e.Type == typeLocalCommand {
			out = append(out, e)
		}
	}
	return out
}

// Find returns the event of the resource named name, or nil.
func (d *Deployment) Find(name string) *Event {
	for i := range d.Events {
		if d.Events[i].Name == name {
			return &d.Events[i]
		}
	}
	return nil
}

// Deploy runs program under the mock, as `pulumi up` would, and returns
// what ran. The error is the first failed resource's, as pulumi reports it.
func (m *ExecMock) Deploy(program pulumi.RunFunc) (*Deployment, error) {
	m.mu.Lock()
	m.prev, m.cur = m.cur, map[string]resource.PropertyMap{}
	m.prevOut, m.curOut = m.curOut, map[string][2]string{}
	m.events = nil
	m.start = time.Now()
	if m.eips == nil {
		m.eips = map[string]*machines.Machine{}
	}
	m.mu.Unlock()

	err := pulumi.RunErr(program, pulumi.WithMocks("natsnest", "e2e", m))

	m.mu.Lock()
	defer m.mu.Unlock()
	d := &Deployment{Events: append([]Event(nil), m.events...), Took: time.Since(m.start)}
	for _, e := range d.Events {
		if e.Changed {
			d.Changes = append(d.Changes, e.Type+" "+e.Name)
		}
	}
	sort.Strings(d.Changes)
	return d, err
}

func (m *ExecMock) logf(format string, args ...any) {
	if m.Logf != nil {
		m.Logf(format, args...)
	}
}

// Call answers the provider functions natsnest.Cluster invokes.
func (m *ExecMock) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case "alicloud:ecs/getImages:getImages":
		id := "debian_12_10_x64_20G_alibase_20250101.vhd"
		return resource.NewPropertyMapFromMap(map[string]any{
			"images": []any{map[string]any{"id": id, "name": id, "osType": "linux"}},
			"ids":    []any{id},
		}), nil
	case "alicloud:index/getZones:getZones":
		var zones []any
		for _, z := range m.Zones {
			zones = append(zones, map[string]any{"id": z})
		}
		return resource.NewPropertyMapFromMap(map[string]any{"zones": zones}), nil
	}
	m.logf("mock: invoke %s answered with nothing", args.Token)
	return resource.PropertyMap{}, nil
}

// NewResource registers one resource, executing it when it is a command.
func (m *ExecMock) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	key := args.TypeToken + "::" + args.Name
	m.mu.Lock()
	prev, existed := m.prev[key]
	m.cur[key] = args.Inputs
	since := time.Since(m.start)
	m.mu.Unlock()
	changed := !existed || !prev.DeepEquals(args.Inputs)

	ev := Event{Type: args.TypeToken, Name: args.Name, Changed: changed, Op: "registered", Start: since}
	id, state, err := m.handle(args, &ev, prev, existed, changed)
	ev.Err = err

	m.mu.Lock()
	ev.End = time.Since(m.start)
	m.events = append(m.events, ev)
	m.mu.Unlock()
	if err != nil {
		// Record no state for a failed resource: the next deployment retries it.
		m.mu.Lock()
		delete(m.cur, key)
		m.mu.Unlock()
		return "", nil, fmt.Errorf("%s %s: %w", args.TypeToken, args.Name, err)
	}
	return id, state, nil
}

func (m *ExecMock) handle(args pulumi.MockResourceArgs, ev *Event, prev resource.PropertyMap, existed, changed bool) (string, resource.PropertyMap, error) {
	in := args.Inputs
	state := in.Copy()
	id := fakeID(args.TypeToken, args.Name)
	switch args.TypeToken {
	case typeRemoteCommand, typeLocalCommand:
		op, script, err := commandOp(in, prev, existed, changed, m.RerunUnchanged)
		if err != nil {
			return "", nil, err
		}
		ev.Op = op
		if script == "" {
			// Nothing to run: keep the previous outputs, as pulumi would.
			m.mu.Lock()
			out := m.prevOut[args.TypeToken+"::"+args.Name]
			m.mu.Unlock()
			m.remember(args, out[0], out[1])
			state["stdout"], state["stderr"] = resource.NewProperty(out[0]), resource.NewProperty(out[1])
			ev.Stdout, ev.Stderr = out[0], out[1]
			return id, state, nil
		}
		if op == "replace" {
			if del, _ := optString(prev, "delete"); del != "" {
				if _, _, err := m.runCommand(args, prev, del, ev); err != nil {
					return "", nil, fmt.Errorf("replacing: delete of the old one: %w", err)
				}
			}
		}
		ev.Script = script
		ev.Stdin, _ = optString(in, "stdin")
		stdout, stderr, err := m.runCommand(args, in, script, ev)
		ev.Stdout, ev.Stderr = stdout, stderr
		m.logExec(ev, err)
		if err != nil {
			return "", nil, err
		}
		state["stdout"], state["stderr"] = resource.NewProperty(stdout), resource.NewProperty(stderr)
		m.remember(args, stdout, stderr)
		return id, state, nil

	case typeCopyToRemote:
		ev.Op = runOp(existed, changed, m.RerunUnchanged)
		if ev.Op == "same" {
			return id, state, nil
		}
		err := m.copyToRemote(in, ev)
		m.logExec(ev, err)
		if err != nil {
			return "", nil, err
		}
		return id, state, nil

	case typeInstance:
		host, _ := optString(in, "hostName")
		mach := m.Fleet.Machine(host)
		if mach == nil {
			return "", nil, fmt.Errorf("no machine of the fleet is named %q (the instance's hostName); machines: %s", host, machineNames(m.Fleet))
		}
		ev.Host = mach.Name
		id = "i-e2e-" + mach.Name
		state["privateIp"] = resource.NewProperty(mach.Addr)
		state["primaryIpAddress"] = resource.NewProperty(mach.Addr)
		public := ""
		if bw, ok := in["internetMaxBandwidthOut"]; ok && bw.IsNumber() && bw.NumberValue() > 0 {
			public = mach.Addr
		}
		state["publicIp"] = resource.NewProperty(public)
		state["status"] = resource.NewProperty("Running")
		state["hostName"] = resource.NewProperty(mach.Name)
		return id, state, nil

	case typeEcsDisk:
		// A stable, disk-ID-shaped ID: "d-" and 20 characters, which is
		// also what virtio-blk would show as the serial number.
		id = "d-e2e" + fakeHex(args.Name, 17)
		return id, state, nil

	case typeDiskAttachment:
		diskID, err := reqString(in, "diskId")
		if err != nil {
			return "", nil, err
		}
		instID, err := reqString(in, "instanceId")
		if err != nil {
			return "", nil, err
		}
		mach := m.Fleet.Machine(strings.TrimPrefix(instID, "i-e2e-"))
		if mach == nil {
			return "", nil, fmt.Errorf("instance %s is not one of the fleet's machines", instID)
		}
		ev.Host = mach.Name
		if mach.DataDevice == "" {
			m.logf("mock: %s: disk %s attached, but the machine has no data disk (%s)", mach.Name, diskID, m.Fleet.DataDiskNote)
		} else if err := mach.SetDiskSerial(diskID); err != nil {
			return "", nil, fmt.Errorf("attaching %s to %s: %w", diskID, mach.Name, err)
		} else {
			m.logf("mock: %s: disk %s attached: %s (%s) now has serial %s", mach.Name, diskID, mach.DataDevice, mach.DiskKind, diskID)
		}
		return diskID + ":" + instID, state, nil

	case typeEipAddress:
		name, _ := optString(in, "addressName")
		mach := machineNamedIn(m.Fleet, name, args.Name)
		if mach == nil {
			return "", nil, fmt.Errorf("EIP %s: no machine of the fleet (%s) is named in %q or %q", args.Name, machineNames(m.Fleet), name, args.Name)
		}
		ev.Host = mach.Name
		id = "eip-e2e" + fakeHex(args.Name, 14)
		m.mu.Lock()
		m.eips[id] = mach
		m.mu.Unlock()
		state["ipAddress"] = resource.NewProperty(mach.Addr)
		state["status"] = resource.NewProperty("Available")
		return id, state, nil

	case typeEipAssociation:
		alloc, err := reqString(in, "allocationId")
		if err != nil {
			return "", nil, err
		}
		instID, err := reqString(in, "instanceId")
		if err != nil {
			return "", nil, err
		}
		m.mu.Lock()
		mach := m.eips[alloc]
		m.mu.Unlock()
		if mach == nil || "i-e2e-"+mach.Name != instID {
			return "", nil, fmt.Errorf("EIP %s stands for machine %v but is associated with %s", alloc, mach, instID)
		}
		ev.Host = mach.Name
		return alloc + ":" + instID, state, nil
	}
	if strings.HasPrefix(args.TypeToken, "pulumi:providers:") {
		return "provider-" + fakeHex(args.Name, 8), state, nil
	}
	if !args.Custom {
		return "", state, nil
	}
	return id, state, nil
}

// remember keeps a command's outputs, so an unchanged command that is not
// executed again keeps them (as stack state would).
func (m *ExecMock) remember(args pulumi.MockResourceArgs, stdout, stderr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.curOut[args.TypeToken+"::"+args.Name] = [2]string{stdout, stderr}
}

func (m *ExecMock) logExec(ev *Event, err error) {
	took := (ev.End - ev.Start)
	if ev.End == 0 {
		took = time.Since(m.start) - ev.Start
	}
	status := "ok"
	if err != nil {
		status = "FAILED: " + firstLines(err.Error(), 12)
	}
	m.logf("mock: [%s] %s %s %s (%s): %s", ev.Host, shortType(ev.Type), ev.Name, ev.Op, took.Round(10*time.Millisecond), status)
}

// runOp is what a create/update/rerun decision is for resources without
// separate create and update steps.
func runOp(existed, changed, rerun bool) string {
	switch {
	case !existed:
		return "create"
	case changed:
		return "update"
	case rerun:
		return "rerun"
	}
	return "same"
}

// commandOp decides, as pulumi-command v1.2.1 does, what a Command runs:
// create when new; on changed inputs, delete+create when the triggers
// changed (replacement: only triggers is replaceOnChanges; the connection
// is merely secret, so a new key or address is an update), else update (or
// create when no update is given). A command without create runs nothing
// when it is created or replaced. A rerun runs what an update would.
func commandOp(in, prev resource.PropertyMap, existed, changed, rerun bool) (string, string, error) {
	create, err := optString(in, "create")
	if err != nil {
		return "", "", err
	}
	update, err := optString(in, "update")
	if err != nil {
		return "", "", err
	}
	switch {
	case !existed:
		return "create", create, nil
	case changed && !prev["triggers"].DeepEquals(in["triggers"]):
		return "replace", create, nil
	case changed, rerun:
		op := "update"
		if !changed {
			op = "rerun"
		}
		if update != "" {
			return op, update, nil
		}
		return op, create, nil
	}
	return "same", "", nil
}

// runCommand runs script for a command resource: over SSH for remote ones,
// with sh on this machine for local ones.
func (m *ExecMock) runCommand(args pulumi.MockResourceArgs, in resource.PropertyMap, script string, ev *Event) (string, string, error) {
	stdin, err := optString(in, "stdin")
	if err != nil {
		return "", "", err
	}
	env := map[string]string{}
	if e, ok := in["environment"]; ok && !e.IsNull() {
		obj := unsecret(e)
		if !obj.IsObject() {
			return "", "", fmt.Errorf("environment is %v, not an object", obj.TypeString())
		}
		for k, v := range obj.ObjectValue() {
			s, err := plainString(v, "environment."+string(k))
			if err != nil {
				return "", "", err
			}
			env[string(k)] = s
		}
	}
	if args.TypeToken == typeLocalCommand {
		ev.Host = "local"
		cmd := exec.Command("/bin/sh", "-c", script)
		if dir, _ := optString(in, "dir"); dir != "" {
			cmd.Dir = dir
		}
		cmd.Env = os.Environ()
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		out, errOut := strings.TrimSuffix(stdout.String(), "\n"), strings.TrimSuffix(stderr.String(), "\n")
		if err != nil {
			return out, errOut, fmt.Errorf("%w: running %q:\n%s%s", err, script, stdout.String(), stderr.String())
		}
		return out, errOut, nil
	}

	client, host, err := m.dial(in)
	if err != nil {
		return "", "", err
	}
	defer client.Close()
	ev.Host = host
	sess, err := client.NewSession()
	if err != nil {
		return "", "", err
	}
	defer sess.Close()
	// As the provider: Setenv per variable, ignoring refusals — sshd drops
	// what its AcceptEnv does not list, which is why secrets go on stdin.
	for k, v := range env {
		_ = sess.Setenv(k, v)
	}
	if stdin != "" {
		sess.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	err = sess.Run(script)
	out, errOut := strings.TrimSuffix(stdout.String(), "\n"), strings.TrimSuffix(stderr.String(), "\n")
	if err != nil {
		msg := fmt.Sprintf("%v: running %s on %s:\n%s", err, abbreviate(script), host, errOut)
		if out != "" {
			msg += "\nstdout (last lines):\n" + tailLines(out, 20)
		}
		return out, errOut, errors.New(msg)
	}
	return out, errOut, nil
}

// dial opens the SSH connection a resource's "connection" input describes,
// through its proxy when it has one, retrying as the provider does.
func (m *ExecMock) dial(in resource.PropertyMap) (*ssh.Client, string, error) {
	cv, ok := in["connection"]
	if !ok {
		return nil, "", errors.New("no connection input")
	}
	c := unsecret(cv)
	if !c.IsObject() {
		return nil, "", errors.New("connection is not an object")
	}
	conn := c.ObjectValue()
	host, err := reqString(conn, "host")
	if err != nil {
		return nil, "", fmt.Errorf("connection: %w", err)
	}
	target := m.machineAt(host)
	if target == nil {
		return nil, "", fmt.Errorf("refusing to connect to %s: not a machine of this test's fleet (%s)", host, machineNames(m.Fleet))
	}
	port := 22
	if p, ok := conn["port"]; ok && p.IsNumber() {
		port = int(p.NumberValue())
	}
	cfg, err := sshConfig(conn)
	if err != nil {
		return nil, "", err
	}
	limit := 10
	if l, ok := conn["dialErrorLimit"]; ok && l.IsNumber() {
		limit = int(l.NumberValue())
	}
	if limit < 0 {
		limit = 300
	}
	if t, ok := conn["perDialTimeout"]; ok && t.IsNumber() {
		cfg.Timeout = time.Duration(t.NumberValue()) * time.Second
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))

	var proxy *ssh.Client
	var client *ssh.Client
	for try := 1; ; try++ {
		client, err = func() (*ssh.Client, error) {
			pv, hasProxy := conn["proxy"]
			if !hasProxy || pv.IsNull() {
				return ssh.Dial("tcp", addr, cfg)
			}
			p := unsecret(pv).ObjectValue()
			phost, err := reqString(p, "host")
			if err != nil {
				return nil, fmt.Errorf("proxy: %w", err)
			}
			if m.machineAt(phost) == nil {
				return nil, fmt.Errorf("refusing to connect to proxy %s: not a machine of this test's fleet", phost)
			}
			pport := 22
			if pp, ok := p["port"]; ok && pp.IsNumber() {
				pport = int(pp.NumberValue())
			}
			pcfg, err := sshConfig(p)
			if err != nil {
				return nil, fmt.Errorf("proxy: %w", err)
			}
			proxy, err = ssh.Dial("tcp", net.JoinHostPort(phost, strconv.Itoa(pport)), pcfg)
			if err != nil {
				return nil, err
			}
			nc, err := proxy.Dial("tcp", addr)
			if err != nil {
				proxy.Close()
				return nil, err
			}
			cc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
			if err != nil {
				proxy.Close()
				return nil, err
			}
			return ssh.NewClient(cc, chans, reqs), nil
		}()
		if err == nil {
			return client, target.Name, nil
		}
		if try > limit {
			return nil, target.Name, fmt.Errorf("dialing %s (%d tries): %w", addr, try, err)
		}
		time.Sleep(min(time.Duration(try)*time.Second, 5*time.Second))
	}
}

func sshConfig(conn resource.PropertyMap) (*ssh.ClientConfig, error) {
	user, err := optString(conn, "user")
	if err != nil {
		return nil, err
	}
	if user == "" {
		user = "root"
	}
	cfg := &ssh.ClientConfig{User: user, Timeout: 15 * time.Second, HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	key, err := optString(conn, "privateKey")
	if err != nil {
		return nil, err
	}
	if key != "" {
		pass, _ := optString(conn, "privateKeyPassword")
		var signer ssh.Signer
		if pass != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(key), []byte(pass))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(key))
		}
		if err != nil {
			return nil, fmt.Errorf("connection.privateKey: %w", err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	pw, err := optString(conn, "password")
	if err != nil {
		return nil, err
	}
	if pw != "" {
		cfg.Auth = append(cfg.Auth, ssh.Password(pw), ssh.KeyboardInteractive(
			func(_, _ string, qs []string, _ []bool) ([]string, error) {
				a := make([]string, len(qs))
				for i := range a {
					a[i] = pw
				}
				return a, nil
			}))
	}
	if len(cfg.Auth) == 0 {
		return nil, errors.New("connection has neither privateKey nor password")
	}
	hk, err := optString(conn, "hostKey")
	if err != nil {
		return nil, err
	}
	if hk != "" {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(hk))
		if err != nil {
			return nil, fmt.Errorf("connection.hostKey: %w", err)
		}
		cfg.HostKeyCallback = ssh.FixedHostKey(pub)
	}
	return cfg, nil
}

// copyToRemote does what pulumi-command's CopyToRemote does: a file asset
// or text asset to remotePath (into it when it is a directory), a directory
// archive to remotePath/<dir> (or its contents with a trailing slash), a
// file archive as a file.
func (m *ExecMock) copyToRemote(in resource.PropertyMap, ev *Event) error {
	remotePath, err := reqString(in, "remotePath")
	if err != nil {
		return err
	}
	src := unsecret(in["source"])
	client, host, err := m.dial(in)
	if err != nil {
		return err
	}
	defer client.Close()
	ev.Host = host
	run := func(cmd string, stdin io.Reader) (string, error) {
		s, err := client.NewSession()
		if err != nil {
			return "", err
		}
		defer s.Close()
		var out, errb bytes.Buffer
		s.Stdin, s.Stdout, s.Stderr = stdin, &out, &errb
		if err := s.Run(cmd); err != nil {
			return out.String(), fmt.Errorf("%w: %s on %s: %s", err, abbreviate(cmd), host, strings.TrimSpace(errb.String()))
		}
		return out.String(), nil
	}
	kind, err := run("if [ -d "+q(remotePath)+" ]; then echo dir; elif [ -e "+q(remotePath)+" ]; then echo file; else echo none; fi", nil)
	if err != nil {
		return err
	}
	kind = strings.TrimSpace(kind)
	copyFile := func(local, dest string) error {
		f, err := os.Open(local)
		if err != nil {
			return err
		}
		defer f.Close()
		// sftp's Create: truncate or create with 0644 under the usual umask;
		// like it, this does not create missing directories.
		if _, err := run("cat >"+q(dest), f); err != nil {
			return fmt.Errorf("failed to create remote file %s (the provider's SFTP creates no missing directories): %w", dest, err)
		}
		return nil
	}
	switch {
	case src.IsAsset():
		a := src.AssetValue()
		switch {
		case a.IsText():
			if kind == "dir" {
				return fmt.Errorf("remote path %s is a directory; when using a text asset, remotePath must be a file path", remotePath)
			}
			_, err := run("cat >"+q(remotePath), strings.NewReader(a.Text))
			ev.Stdout = fmt.Sprintf("%d bytes of text to %s", len(a.Text), remotePath)
			return err
		case a.IsPath():
			dest := remotePath
			if kind == "dir" {
				dest = path.Join(remotePath, filepath.Base(a.Path))
			}
			ev.Stdout = fmt.Sprintf("%s to %s", a.Path, dest)
			return copyFile(a.Path, dest)
		}
		return errors.New("asset must be a path-based file asset or a text asset")
	case src.IsArchive():
		a := src.ArchiveValue()
		if !a.IsPath() {
			return errors.New("archive must be a path to a file or directory")
		}
		st, err := os.Stat(a.Path)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			dest := remotePath
			if kind == "dir" {
				dest = path.Join(remotePath, filepath.Base(a.Path))
			}
			ev.Stdout = fmt.Sprintf("%s to %s", a.Path, dest)
			return copyFile(a.Path, dest)
		}
		if kind == "file" {
			return fmt.Errorf("remote path %s exists but is not a directory", remotePath)
		}
		dest := remotePath
		if !strings.HasSuffix(a.Path, "/") {
			dest = path.Join(remotePath, filepath.Base(a.Path))
		}
		var buf bytes.Buffer
		if err := tarDir(&buf, a.Path); err != nil {
			return err
		}
		ev.Stdout = fmt.Sprintf("directory %s to %s", a.Path, dest)
		_, err = run("mkdir -p "+q(dest)+" && tar -x --no-same-owner -C "+q(dest), &buf)
		return err
	}
	return fmt.Errorf("source is %s, neither an asset nor an archive", src.TypeString())
}

func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func (m *ExecMock) machineAt(host string) *machines.Machine {
	for _, mach := range m.Fleet.Machines {
		if mach.Addr == host || mach.Name == host {
			return mach
		}
	}
	return nil
}

// machineNamedIn finds the machine whose name ends one of names ("…-nats-1"),
// the longest match winning.
func machineNamedIn(f *machines.Fleet, names ...string) *machines.Machine {
	var best *machines.Machine
	for _, mach := range f.Machines {
		for _, n := range names {
			if n == mach.Name || strings.HasSuffix(n, "-"+mach.Name) || strings.Contains(n, "-"+mach.Name+"-") {
				if best == nil || len(mach.Name) > len(best.Name) {
					best = mach
				}
			}
		}
	}
	return best
}

func machineNames(f *machines.Fleet) string {
	var n []string
	for _, m := range f.Machines {
		n = append(n, m.Name+"="+m.Addr)
	}
	return strings.Join(n, " ")
}

// unsecret strips secret wrappers.
func unsecret(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

func plainString(v resource.PropertyValue, key string) (string, error) {
	v = unsecret(v)
	switch {
	case v.IsNull():
		return "", nil
	case v.IsString():
		return v.StringValue(), nil
	case v.IsComputed() || v.IsOutput():
		return "", fmt.Errorf("input %s is unknown: the mock resolved a resource output it depends on to nothing", key)
	}
	return "", fmt.Errorf("input %s is %s, not a string", key, v.TypeString())
}

func optString(m resource.PropertyMap, key string) (string, error) {
	v, ok := m[resource.PropertyKey(key)]
	if !ok {
		return "", nil
	}
	return plainString(v, key)
}

func reqString(m resource.PropertyMap, key string) (string, error) {
	s, err := optString(m, key)
	if err == nil && s == "" {
		err = fmt.Errorf("input %s is missing", key)
	}
	return s, err
}

func fakeHex(name string, n int) string {
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:])[:n]
}

func fakeID(typ, name string) string {
	t := typ
	if i := strings.LastIndex(t, ":"); i >= 0 {
		t = t[i+1:]
	}
	return strings.ToLower(t) + "-e2e-" + fakeHex(typ+"::"+name, 12)
}

func shortType(t string) string {
	switch t {
	case typeRemoteCommand:
		return "remote.Command"
	case typeCopyToRemote:
		return "remote.CopyToRemote"
	case typeLocalCommand:
		return "local.Command"
	}
	return t
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// abbreviate shortens a script for messages: its first line and its length.
func abbreviate(s string) string {
	first, _, more := strings.Cut(s, "\n")
	if len(first) > 100 {
		first, more = first[:100], true
	}
	if more {
		return fmt.Sprintf("%q… (%d bytes)", first, len(s))
	}
	return fmt.Sprintf("%q", first)
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append(lines[:n], fmt.Sprintf("… (%d more lines)", len(lines)-n))
	}
	return strings.Join(lines, "\n")
}
