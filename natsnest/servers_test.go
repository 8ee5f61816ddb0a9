package natsnest_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natsnest/pulumi-natsnest/internal/natsbin"
	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/natsserver"
	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"golang.org/x/crypto/ssh"
)

func init() {
	// bcrypt at its minimum cost: the hashes are as valid, the tests faster.
	(*natsnest.BcryptCost) = 4
}

// svMocks is natsnesttest's Mocks (see clusterMocks), with the view of
// registrations the Servers tests use.
type svMocks struct{ natsnesttest.Mocks }

// svReg is one registration, with what the register RPC says about it.
type svReg struct {
	Type, Name string
	Inputs     resource.PropertyMap
	Parent     string   // the parent's name
	Deps       []string // names of the resources it depends on
}

// urnName is the name at the end of a URN.
func urnName(urn string) string { return natsnesttest.NameOf(urn) }

func (m *svMocks) byName() map[string]svReg {
	out := map[string]svReg{}
	for _, r := range m.Resources("") {
		reg := svReg{Type: r.Type, Name: r.Name, Inputs: r.Inputs, Parent: urnName(r.Parent)}
		for _, d := range r.Dependencies {
			reg.Deps = append(reg.Deps, urnName(d))
		}
		sort.Strings(reg.Deps)
		out[r.Name] = reg
	}
	return out
}

const (
	svAdminPassword = "Admin-Password-0123456789"
	svAppPassword   = "app-password-0123"
	svStackSecret   = "stack-secret-0123456789abcdef"
	svSSHPassword   = "ssh-Password-42"
)

// svSSHKey is a real private key (known keys are parsed before anything is
// registered); svSSHKeyMaterial is a line of its PEM body.
var svSSHKey, svSSHKeyMaterial = func() (string, string) {
	block, err := ssh.MarshalPrivateKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)), "")
	if err != nil {
		panic(err)
	}
	pemText := string(pem.EncodeToMemory(block))
	return pemText, strings.Split(pemText, "\n")[1]
}()

// svHostKey is a host's public key in authorized_keys form.
func svHostKey(t *testing.T) string {
	t.Helper()
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// svSecrets are the plaintexts that must never appear outside a secret.
var svSecrets = []string{svAdminPassword, svAppPassword, svStackSecret, svSSHKeyMaterial, svSSHPassword, natsnest.RoutePassword(svStackSecret)}

// svBinary writes a fake nats-server to upload.
func svBinary(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nats-server")
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// svArgs are valid arguments for n hosts, uploading a fake binary.
func svArgs(t *testing.T, n int) *natsnest.ServersArgs {
	t.Helper()
	hosts := make([]natsnest.Host, n)
	for i := range hosts {
		hosts[i] = natsnest.Host{
			Name:           fmt.Sprintf("n%d", i+1),
			Connect:        pulumi.String(fmt.Sprintf("203.0.113.%d", i+1)),
			PrivateAddress: pulumi.String(fmt.Sprintf("10.0.0.%d", i+1)),
			DataDiskSerial: pulumi.String(fmt.Sprintf("d-bp1disk%011d", i+1)),
		}
	}
	return &natsnest.ServersArgs{
		ServerOptions: natsnest.ServerOptions{
			AdminPassword: pulumi.String(svAdminPassword),
			StackSecret:   pulumi.String(svStackSecret),
			Accounts:      []natsnest.Account{{Users: []natsnest.User{{Name: "app", Password: pulumi.String(svAppPassword)}}}},
			MaxFileStore:  10 << 30,
		},
		Hosts:  hosts,
		SSH:    natsnest.SSH{PrivateKey: pulumi.String(svSSHKey)},
		Binary: natsnest.Binary{LocalPath: svBinary(t, "#!/bin/sh\necho 'nats-server: v2.15.2'\n")},
	}
}

// svResult is what one run of a program with Servers left behind.
type svResult struct {
	mocks   *svMocks
	regs    map[string]svReg
	outputs map[string]awaited
}

// svDeploy runs NewServers(ctx, "nats", args) under mocks, after a stand-in
// for the SSH security group rule that every host depends on, and resolves
// the component's outputs.
func svDeploy(t *testing.T, args *natsnest.ServersArgs) (*svResult, error) {
	t.Helper()
	return svDeployOn(t, args, &svMocks{}, nil)
}

// svDeployOn is svDeploy with the monitor wrap(m) in place of m, when wrap
// is not nil.
func svDeployOn(t *testing.T, args *natsnest.ServersArgs, m *svMocks, wrap func(pulumi.MockResourceMonitor) pulumi.MockResourceMonitor) (*svResult, error) {
	t.Helper()
	res := &svResult{mocks: m, outputs: map[string]awaited{}}
	var monitor pulumi.MockResourceMonitor = m
	if wrap != nil {
		monitor = wrap(m)
	}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var rule pulumi.CustomResourceState
		if err := ctx.RegisterResource("test:index:SSHRule", "ssh-rule", nil, &rule); err != nil {
			return err
		}
		a := *args
		a.Hosts = append([]natsnest.Host(nil), args.Hosts...)
		for i := range a.Hosts {
			a.Hosts[i].DependsOn = append(a.Hosts[i].DependsOn, &rule)
		}
		s, err := natsnest.NewServers(ctx, "nats", &a)
		if err != nil {
			return err
		}
		for key, o := range map[string]pulumi.Output{
			"privateEndpoint": s.PrivateEndpoint, "publicEndpoint": s.PublicEndpoint, "monitoringUrls": s.MonitoringURLs,
			"clusterName": s.ClusterName, "natsContext": s.NatsContext, "nodeNames": s.NodeNames,
			"privateIps": s.PrivateIPs, "publicIps": s.PublicIPs,
		} {
			res.outputs[key] = await(t, o)
		}
		return nil
	}, pulumi.WithMocks("natsnest", "test", monitor))
	res.regs = m.byName()
	return res, err
}

func svMustDeploy(t *testing.T, args *natsnest.ServersArgs) *svResult {
	t.Helper()
	r, err := svDeploy(t, args)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// plain returns a property's value with secrets unwrapped.
func unsecret(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

func (r *svResult) input(t *testing.T, name, key string) resource.PropertyValue {
	t.Helper()
	reg, ok := r.regs[name]
	if !ok {
		t.Fatalf("no resource %q; have %v", name, r.names())
	}
	return reg.Inputs[resource.PropertyKey(key)]
}

func (r *svResult) str(t *testing.T, name, key string) string {
	t.Helper()
	v := unsecret(r.input(t, name, key))
	if !v.IsString() {
		t.Fatalf("%s.%s is %v, not a string", name, key, v)
	}
	return v.StringValue()
}

func (r *svResult) names() []string {
	var out []string
	for n := range r.regs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var svSteps = []string{"base", "disk", "upload", "binary", "config", "start", "service"}

func TestServersResourcesPerHostAndTheirOrder(t *testing.T) {
	r := svMustDeploy(t, svArgs(t, 3))
	comp, ok := r.regs["nats"]
	if !ok || comp.Type != natsnest.ServersType {
		t.Fatalf("component: %+v", comp)
	}
	// Each host's steps and its leave command (see dayops_test.go).
	if want := 2 + 3*(len(svSteps)+1); len(r.regs) != want {
		t.Errorf("%d resources, want %d: %v", len(r.regs), want, r.names())
	}
	for i := 1; i <= 3; i++ {
		step := func(s string) string { return fmt.Sprintf("nats-n%d-%s", i, s) }
		for _, s := range svSteps {
			reg, ok := r.regs[step(s)]
			if !ok {
				t.Fatalf("missing %s", step(s))
			}
			want := "command:remote:Command"
			if s == "upload" {
				want = "command:remote:CopyToRemote"
			}
			if reg.Type != want || reg.Parent != "nats" {
				t.Errorf("%s: type %s, parent %s", step(s), reg.Type, reg.Parent)
			}
		}
		wantDeps := map[string][]string{
			"base":    {"ssh-rule"},
			"disk":    {step("base")},
			"upload":  {step("base")},
			"binary":  {step("base"), step("upload")},
			"config":  {step("base"), step("binary")},
			"start":   {step("binary"), step("config"), step("disk")},
			"service": {step("start"), step("binary"), step("config"), step("disk")},
		}
		if i > 1 {
			// Rolling: one node's service after the other's.
			wantDeps["service"] = append(wantDeps["service"], fmt.Sprintf("nats-n%d-service", i-1))
		}
		for s, deps := range wantDeps {
			got := r.regs[step(s)].Deps
			for _, d := range deps {
				if !contains(got, d) {
					t.Errorf("%s depends on %v, not on %s", step(s), got, d)
				}
			}
		}
		// The chained service step runs nothing when it is created: a
		// first deployment's chain costs no SSH session. Its script is
		// the update, which rolls a change.
		if v := unsecret(r.input(t, step("service"), "create")); !v.IsNull() {
			t.Errorf("%s runs %v when created", step("service"), v)
		}
		if !strings.Contains(r.str(t, step("service"), "update"), "natsnest service step") {
			t.Errorf("%s: the update is not the service script", step("service"))
		}
		// Nothing but the rolling chain ties hosts together: every
		// node's first start runs at once.
		for _, s := range []string{"base", "disk", "upload", "binary", "config", "start"} {
			for _, d := range r.regs[step(s)].Deps {
				if strings.HasPrefix(d, "nats-n") && !strings.HasPrefix(d, fmt.Sprintf("nats-n%d-", i)) {
					t.Errorf("%s waits for another host's %s: hosts are provisioned in parallel", step(s), d)
				}
			}
		}
	}
	// The scripts the steps run are the rendered ones, handed to bash.
	if got := r.str(t, "nats-n1-base", "create"); !strings.HasPrefix(got, "bash -c '#!/bin/bash") || !strings.Contains(got, "natsnest base step") {
		t.Errorf("base create: %.200s", got)
	}
	if got := r.str(t, "nats-n2-disk", "create"); !strings.Contains(got, "DATA_SERIAL='\\''d-bp1disk00000000002'\\''") {
		t.Errorf("disk step of n2 does not look for its disk's serial: %.2000s", got)
	}
	if got := r.str(t, "nats-n1-upload", "remotePath"); got != "/var/lib/natsnest-upload/nats-server-"+svSHA(t, r) {
		t.Errorf("upload to %s", got)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// svSHA is the checksum the binary step checks, read back from its script.
func svSHA(t *testing.T, r *svResult) string {
	t.Helper()
	s := r.str(t, "nats-n1-binary", "create")
	i := strings.Index(s, "SHA256='\\''")
	if i < 0 {
		t.Fatal("no SHA256 in the binary step")
	}
	return s[i+11 : i+11+64]
}

// payload decodes a host's config step's stdin.
func (r *svResult) payload(t *testing.T, host string) provision.NodeFiles {
	t.Helper()
	f, err := provision.DecodePayload(r.str(t, "nats-"+host+"-config", "stdin"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestServersRenderedFiles(t *testing.T) {
	args := svArgs(t, 3)
	args.Hosts[1].Zone = "cn-hangzhou-i"
	r := svMustDeploy(t, args)
	for i := 1; i <= 3; i++ {
		f := r.payload(t, fmt.Sprintf("n%d", i))
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, natsconf.ConfigFile), []byte(f.Config), 0o600)
		os.WriteFile(filepath.Join(dir, natsconf.RoutesFile), []byte(f.Routes), 0o600)
		o, err := natsserver.Load(filepath.Join(dir, natsconf.ConfigFile))
		if err != nil {
			t.Fatalf("n%d: nats-server rejects the config: %v\n%s", i, err, f.Config)
		}
		if o.ServerName != fmt.Sprintf("n%d", i) || o.StoreDir != natsnest.StoreDir || o.JetStreamMaxStore != 10<<30 || o.Cluster.Port != 4248 {
			t.Errorf("n%d: server_name %q, store %q, max_file_store %d, cluster port %d", i, o.ServerName, o.StoreDir, o.JetStreamMaxStore, o.Cluster.Port)
		}
		// Monitoring, which has no authentication, only on the private address.
		if want := fmt.Sprintf("10.0.0.%d", i); o.HTTPHost != want || o.HTTPPort != 8222 || o.Host != "0.0.0.0" {
			t.Errorf("n%d: monitoring on %s:%d (clients on %s), want %s:8222", i, o.HTTPHost, o.HTTPPort, o.Host, want)
		}
		var routes []string
		for _, u := range o.Routes {
			routes = append(routes, u.Host)
		}
		if strings.Join(routes, ",") != "10.0.0.1:4248,10.0.0.2:4248,10.0.0.3:4248" {
			t.Errorf("n%d: routes %v: want every node's private address", i, routes)
		}
		wantTags := ""
		if i == 2 {
			wantTags = "az:cn-hangzhou-i"
		}
		if strings.Join(o.Tags, ",") != wantTags {
			t.Errorf("n%d: server_tags %v, want %q", i, o.Tags, wantTags)
		}
		if !strings.Contains(f.Unit, "RequiresMountsFor=/data") || !strings.Contains(f.Unit, "TimeoutStopSec=90") {
			t.Errorf("n%d: unit:\n%s", i, f.Unit)
		}
		if !strings.Contains(f.RestartSettings, fmt.Sprintf("server_name=%q", fmt.Sprintf("n%d", i))) {
			t.Errorf("n%d: restart settings:\n%s", i, f.RestartSettings)
		}
	}
	if provision.DefaultLayout().StoreDir != natsnest.StoreDir {
		t.Errorf("the nodes' layout keeps the store in %s, nats.conf says %s", provision.DefaultLayout().StoreDir, natsnest.StoreDir)
	}
}

func TestServersSingleNode(t *testing.T) {
	args := svArgs(t, 1)
	args.Hosts[0].DataDiskSerial = nil
	args.Hosts[0].NoDataDisk = true
	r := svMustDeploy(t, args)
	f := r.payload(t, "n1")
	if f.Routes != "" || strings.Contains(f.Config, "cluster") {
		t.Errorf("a single node has a cluster block or routes:\n%s", f.Config)
	}
	if strings.Contains(f.Unit, "RequiresMountsFor") {
		t.Error("NoDataDisk: the unit still requires the mount")
	}
	if got := r.str(t, "nats-n1-disk", "create"); !strings.Contains(got, "NO_DATA_DISK='\\''1'\\''") {
		t.Error("NoDataDisk is not passed to the disk step")
	}
	if got := r.outputs["privateEndpoint"].Value; got != "nats://10.0.0.1:4222" {
		t.Errorf("privateEndpoint %v", got)
	}
	if _, ok := r.regs["nats-n1-service"]; !ok {
		t.Fatal("no service step")
	}
}

func TestServersOutputs(t *testing.T) {
	args := svArgs(t, 3)
	args.ClientPort = 4333
	r := svMustDeploy(t, args)
	want := map[string]any{
		"privateEndpoint": "nats://10.0.0.1:4333,nats://10.0.0.2:4333,nats://10.0.0.3:4333",
		"publicEndpoint":  "",
		"monitoringUrls":  []any{"http://10.0.0.1:8222", "http://10.0.0.2:8222", "http://10.0.0.3:8222"},
		"clusterName":     "C1",
		"nodeNames":       []any{"n1", "n2", "n3"},
		"privateIps":      []any{"10.0.0.1", "10.0.0.2", "10.0.0.3"},
		"publicIps":       []any{"", "", ""},
	}
	for k, w := range want {
		got := r.outputs[k]
		if fmt.Sprint(got.Value) != fmt.Sprint(w) {
			t.Errorf("%s = %#v, want %#v", k, got.Value, w)
		}
		if got.Secret {
			t.Errorf("%s is secret", k)
		}
	}
	ctxOut := r.outputs["natsContext"]
	if !ctxOut.Secret {
		t.Error("natsContext is not secret")
	}
	var nc map[string]string
	if err := json.Unmarshal([]byte(ctxOut.Value.(string)), &nc); err != nil {
		t.Fatal(err)
	}
	if nc["url"] != want["privateEndpoint"] || nc["user"] != "app" || nc["password"] != svAppPassword || !strings.Contains(nc["description"], "C1") {
		t.Errorf("natsContext %v", nc)
	}

	// With public addresses.
	args = svArgs(t, 3)
	for i := range args.Hosts {
		args.Hosts[i].PublicAddress = pulumi.String(fmt.Sprintf("47.0.0.%d", i+1))
	}
	r = svMustDeploy(t, args)
	if got := r.outputs["publicEndpoint"].Value; got != "nats://47.0.0.1:4222,nats://47.0.0.2:4222,nats://47.0.0.3:4222" {
		t.Errorf("publicEndpoint %v", got)
	}
	if got := r.outputs["privateEndpoint"].Value; got != "nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222" {
		t.Errorf("privateEndpoint %v", got)
	}
	if got := fmt.Sprint(r.outputs["publicIps"].Value); got != "[47.0.0.1 47.0.0.2 47.0.0.3]" {
		t.Errorf("publicIps %v", got)
	}
	json.Unmarshal([]byte(r.outputs["natsContext"].Value.(string)), &nc)
	if nc["url"] != r.outputs["publicEndpoint"].Value {
		t.Errorf("natsContext url %q: clients outside the VPC need the public endpoint", nc["url"])
	}

	// IPv6 addresses are bracketed.
	args = svArgs(t, 1)
	args.Hosts[0].PrivateAddress = pulumi.String("fd00::1")
	r = svMustDeploy(t, args)
	if got := r.outputs["privateEndpoint"].Value; got != "nats://[fd00::1]:4222" {
		t.Errorf("IPv6 privateEndpoint %v", got)
	}
}

// walkPlainStrings calls f for every string outside a secret.
func walkPlainStrings(v resource.PropertyValue, path string, f func(path, s string)) {
	switch {
	case v.IsSecret():
		return
	case v.IsString():
		f(path, v.StringValue())
		// The config step's payload is base64: look inside it too.
		if p, err := provision.DecodePayload(v.StringValue()); err == nil {
			f(path+"(decoded)", p.Config+p.Routes+p.Unit+p.RestartSettings+p.TLSCert+p.TLSKey+p.TLSCA)
		}
	case v.IsArray():
		for i, e := range v.ArrayValue() {
			walkPlainStrings(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	case v.IsObject():
		for k, e := range v.ObjectValue() {
			walkPlainStrings(e, path+"."+string(k), f)
		}
	}
}

func TestServersSecrets(t *testing.T) {
	args := svArgs(t, 3)
	args.SSH.Bastion = &natsnest.Bastion{Host: pulumi.String("198.51.100.7"), Password: pulumi.String(svSSHPassword)}
	// The TLS private key is a secret too.
	pki := newPEMPKI(t)
	args.TLS = pki.tls()
	args.AllowAnonymous = true
	secrets := append(append([]string{}, svSecrets...), keyMaterial(pki.Key))
	r := svMustDeploy(t, args)
	// No password, key or derived secret appears anywhere outside a secret.
	for _, reg := range r.regs {
		walkPlainStrings(resource.NewObjectProperty(reg.Inputs), reg.Name, func(path, s string) {
			for _, secret := range secrets {
				if strings.Contains(s, secret) {
					t.Errorf("%s holds %q in plaintext", path, secret)
				}
			}
		})
	}
	for i := 1; i <= 3; i++ {
		host := fmt.Sprintf("nats-n%d-", i)
		if v := r.input(t, host+"config", "stdin"); !v.IsSecret() {
			t.Errorf("%sconfig: stdin (nats.conf and routes.conf) is not secret", host)
		}
		f := r.payload(t, fmt.Sprintf("n%d", i))
		if !strings.Contains(f.Routes, natsnest.RoutePassword(svStackSecret)) {
			t.Errorf("the secret payload lacks the route password the node dials with")
		}
		if f.TLSKey != pki.Key {
			t.Errorf("the secret payload lacks the TLS key")
		}
		for _, s := range svSteps {
			if v := r.input(t, host+s, "connection"); !v.IsSecret() {
				t.Errorf("%s%s: connection is not secret", host, s)
			}
			conn := unsecret(r.input(t, host+s, "connection")).ObjectValue()
			if k := conn["privateKey"]; !strings.Contains(unsecret(k).StringValue(), svSSHKeyMaterial) {
				t.Errorf("%s%s: connection has no private key", host, s)
			}
			proxy := unsecret(conn["proxy"]).ObjectValue()
			if unsecret(proxy["host"]).StringValue() != "198.51.100.7" || unsecret(proxy["password"]).StringValue() != svSSHPassword {
				t.Errorf("%s%s: bastion %v", host, s, proxy)
			}
		}
		// The service step's script names a digest of the rendered files,
		// so it is secret too.
		if u := r.input(t, host+"service", "update"); !u.IsSecret() || !strings.Contains(unsecret(u).StringValue(), "# applies: config sha256:") {
			t.Errorf("%sservice: the update naming the config digest is not secret (or names none)", host)
		}
		// The command lines carry no secret: those travel on stdin.
		if s := r.str(t, host+"config", "create"); strings.Contains(s, "routes: [") || strings.Contains(s, "$2a$") {
			t.Errorf("%sconfig: the command line carries config content", host)
		}
	}
}

// svInputs is every resource's inputs, secrets unwrapped, as comparable JSON.
func svInputs(t *testing.T, r *svResult) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, reg := range r.regs {
		b, err := json.Marshal(reg.Inputs.MapRepl(nil, func(v resource.PropertyValue) (any, bool) {
			if v.IsSecret() {
				return map[string]any{"secret": unsecret(v).MapRepl(nil, nil)}, true
			}
			if v.IsAsset() {
				return map[string]any{"asset": v.AssetValue().Hash, "path": v.AssetValue().Path}, true
			}
			return nil, false
		}))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(b) + " deps=" + strings.Join(reg.Deps, ",")
	}
	return out
}

func TestServersSecondRunIsIdentical(t *testing.T) {
	args := svArgs(t, 3)
	a, b := svInputs(t, svMustDeploy(t, args)), svInputs(t, svMustDeploy(t, args))
	if !reflect.DeepEqual(a, b) {
		for k := range a {
			if a[k] != b[k] {
				t.Errorf("%s differs between two runs:\n%s\n%s", k, a[k], b[k])
			}
		}
		t.Fatal("a second run with the same args differs")
	}
}

// changedSteps runs args and a variant, and lists the resources whose
// inputs differ.
func changedSteps(t *testing.T, base *natsnest.ServersArgs, edit func(*natsnest.ServersArgs)) []string {
	t.Helper()
	before := svInputs(t, svMustDeploy(t, base))
	changed := *base
	changed.Hosts = append([]natsnest.Host(nil), base.Hosts...)
	changed.Accounts = append([]natsnest.Account(nil), base.Accounts...)
	edit(&changed)
	after := svInputs(t, svMustDeploy(t, &changed))
	var diff []string
	for k := range after {
		if before[k] != after[k] {
			diff = append(diff, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			diff = append(diff, k+"(gone)")
		}
	}
	sort.Strings(diff)
	return diff
}

func hostSteps(steps ...string) func(hosts ...int) []string {
	return func(hosts ...int) []string {
		var out []string
		for _, h := range hosts {
			for _, s := range steps {
				out = append(out, fmt.Sprintf("nats-n%d-%s", h, s))
			}
		}
		sort.Strings(out)
		return out
	}
}

// A change re-runs only the steps it affects: the others' inputs stay equal.
func TestServersChangeReRunsOnlyAffectedSteps(t *testing.T) {
	base := svArgs(t, 3)
	configAndService := hostSteps("config", "service")
	// The leave commands run nothing until they are deleted; their inputs
	// (the peers' addresses, the admin's password on stdin, the connection)
	// change with what they hold, which only updates their state.
	leave := hostSteps("leave")
	with := func(a, b []string) []string {
		out := append(append([]string{}, a...), b...)
		sort.Strings(out)
		return out
	}
	for _, c := range []struct {
		name string
		edit func(*natsnest.ServersArgs)
		want []string
	}{
		{"admin password", func(a *natsnest.ServersArgs) { a.AdminPassword = pulumi.String("Another-Admin-Password-42") }, with(configAndService(1, 2, 3), leave(1, 2, 3))},
		{"application user", func(a *natsnest.ServersArgs) {
			a.Accounts = []natsnest.Account{{Users: []natsnest.User{{Name: "app", Password: pulumi.String(svAppPassword)}, {Name: "app2", Password: pulumi.String("app2-password-12")}}}}
		}, configAndService(1, 2, 3)},
		{"durability", func(a *natsnest.ServersArgs) { a.Durability = natsnest.DurabilityAlways }, configAndService(1, 2, 3)},
		{"lame duck (unit)", func(a *natsnest.ServersArgs) { a.LameDuckDuration = time.Minute }, configAndService(1, 2, 3)},
		{"zone of one host", func(a *natsnest.ServersArgs) { a.Hosts[1].Zone = "cn-hangzhou-j" }, configAndService(2)},
		{"one host's private address (routes)", func(a *natsnest.ServersArgs) { a.Hosts[2].PrivateAddress = pulumi.String("10.0.1.3") }, with(configAndService(1, 2, 3), leave(1, 2, 3))},
		{"one host's disk", func(a *natsnest.ServersArgs) { a.Hosts[0].DataDiskSerial = pulumi.String("d-bp1other000000000") }, hostSteps("disk")(1)},
		{"one host's disk size", func(a *natsnest.ServersArgs) { a.Hosts[0].DataDiskSize = pulumi.Int(80) }, hostSteps("disk")(1)},
		{"binary", func(a *natsnest.ServersArgs) {
			a.Binary.LocalPath = svBinary(t, "#!/bin/sh\necho 'nats-server: v2.15.2' # rebuilt\n")
		},
			hostSteps("upload", "binary", "service")(1, 2, 3)},
		// A host given an InstanceID: its steps run again from scratch, and
		// its leave step now drains it (triggered by the instance).
		{"one host replaced", func(a *natsnest.ServersArgs) { a.Hosts[1].InstanceID = pulumi.String("i-new") }, with(hostSteps(svSteps...)(2), leave(2))},
		// Every leave step knows every host's SSH address: it tries the
		// others when its own host does not answer.
		{"one host's SSH address", func(a *natsnest.ServersArgs) { a.Hosts[1].Connect = pulumi.String("203.0.113.99") }, with(hostSteps(svSteps...)(2), leave(1, 2, 3))},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := changedSteps(t, base, c.edit); !reflect.DeepEqual(got, c.want) {
				t.Errorf("changed %v\nwant    %v", got, c.want)
			}
		})
	}
}

func TestServersDownloadAndLazyBuild(t *testing.T) {
	var mu sync.Mutex
	var builds []string
	orig := (*natsnest.BuildNATSServer)
	t.Cleanup(func() { (*natsnest.BuildNATSServer) = orig })
	built := svBinary(t, "built nats-server")
	(*natsnest.BuildNATSServer) = func(_ context.Context, goos, goarch string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		builds = append(builds, goos+"/"+goarch)
		return built, nil
	}

	// A URL: nothing is built or uploaded; nodes download and verify.
	args := svArgs(t, 3)
	const sum = "5c1e1f3b0d6e2f6c8c1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70"
	const presigned = "https://mirror.example.com/nats-server-v2.15.2-linux-arm64.tar.gz?Signature=s3cr3t-signature"
	args.Binary = natsnest.Binary{URL: pulumi.String(presigned), SHA256: strings.ToUpper(sum), Arch: "arm64"}
	r := svMustDeploy(t, args)
	if len(builds) != 0 {
		t.Errorf("built %v for a download", builds)
	}
	if _, ok := r.regs["nats-n1-upload"]; ok {
		t.Error("uploaded although nodes download")
	}
	script := r.str(t, "nats-n1-binary", "create")
	for _, want := range []string{"URL_SHOWN='\\''https://mirror.example.com/nats-server-v2.15.2-linux-arm64.tar.gz?<redacted>'\\''", "SHA256='\\''" + sum + "'\\''", "ARCH='\\''arm64'\\''", "ARCHIVE='\\''1'\\''"} {
		if !strings.Contains(script, want) {
			t.Errorf("binary step lacks %s", want)
		}
	}
	// The presigned URL is a secret on the step's stdin, and nowhere else.
	if in := r.input(t, "nats-n1-binary", "stdin"); !in.IsSecret() || r.str(t, "nats-n1-binary", "stdin") != provision.BinaryPayload(presigned) {
		t.Errorf("binary step's stdin: %v", in)
	}
	for name, reg := range r.regs {
		for k, v := range reg.Inputs {
			if !v.ContainsSecrets() && strings.Contains(fmt.Sprint(v), "s3cr3t") {
				t.Errorf("%s.%s holds the URL's signature outside a secret", name, k)
			}
		}
	}
	if deps := r.regs["nats-n1-binary"].Deps; !reflect.DeepEqual(deps, []string{"nats-n1-base"}) {
		t.Errorf("binary step depends on %v", deps)
	}

	// No LocalPath and no URL, under mocks: nothing is built (the engine
	// alone uploads); the upload names the cached build and the committed
	// checksum of the reproducible build, as a real up will.
	args = svArgs(t, 3)
	args.Binary = natsnest.Binary{Arch: "arm64"}
	r = svMustDeploy(t, args)
	if len(builds) != 0 {
		t.Errorf("built %v under mocks", builds)
	}
	wantSum, _ := natsbin.SHA256("linux", "arm64")
	if got := r.str(t, "nats-n3-upload", "remotePath"); !strings.Contains(got, wantSum) {
		t.Errorf("upload to %s, want the committed checksum %s in it", got, wantSum)
	}

	// With the engine: the pinned release is built, once per deployment,
	// for the nodes' architecture.
	origMocks := (*natsnest.UnderMocks)
	t.Cleanup(func() { (*natsnest.UnderMocks) = origMocks })
	(*natsnest.UnderMocks) = func(*pulumi.Context) bool { return false }
	r = svMustDeploy(t, args)
	if !reflect.DeepEqual(builds, []string{"linux/arm64"}) {
		t.Errorf("builds %v, want one for linux/arm64", builds)
	}
	if _, ok := r.regs["nats-n3-upload"]; !ok {
		t.Error("the built binary is not uploaded")
	}

	// A build failure fails before anything is registered.
	(*natsnest.BuildNATSServer) = func(context.Context, string, string) (string, error) { return "", errors.New("no Go toolchain") }
	r, err := svDeploy(t, svArgsNoBinary(t))
	if err == nil || !strings.Contains(err.Error(), "no Go toolchain") || len(r.regs) != 1 {
		t.Errorf("build failure: %v, %d resources", err, len(r.regs))
	}
}

func svArgsNoBinary(t *testing.T) *natsnest.ServersArgs {
	a := svArgs(t, 1)
	a.Binary = natsnest.Binary{}
	return a
}

func TestServersSudoForOtherUsers(t *testing.T) {
	args := svArgs(t, 1)
	args.SSH.User = "ecs-user"
	args.SSH.Port = 2222
	hostKey := svHostKey(t)
	args.Hosts[0].HostKey = pulumi.String(hostKey)
	r := svMustDeploy(t, args)
	for _, s := range []string{"base", "disk", "binary", "config", "start", "service"} {
		field := "create"
		if s == "service" {
			field = "update"
		}
		if got := r.str(t, "nats-n1-"+s, field); !strings.HasPrefix(got, "sudo -n bash -c ") {
			t.Errorf("%s: %.40s", s, got)
		}
	}
	conn := unsecret(r.input(t, "nats-n1-base", "connection")).ObjectValue()
	if unsecret(conn["user"]).StringValue() != "ecs-user" || unsecret(conn["port"]).NumberValue() != 2222 || unsecret(conn["dialErrorLimit"]).NumberValue() != natsnest.DefaultDialErrorLimit {
		t.Errorf("connection %v", conn)
	}
	if got := unsecret(conn["hostKey"]); !got.IsString() || got.StringValue() != hostKey {
		t.Errorf("host key not pinned: %v", got)
	}
	root := svMustDeploy(t, svArgs(t, 1))
	if got := root.str(t, "nats-n1-base", "create"); !strings.HasPrefix(got, "bash -c ") {
		t.Errorf("root: %.40s", got)
	}
}

func TestServersValidationReportsEverythingAndRegistersNothing(t *testing.T) {
	args := svArgs(t, 3)
	args.Hosts = append(args.Hosts, natsnest.Host{Name: "n1", Connect: pulumi.String("x")}) // 4 hosts, a duplicate, no private address
	args.Hosts[1].Name = "bad name"
	args.Hosts[2].PublicAddress = pulumi.String("47.0.0.3") // only one with a public address
	args.Hosts[0].DataDevice = "/dev/vdb"                   // and a serial
	args.AdminPassword = pulumi.String("short")
	args.MaxFileStore = 0
	args.SSH = natsnest.SSH{User: "Root!"}
	args.Binary = natsnest.Binary{URL: pulumi.String("ftp://example.com/nats.zip"), Arch: "riscv64", LocalPath: "/tmp/x"}
	args.Durability = "sometimes"
	r, err := svDeploy(t, args)
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, natsnest.ErrInvalidArgs) {
		t.Errorf("error does not wrap ErrInvalidArgs: %v", err)
	}
	for _, field := range []string{
		"Hosts: 4 hosts", "Hosts[3].Name: server name \"n1\" is used twice", "Hosts[1].Name:", "Hosts[3].PrivateAddress: is required",
		"Hosts: 1 of 4 hosts have a PublicAddress", "Hosts[0].DataDevice: set DataDiskSerial or DataDevice, not both",
		"AdminPassword:", "MaxFileStore:", "SSH.User:", "SSH: PrivateKey or Password is required",
		"Binary.URL:", "Binary.SHA256: is required", "Binary.LocalPath: set LocalPath", "Binary.Arch:", "Durability:",
	} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not report %q:\n%v", field, err)
		}
	}
	if len(r.regs) != 1 { // the test's own stand-in rule only
		t.Errorf("registered %v despite invalid arguments", r.names())
	}
}

func TestServersValidateRules(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*natsnest.ServersArgs)
		want string // "" means valid
	}{
		{"valid", func(*natsnest.ServersArgs) {}, ""},
		{"1 host", func(a *natsnest.ServersArgs) { a.Hosts = a.Hosts[:1] }, ""},
		{"2 hosts", func(a *natsnest.ServersArgs) { a.Hosts = a.Hosts[:2] }, "Hosts: 2 hosts"},
		{"no hosts", func(a *natsnest.ServersArgs) { a.Hosts = nil }, "Hosts: 0 hosts"},
		{"13 hosts", func(a *natsnest.ServersArgs) {
			for i := 4; i <= 13; i++ {
				a.Hosts = append(a.Hosts, natsnest.Host{Name: fmt.Sprintf("n%d", i), Connect: pulumi.String("x"), PrivateAddress: pulumi.String("y")})
			}
		}, "Hosts: 13 hosts"},
		{"11 hosts", func(a *natsnest.ServersArgs) {
			for i := 4; i <= 11; i++ {
				a.Hosts = append(a.Hosts, natsnest.Host{Name: fmt.Sprintf("n%d", i), Connect: pulumi.String("x"), PrivateAddress: pulumi.String("y")})
			}
		}, ""},
		{"empty connect", func(a *natsnest.ServersArgs) { a.Hosts[0].Connect = pulumi.String("") }, "Hosts[0].Connect: is required"},
		{"name with a quote", func(a *natsnest.ServersArgs) { a.Hosts[0].Name = "n'1" }, "Hosts[0].Name:"},
		{"bad zone", func(a *natsnest.ServersArgs) { a.Hosts[0].Zone = "cn hangzhou" }, "Hosts[0].Zone:"},
		{"bad device", func(a *natsnest.ServersArgs) {
			a.Hosts[0].DataDiskSerial = nil
			a.Hosts[0].DataDevice = "vdb; rm -rf /"
		}, "Hosts[0].DataDevice:"},
		{"no data disk and a serial", func(a *natsnest.ServersArgs) { a.Hosts[0].NoDataDisk = true }, "Hosts[0].NoDataDisk:"},
		{"password login", func(a *natsnest.ServersArgs) { a.SSH = natsnest.SSH{Password: pulumi.String("pw")} }, ""},
		{"bad port", func(a *natsnest.ServersArgs) { a.SSH.Port = 70000 }, "SSH.Port:"},
		{"dial limit", func(a *natsnest.ServersArgs) { a.SSH.DialErrorLimit = -5 }, "SSH.DialErrorLimit:"},
		{"bastion with the hosts' key", func(a *natsnest.ServersArgs) { a.SSH.Bastion = &natsnest.Bastion{Host: pulumi.String("b")} }, ""},
		{"bastion without host", func(a *natsnest.ServersArgs) { a.SSH.Bastion = &natsnest.Bastion{PrivateKey: pulumi.String("k")} }, "SSH.Bastion.Host: is required"},
		{"url with checksum", func(a *natsnest.ServersArgs) {
			a.Binary = natsnest.Binary{URL: pulumi.String("https://example.com/nats-server"), SHA256: strings.Repeat("ab", 32)}
		}, ""},
		{"url without checksum", func(a *natsnest.ServersArgs) {
			a.Binary = natsnest.Binary{URL: pulumi.String("https://example.com/nats-server")}
		}, "Binary.SHA256: is required"},
		{"short checksum", func(a *natsnest.ServersArgs) {
			a.Binary = natsnest.Binary{URL: pulumi.String("https://example.com/n"), SHA256: "abc"}
		}, "Binary.SHA256: must be 64"},
		{"checksum for nothing", func(a *natsnest.ServersArgs) { a.Binary = natsnest.Binary{SHA256: strings.Repeat("ab", 32)} }, "Binary.SHA256: applies to"},
		{"other version without a binary", func(a *natsnest.ServersArgs) { a.Binary = natsnest.Binary{}; a.NATSVersion = "2.14.0" }, "NATSVersion: 2.14.0 is not the pinned"},
		{"other version with a URL", func(a *natsnest.ServersArgs) {
			a.NATSVersion = "2.14.0"
			a.Binary = natsnest.Binary{URL: pulumi.String("https://example.com/nats-server"), SHA256: strings.Repeat("ab", 32)}
		}, ""},
		{"negative file store", func(a *natsnest.ServersArgs) { a.MaxFileStore = -1 }, "MaxFileStore:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := svArgs(t, 3)
			c.edit(a)
			err := a.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Errorf("valid args rejected: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want an error containing %q", err, c.want)
			case err != nil && !errors.Is(err, natsnest.ErrInvalidArgs):
				t.Errorf("%v does not wrap ErrInvalidArgs", err)
			}
		})
	}
	var nilArgs *natsnest.ServersArgs
	if err := nilArgs.Validate(); err == nil {
		t.Error("nil args accepted")
	}
}

// A LocalPath with a SHA256 must match it; a missing file fails early.
func TestServersLocalPathChecks(t *testing.T) {
	args := svArgs(t, 1)
	args.Binary.SHA256 = strings.Repeat("0", 64)
	if r, err := svDeploy(t, args); err == nil || !strings.Contains(err.Error(), "Binary.SHA256:") || len(r.regs) != 1 {
		t.Errorf("mismatching SHA256: %v", err)
	}
	args = svArgs(t, 1)
	args.Binary.LocalPath = filepath.Join(t.TempDir(), "missing")
	if r, err := svDeploy(t, args); err == nil || !errors.Is(err, natsnest.ErrInvalidArgs) || len(r.regs) != 1 {
		t.Errorf("missing LocalPath: %v", err)
	}
}

// A bastion without credentials of its own takes the hosts' key.
func TestServersBastionDefaultsToTheHostsKey(t *testing.T) {
	args := svArgs(t, 1)
	args.SSH.Bastion = &natsnest.Bastion{Host: pulumi.String("198.51.100.7"), Port: 2200}
	r := svMustDeploy(t, args)
	proxy := unsecret(unsecret(r.input(t, "nats-n1-base", "connection")).ObjectValue()["proxy"]).ObjectValue()
	if unsecret(proxy["privateKey"]).StringValue() != svSSHKey || unsecret(proxy["user"]).StringValue() != "root" || unsecret(proxy["port"]).NumberValue() != 2200 {
		t.Errorf("proxy %v", proxy)
	}
	if !proxy["privateKey"].IsSecret() && !r.input(t, "nats-n1-base", "connection").IsSecret() {
		t.Error("the bastion's key is not secret")
	}
}

// TestServersStepLogging: only the rolling steps stream their progress to
// `pulumi up`; the others show warnings and errors (a failure carries the
// whole output in its error either way).
func TestServersStepLogging(t *testing.T) {
	r := svMustDeploy(t, svArgs(t, 3))
	seen := 0
	for _, name := range r.names() {
		reg := r.regs[name]
		if reg.Type != "command:remote:Command" && reg.Type != "command:local:Command" {
			continue
		}
		seen++
		want := "stderr"
		if strings.HasSuffix(name, "-service") || strings.HasSuffix(name, "-leave") {
			want = "stdoutAndStderr"
		}
		if got := r.str(t, name, "logging"); got != want {
			t.Errorf("%s: logging = %q, want %q", name, got, want)
		}
	}
	if seen != 3*7 {
		t.Errorf("%d commands, want 7 per host", seen)
	}
}

// MonitoringOnAllAddresses widens monitoring to every address, on request.
func TestServersMonitoringOnAllAddresses(t *testing.T) {
	args := svArgs(t, 3)
	args.MonitoringOnAllAddresses = true
	r := svMustDeploy(t, args)
	o := loadWithFiles(t, r.payload(t, "n2"))
	if o.HTTPHost != "0.0.0.0" || o.HTTPPort != 8222 {
		t.Errorf("monitoring on %s:%d, want every address", o.HTTPHost, o.HTTPPort)
	}
}

// Where SSH would trust whatever host key answers, the user is told: per
// Servers host without a HostKey and for a bastion without one (a Cluster's
// nodes have natsnest's host keys, pinned). A bastion's HostKey is
// pinned in every connection's proxy, and one that is no key is refused.
func TestUnpinnedHostKeysAreWarnedAbout(t *testing.T) {
	hostKeyWarnings := func(t *testing.T) *[]string { return captureWarningsWhere(t, isHostKeyWarning) }

	pinned := func() *natsnest.ServersArgs {
		a := svArgs(t, 3)
		for i := range a.Hosts {
			a.Hosts[i].HostKey = pulumi.String(svHostKey(t))
		}
		return a
	}
	got := hostKeyWarnings(t)
	args := pinned()
	args.Hosts[1].HostKey = nil
	r := svMustDeploy(t, args)
	if len(*got) != 1 || !strings.Contains((*got)[0], "Hosts[1] (n2) has no HostKey") {
		t.Errorf("warnings %q, want one naming Hosts[1] (n2)", *got)
	}

	*got = nil
	bastionKey := svHostKey(t)
	args = pinned()
	args.SSH.Bastion = &natsnest.Bastion{Host: pulumi.String("198.51.100.7"), HostKey: pulumi.String(bastionKey)}
	r = svMustDeploy(t, args)
	if len(*got) != 0 {
		t.Errorf("warnings %q with every host and the bastion pinned", *got)
	}
	proxy := unsecret(unsecret(r.input(t, "nats-n1-base", "connection")).ObjectValue()["proxy"]).ObjectValue()
	if k := unsecret(proxy["hostKey"]); !k.IsString() || k.StringValue() != bastionKey {
		t.Errorf("the bastion's host key is not pinned in the proxy connection: %v", proxy["hostKey"])
	}
	*got = nil
	args.SSH.Bastion.HostKey = nil
	svMustDeploy(t, args)
	if len(*got) != 1 || !strings.Contains((*got)[0], "SSH.Bastion has no HostKey") {
		t.Errorf("warnings %q, want one about the bastion", *got)
	}
	args.SSH.Bastion.HostKey = pulumi.String("ssh-ed25519 not-a-key")
	if err := args.Validate(); err == nil || !strings.Contains(err.Error(), "SSH.Bastion.HostKey: is not a public key") {
		t.Errorf("a bastion host key that is no key: %v", err)
	}

	*got = nil
	m := newClusterMocks()
	if err := runWithMocks(m, func(ctx *pulumi.Context) error {
		_, err := natsnest.NewCluster(ctx, "c", validClusterArgs())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 0 {
		t.Errorf("Cluster warnings %q: its nodes' host keys are natsnest's, pinned", *got)
	}
	*got = nil
	ca := inExistingVPC(validClusterArgs())
	ca.Bastion = &natsnest.Bastion{Host: pulumi.String("198.51.100.7")}
	if err := runWithMocks(newClusterMocks(), func(ctx *pulumi.Context) error {
		_, err := natsnest.NewCluster(ctx, "c", ca)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(*got) != 1 || !strings.Contains((*got)[0], "SSH.Bastion has no HostKey") {
		t.Errorf("Cluster warnings %q, want one about its bastion", *got)
	}
}
