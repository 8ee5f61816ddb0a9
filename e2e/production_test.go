package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/internal/natsbin"
	"github.com/natsnest/pulumi-natsnest/internal/program"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/cloud"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
	"github.com/natsnest/pulumi-natsnest/internal/version"
	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// Secrets of the test's stacks. Test values only.
const (
	adminPassword   = "e2e-admin-password-0123456" // 26 characters
	appUser         = "app"
	appPassword     = "e2e-app-password-42"
	clusterSecret   = "e2e-cluster-stack-secret-0123456789"
	edgeSecret      = "e2e-edge-stack-secret-0123456789"
	streamName      = "E2E"
	clusterStack    = "../stacks/Pulumi.cluster.yaml"
	clusterResource = program.ClusterName
	keyPairName     = "natsnest-e2e"
)

// serversProgram provisions natsnest.Servers onto one existing machine,
// downloading nats-server from url, and exports its private endpoint.
func serversProgram(f *machines.Fleet, m *machines.Machine, url, sum string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		srv, err := natsnest.NewServers(ctx, "edge", &natsnest.ServersArgs{
			ServerOptions: natsnest.ServerOptions{
				AdminPassword: pulumi.String(adminPassword),
				StackSecret:   pulumi.String(edgeSecret),
				Accounts:      []natsnest.Account{{Users: []natsnest.User{{Name: appUser, Password: pulumi.String(appPassword)}}}},
				MaxFileStore:  1 << 30,
			},
			Hosts: []natsnest.Host{{
				Name:           m.Name,
				Connect:        pulumi.String(m.Addr),
				PrivateAddress: pulumi.String(m.Addr),
				DataDevice:     m.DataDevice,
				// Without a block device here, the disk step keeps the store in a directory.
				NoDataDisk: m.DataDevice == "",
				HostKey:    pulumi.String(m.HostKeyLine),
			}},
			SSH:    natsnest.SSH{User: "root", PrivateKey: pulumi.ToSecret(pulumi.String(f.PrivateKeyPEM)).(pulumi.StringOutput)},
			Binary: natsnest.Binary{URL: pulumi.String(url), SHA256: sum},
		})
		if err != nil {
			return err
		}
		ctx.Export("privateEndpoint", srv.PrivateEndpoint)
		return nil
	}
}

// TestProduction deploys the production programs through the real Pulumi
// engine (the Automation API and the pulumi-command plugin) and checks what
// a user of natsnest relies on (docs/architecture.md §3, §3a, §3b):
//
//   - servers: natsnest.Servers, an inline program, onto a machine booted
//     beforehand with a loop-device data disk, nats-server downloaded from
//     a presigned-looking URL; then a second up, a new signature and a
//     tampered archive;
//   - cluster: the root program (internal/program.Program, the repository's
//     Pulumi.yaml and stacks/Pulumi.cluster.yaml) on the emulated Alibaba
//     Cloud, in key-pair mode, nats-server uploaded; then an R3 stream, two
//     failovers and a second up.
//
// The two run one after the other, each with a fleet of its own: a fleet
// holds the machines' lock and bridge for its whole life, and the cloud's
// fleet is a VPC whose machines only the cloud boots.
func TestProduction(t *testing.T) {
	machines.Require(t)
	s := &steps{t: t}
	began := time.Now()
	t.Run("servers", func(t *testing.T) {
		s.t = t
		productionServers(t, s)
	})
	t.Run("cluster", func(t *testing.T) {
		s.t = t
		productionCluster(t, s)
	})
	s.t = t
	t.Logf("e2e: everything above verified in %s", time.Since(began).Round(time.Second))
}

// productionServers: natsnest.Servers with one host, by the real engine.
func productionServers(t *testing.T, s *steps) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	eng := newEngine(t, tmp)

	s.Step("boot a Debian %s machine edge-1 for natsnest.Servers (a loop-device data disk, named by device path)", machines.Suite)
	fleet := machines.New(t, machines.Options{Names: []string{"edge-1"}, DiskKinds: []machines.DiskKind{machines.DiskLoop}})
	edge := fleet.Machines[0]
	logJournalsOnFailure(t, fleet, 60)
	if !fleet.DataDisks || edge.DataDevice == "" {
		t.Fatalf("natsnest.Servers is checked with a DataDevice, which needs a loop device in the machine; this host cannot give one (%s)", fleet.DataDiskNote)
	}

	s.Step("build nats-server v%s for linux/amd64 (the pinned release) and serve it as a release archive on the bridge", version.NATSServer)
	rel := buildRelease(t, fleet)
	s.Verified("binary sha256 %s; %s sha256 %s", rel.BinarySHA[:16], rel.URL, rel.SHA256[:16])

	// Servers logs in with a key and no password: a keys-only deploy, so
	// its base step must overrule what is planted here.
	s.Step("plant on %s what an admin or another local user may have left: a Match block letting root log in with a password, and %s as a symbolic link to /usr/local/sbin", edge.Name, plantedUploadLink)
	if err := plant(edge); err != nil {
		t.Fatal(err)
	}
	s.Verified("root may log in with a password on %s (sshd -T -C user=root), and %s points at /usr/local/sbin", edge.Name, plantedUploadLink)

	// Presigned, as an OSS URL is: its signature must reach the node on the
	// binary step's stdin only, and no command line or output.
	const signature = "e2e-s1gnature-0f3c"
	presigned := rel.URL + "?Signature=" + signature
	s.Step("pulumi up natsnest.Servers (inline program, real engine) with 1 host (%s, data disk %s) downloading nats-server from %s?Signature=… with its checksum", edge.Name, edge.DataDevice, rel.URL)
	edgeProgram := serversProgram(fleet, edge, presigned, rel.SHA256)
	st := eng.stack(ctx, t, "natsnest-edge", func(ctx *pulumi.Context) error { return edgeProgram(ctx) }, nil)
	up := upObserved(ctx, st)
	if up.err != nil {
		t.Fatalf("pulumi up natsnest.Servers: %v", up.err)
	}
	n := onlyOps(t, "first up", up.ops, apitype.OpCreate)
	edgeURL, _ := up.res.Outputs["privateEndpoint"].Value.(string)
	if edgeURL != "nats://"+edge.Addr+":4222" {
		t.Errorf("privateEndpoint %q, want nats://%s:4222", edgeURL, edge.Addr)
	}
	state := exportState(ctx, t, st)
	binaryStep := "edge-" + edge.Name + "-" + provision.StepBinary
	checkSignature(t, signature, presigned, binaryStep, state, up)
	if hits := fleet.HTTPHits(rel.Path); hits < 1 {
		t.Errorf("%s was never downloaded (%d requests)", rel.URL, hits)
	}
	s.Verified("natsnest.Servers deployed by the engine in %s: %d resources created (%s); %s downloaded %s (%d requests) from a presigned URL; the signature is in none of the %d engine events, in no command's create/update/delete/stdout/stderr in the state (secrets shown), only on %s's stdin (base64, a secret)",
		up.took.Round(time.Second), n, opsSummary(up.ops), edge.Name, rel.Path, fleet.HTTPHits(rel.Path), len(up.events), binaryStep)

	s.Step("check %s: natsd under systemd, its user, binary, data disk, and the files on disk against what the program rendered (the config step's stdin in the engine's state)", edge.Name)
	files := renderedFromState(t, state, "edge-"+edge.Name+"-"+provision.StepConfig)
	checkNode(t, s, nodeCheck{name: edge.Name, m: edge, files: files, binarySHA: rel.BinarySHA, delivery: "downloaded",
		dataSource: func(src string) (string, error) {
			if src != edge.DataDevice {
				return "", fmt.Errorf("on %s, want the DataDevice %s", src, edge.DataDevice)
			}
			return src, nil
		}})

	s.Step("check the hardening on %s: systemd-analyze security natsd at most %.1f; passwords off for root despite the Match block; nothing staged through the planted link", edge.Name, provision.MaxUnitExposure)
	checkHardening(t, s, edge.Name, edge, false)

	s.Step("check that natsnest.Servers serves monitoring on %s's private address only", edge.Name)
	if err := getJSON("http://"+edge.Addr+":8222/varz", &struct{}{}); err != nil {
		t.Errorf("%s: monitoring on its private address %s: %v", edge.Name, edge.Addr, err)
	}
	// From inside the machine: its private address answers, its loopback
	// address (another of its addresses) refuses the connection.
	probe := func(addr string) string {
		out, err := edge.Run(fmt.Sprintf("timeout 5 bash -c 'exec 3<>/dev/tcp/%s/8222' 2>/dev/null && echo answered || echo refused", addr))
		if err != nil {
			t.Fatalf("%s: %v", edge.Name, err)
		}
		return strings.TrimSpace(out)
	}
	if got := probe(edge.Addr); got != "answered" {
		t.Errorf("%s: monitoring on its private address, from the machine: %s", edge.Name, got)
	}
	if got := probe("127.0.0.1"); got != "refused" {
		t.Errorf("%s: monitoring on 127.0.0.1: %s, want the connection refused", edge.Name, got)
	}
	s.Verified("%s: http://%s:8222/varz answers; http://127.0.0.1:8222 on the machine is refused", edge.Name, edge.Addr)

	s.Step("check that the single node runs alone")
	if r := checkRoutes(t, edge.Name, edge.Addr, nil); r.NumRoutes != 0 {
		t.Errorf("%s /routez: %d routes, want none", edge.Name, r.NumRoutes)
	}
	if strings.Contains(files.Config, "cluster") {
		t.Errorf("%s: a single node's nats.conf has a cluster block:\n%s", edge.Name, files.Config)
	}
	s.Verified("%s runs alone: no routes on /routez, no routes.conf, no cluster block in its nats.conf", edge.Name)

	s.Step("check authentication on %s: anonymous and wrong passwords refused, the application user and the system account's admin work", edgeURL)
	checkAuth(t, edgeURL)
	if names := sysServers(t, edgeURL); !slices.Equal(names, []string{edge.Name}) {
		t.Errorf("$SYS.REQ.SERVER.PING on %s answered by %v, want %s", edgeURL, names, edge.Name)
	}
	s.Verified("anonymous clients and a wrong password are refused; %s publishes and subscribes; admin in $SYS sees %s", appUser, edge.Name)

	// The mock's second deployment executed every command again. The
	// engine runs a command's create again only when something changes: a
	// change of the SSH connection re-runs every step's create, which the
	// day-2 test covers. Here: nothing to do, and no natsd restarted.
	s.Step("pulumi up natsnest.Servers again: nothing changes")
	before := natsdState(t, edge)
	again := upObserved(ctx, st)
	if again.err != nil {
		t.Fatalf("second up of natsnest.Servers: %v", again.err)
	}
	n = onlyOps(t, "second up", again.ops, apitype.OpSame)
	if after := natsdState(t, edge); after != before {
		t.Errorf("%s: natsd %+v before the second up, %+v after: it was restarted", edge.Name, before, after)
	}
	if _, err := st.Preview(ctx, optpreview.SuppressProgress(), optpreview.ExpectNoChanges()); err != nil {
		t.Errorf("preview after the second up: %v", err)
	}
	s.Verified("second up: all %d resources same (summary %v), preview expects no changes; natsd's MainPID %d and NRestarts %d unchanged",
		n, changeSummary(again.res), before.MainPID, before.NRestarts)

	s.Step("pulumi up natsnest.Servers with a new signature of the same download URL")
	renewed := presigned + "-renewed"
	edgeProgram = serversProgram(fleet, edge, renewed, rel.SHA256)
	hits := fleet.HTTPHits(rel.Path)
	re := upObserved(ctx, st)
	if re.err != nil {
		t.Fatalf("up with a new signature: %v", re.err)
	}
	for name, o := range re.ops {
		want := []apitype.OpType{apitype.OpSame}
		if name == binaryStep {
			want = []apitype.OpType{apitype.OpUpdate}
		}
		if !slices.Equal(o, want) {
			t.Errorf("a new signature: %s: %v, want %v", name, o, want)
		}
	}
	if _, ok := re.ops[binaryStep]; !ok {
		t.Errorf("a new signature: the engine reported no step for %s: %v", binaryStep, re.ops)
	}
	if after := natsdState(t, edge); after != before {
		t.Errorf("%s: natsd %+v before the new signature, %+v after: it was restarted", edge.Name, before, after)
	}
	checkSignature(t, signature+"-renewed", renewed, binaryStep, exportState(ctx, t, st), re)
	s.Verified("a new signature: the engine updated %s alone (%s; every other resource same), the binary step ran again (%d more requests) and kept the installed binary; natsd on %s not restarted; the new signature is in no event and no command line or output either",
		binaryStep, opsSummary(re.ops), fleet.HTTPHits(rel.Path)-hits, edge.Name)

	s.Step("pulumi up natsnest.Servers with a download whose checksum does not match (a tampered archive)")
	tampered := "/nats-server-v" + version.NATSServer + "-linux-amd64-tampered.tar.gz"
	writeTarGz(t, filepath.Join(fleet.HTTPDir, tampered), "nats-server-v"+version.NATSServer+"-linux-amd64",
		[]byte("#!/bin/sh\necho 'nats-server: v"+version.NATSServer+"'\n"))
	layout := provision.DefaultLayout()
	edgeProgram = serversProgram(fleet, edge, fleet.HTTPURL+tampered, rel.SHA256)
	bad := upObserved(ctx, st)
	if bad.err == nil {
		t.Fatal("a download with a wrong checksum deployed without error")
	}
	msg := strings.ToLower(bad.err.Error())
	if !strings.Contains(msg, "checksum") && !strings.Contains(msg, "sha256") && !strings.Contains(msg, "sha-256") {
		t.Errorf("the error does not say the checksum is wrong: %v", bad.err)
	}
	if got := bad.ops[binaryStep]; !slices.Equal(got, []apitype.OpType{apitype.OpUpdate}) {
		t.Errorf("the tampered archive: %s: %v, want the update that failed", binaryStep, got)
	}
	if fleet.HTTPHits(tampered) < 1 {
		t.Errorf("the tampered archive was never downloaded")
	}
	if sha := mustRun(t, edge, "sha256sum "+layout.Binary+" | cut -d' ' -f1"); sha != rel.BinarySHA {
		t.Errorf("%s: %s changed to sha256 %s after a failed checksum", edge.Name, layout.Binary, sha)
	}
	if after := natsdState(t, edge); after != before {
		t.Errorf("%s: natsd %+v before, %+v after the failed up", edge.Name, before, after)
	}
	s.Verified("the up failed with %q after downloading %s (%d requests); %s still runs the previous binary (sha256 %s…), natsd untouched (MainPID %d)",
		firstErrLine(bad.err), tampered, fleet.HTTPHits(tampered), edge.Name, rel.BinarySHA[:12], before.MainPID)
}

// checkSignature checks that a presigned URL's signature is in none of the
// engine's events and, in the stack's state with secrets shown, in no
// resource's inputs or outputs but the binary step's stdin, which carries
// the URL (base64).
func checkSignature(t *testing.T, signature, url, binaryStep string, state map[string]stateResource, up engineUp) {
	t.Helper()
	encoded := base64.StdEncoding.EncodeToString([]byte(url))
	for _, ev := range up.events {
		if strings.Contains(ev, signature) || strings.Contains(ev, encoded) {
			t.Errorf("an engine event holds the URL's signature: %.300s", ev)
		}
	}
	for _, out := range []string{up.res.StdOut, up.res.StdErr} {
		if strings.Contains(out, signature) {
			t.Errorf("pulumi up's output holds the URL's signature")
		}
	}
	commands := 0
	for name, r := range state {
		if r.Type == "command:remote:Command" {
			commands++
		}
		for what, m := range map[string]map[string]any{"inputs": r.Inputs, "outputs": r.Outputs} {
			for k, v := range m {
				b, _ := json.Marshal(v)
				if name == binaryStep && k == "stdin" {
					if v != provision.BinaryPayload(url) {
						t.Errorf("%s: %s stdin %q does not carry the presigned URL", name, what, v)
					}
					continue
				}
				if strings.Contains(string(b), signature) || strings.Contains(string(b), encoded) {
					t.Errorf("%s: %s %s holds the URL's signature", name, what, k)
				}
			}
		}
	}
	b, ok := state[binaryStep]
	if !ok || b.Type != "command:remote:Command" {
		t.Fatalf("the stack's state has no command %s", binaryStep)
	}
	if b.Outputs["stdin"] != provision.BinaryPayload(url) {
		t.Errorf("%s: stdin in the state %q, want the URL's payload", binaryStep, b.Outputs["stdin"])
	}
	if !strings.Contains(b.str("create"), "binary") {
		t.Errorf("%s has no create script in the state: the check would prove nothing", binaryStep)
	}
	// A host's steps: base, disk, binary, config, start, service.
	if commands < 6 {
		t.Errorf("the state holds %d commands, want the 6 steps of a host at least", commands)
	}
}

// productionCluster: the root program's natsnest.Cluster on the emulated
// cloud, by the real engine.
func productionCluster(t *testing.T, s *steps) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	eng := newEngine(t, tmp)

	cfg := stackConfig(t, clusterStack)
	const nodes = 3
	if cfg["nodeCount"] != "3" {
		t.Fatalf("%s: nodeCount %q, the test expects the 3-node template", clusterStack, cfg["nodeCount"])
	}
	var zones []string
	if z := cfg["zones"]; z != "" {
		if err := json.Unmarshal([]byte(z), &zones); err != nil {
			t.Fatalf("%s: zones %s: %v", clusterStack, z, err)
		}
	}

	s.Step("boot the emulated Alibaba Cloud: a VPC %s of Debian %s machines the cloud boots with cloud-init as its instances (data disks: zram, found by serial number like ECS disks), each instance planted at boot, before the engine runs any command on it, with a Match block letting root log in with a password and %s as a symbolic link to /usr/local/sbin",
		natsnest.DefaultVpcCIDR, machines.Suite, plantedUploadLink)
	// Key-pair mode: an ECS key pair of the account, which the cloud puts
	// on every instance, and its private key in the stack's config. The
	// fleet's own key (the test's login) is not the pair's: an up that
	// works logs in with the pair.
	pairKey, pairPub := newSSHKey(t, keyPairName)
	var backend *plantingBackend
	fleet, _, _, st := cloudStack(ctx, t, eng, tmp, "cluster", func(c *cloud.Cloud) {
		backend = &plantingBackend{Machines: c.Backend.(*cloud.Machines)}
		c.Backend, c.KeyPairs = backend, map[string]string{keyPairName: pairPub}
	})
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer dcancel()
		if _, err := st.Destroy(dctx); err != nil {
			t.Errorf("destroy: %v", err)
		}
	})
	setConfig(ctx, t, st, map[string]string{"natsnest:adminPassword": adminPassword, "natsnest:appPassword": appPassword,
		"natsnest:stackSecret": clusterSecret, "natsnest:sshPrivateKey": pairKey}, true)
	setConfig(ctx, t, st, map[string]string{"natsnest:keyPairName": keyPairName, "natsnest:sshCidr": fleet.HostAddr + "/32"}, false)

	s.Step("pulumi up the root program's natsnest.Cluster from %s (nodeCount %s, zones %v, publicAccess %s) in key-pair mode (keyPairName %s, sshPrivateKey; no instancePassword), nats-server uploaded from this machine",
		filepath.Base(clusterStack), cfg["nodeCount"], zones, cfg["publicAccess"], keyPairName)
	up := upObserved(ctx, st)
	if up.err != nil {
		t.Fatalf("pulumi up (cluster): %v", up.err)
	}
	nres := onlyOps(t, "first up", up.ops, apitype.OpCreate)
	stackNodes := nodesOf(t, up.res.Outputs)
	if len(stackNodes) != nodes {
		t.Fatalf("output nodes: %d, want %d", len(stackNodes), nodes)
	}
	clusterURL, _ := up.res.Outputs["privateEndpoint"].Value.(string)
	public, _ := up.res.Outputs["publicEndpoint"].Value.(string)
	var cl []clusterMachine
	var names []string
	for _, n := range stackNodes {
		m := backend.Machine(n.instanceID)
		if m == nil {
			t.Fatalf("node %s: instance %s has no machine", n.name, n.instanceID)
		}
		if !backend.wasPlanted(n.instanceID) {
			t.Errorf("node %s: instance %s was not planted at boot", n.name, n.instanceID)
		}
		if m.Addr != n.privateIP {
			t.Errorf("node %s: machine at %s, output privateIp %s", n.name, m.Addr, n.privateIP)
		}
		cl = append(cl, clusterMachine{name: n.name, m: m})
		names = append(names, n.name)
	}
	slices.Sort(names)
	state := exportState(ctx, t, st)
	uploads := 0
	for _, r := range state {
		if r.Type == "command:remote:CopyToRemote" {
			uploads++
		}
	}
	if uploads != nodes {
		t.Errorf("%d uploads in the state, want one per node", uploads)
	}
	s.Verified("natsnest.Cluster deployed by the engine in %s: %d resources created (%s), %d uploads; privateEndpoint %s, publicEndpoint %s",
		up.took.Round(time.Second), nres, opsSummary(up.ops), uploads, clusterURL, public)

	s.Step("check key-pair mode on every instance: the pair's public key authorized for root (the test's own key, which the cloud also authorizes, is not the pair's)")
	for _, n := range cl {
		keys := mustRun(t, n.m, "cat /root/.ssh/authorized_keys")
		if !strings.Contains(keys, pairPub) {
			t.Errorf("%s: root's authorized_keys lack the key pair %s", n.name, keyPairName)
		}
	}
	if pairKey == fleet.PrivateKeyPEM {
		t.Fatal("the key pair is the fleet's key")
	}
	s.Verified("%d instances carry key pair %s for root; the engine's SSH steps logged in with its private key (sshPrivateKey)", len(cl), keyPairName)

	binPath, err := natsbin.Build(ctx, "linux", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	binSHA, err := natsbin.FileSHA256(binPath)
	if err != nil {
		t.Fatal(err)
	}
	s.Step("check every node: natsd under systemd, its user, binary, data disk, and the files on disk against what the program rendered (the config steps' stdin in the engine's state)")
	for _, n := range cl {
		files := renderedFromState(t, state, clusterResource+"-servers-"+n.name+"-"+provision.StepConfig)
		m := n.m
		checkNode(t, s, nodeCheck{name: n.name, m: m, files: files, binarySHA: binSHA, delivery: "uploaded", wantRoutes: true,
			dataSource: func(src string) (string, error) {
				serial := mustRun(t, m, "lsblk -dno SERIAL "+src)
				if !strings.HasPrefix(serial, "d-") || backend.DiskOn(serial) != m.Name {
					return "", fmt.Errorf("on %s (serial %q), want the data disk the cloud attached to %s", src, serial, m.Name)
				}
				return fmt.Sprintf("%s (disk %s)", src, serial), nil
			}})
	}

	s.Step("check the hardening on every node: systemd-analyze security natsd at most %.1f; passwords off for root despite the Match block planted at boot; the upload staged in %s, nothing through the planted link",
		provision.MaxUnitExposure, provision.DefaultLayout().UploadDir)
	for _, n := range cl {
		checkHardening(t, s, n.name, n.m, true)
	}

	s.Step("check the cluster's routes on /routez")
	for _, n := range cl {
		peers := slices.DeleteFunc(slices.Clone(names), func(x string) bool { return x == n.name })
		r := checkRoutes(t, n.name, n.m.Addr, peers)
		s.Verified("%s has %d routes to %v", n.name, r.NumRoutes, peers)
	}

	s.Step("check authentication on %s: anonymous and wrong passwords refused, the application user and the system account's admin work", clusterURL)
	checkAuth(t, clusterURL)
	if seen := sysServers(t, clusterURL); !slices.Equal(seen, names) {
		t.Errorf("$SYS.REQ.SERVER.PING answered by %v, want all %d nodes %v", seen, nodes, names)
	}
	s.Verified("anonymous clients and a wrong password are refused; %s publishes and subscribes; admin in $SYS sees all %d servers %v", appUser, nodes, names)

	s.Step("create the R3 stream %s on the cluster and publish 100 messages", streamName)
	nc, err := nats.Connect(clusterURL, clientOptions("e2e")...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var stream jetstream.Stream
	if err := eventually(time.Minute, func() error {
		sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
		defer scancel()
		var err error
		stream, err = js.CreateStream(sctx, jetstream.StreamConfig{
			Name: streamName, Subjects: []string{"e2e.s.>"}, Replicas: nodes, Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute,
		})
		return err
	}); err != nil {
		t.Fatalf("creating the R3 stream: %v", err)
	}
	for i := 1; i <= 100; i++ {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := js.Publish(pctx, "e2e.s.warmup", []byte(fmt.Sprintf("warmup-%d", i)))
		pcancel()
		if err != nil {
			t.Fatalf("publishing: %v", err)
		}
	}
	var info *jetstream.StreamInfo
	err = eventually(60*time.Second, func() error {
		info, err = streamInfo(ctx, stream)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != nodes-1 {
			return fmt.Errorf("cluster info %+v", info.Cluster)
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Lag != 0 {
				return fmt.Errorf("replica %s not current (lag %d)", r.Name, r.Lag)
			}
		}
		for _, n := range cl {
			msgs, _, ok, err := streamOnServer(n.m.Addr, streamName)
			if err != nil || !ok || msgs != 100 {
				return fmt.Errorf("%s holds %d messages (replica %v, %v)", n.name, msgs, ok, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("replication: %v", err)
	}
	s.Verified("%s accepts messages; leader %s; every node's /jsz shows its replica with 100 messages; replicas current", streamName, info.Cluster.Leader)

	// Failover, twice: a clean power off, then a power cut.
	for round, cut := range []bool{false, true} {
		failoverRound(ctx, t, s, cl, clusterURL, stream, round+1, cut)
	}
	nc.Close()

	// See productionServers: the engine has nothing to run again.
	s.Step("pulumi up natsnest.Cluster again after the power cycles: nothing changes")
	before := map[string]serviceState{}
	for _, n := range cl {
		before[n.name] = natsdState(t, n.m)
	}
	again := upObserved(ctx, st)
	if again.err != nil {
		t.Fatalf("second up (cluster): %v", again.err)
	}
	nres = onlyOps(t, "second up", again.ops, apitype.OpSame, apitype.OpRead)
	for _, n := range cl {
		if after := natsdState(t, n.m); after != before[n.name] {
			t.Errorf("%s: natsd %+v before the second up, %+v after: it was restarted", n.name, before[n.name], after)
		}
	}
	if _, err := st.Preview(ctx, optpreview.SuppressProgress(), optpreview.ExpectNoChanges()); err != nil {
		t.Errorf("preview after the second up: %v", err)
	}
	s.Verified("second up: all %d resources same (summary %v), preview expects no changes; natsd's MainPID and NRestarts unchanged on all %d nodes",
		nres, changeSummary(again.res), len(cl))
}

// clusterMachine is a node of the cluster: its server_name and the
// instance's machine (named by the instance ID).
type clusterMachine struct {
	name string
	m    *machines.Machine
}

// failoverRound takes the machine that leads the stream away — a clean power
// off (systemd stops natsd with lame duck mode) or a power cut (every
// process killed at once) — while a publisher connected to that very machine
// keeps publishing, then checks the failover, that no acknowledged message is
// lost, and that the machine, booted again, catches up.
func failoverRound(ctx context.Context, t *testing.T, s *steps, cl []clusterMachine, clusterURL string, stream jetstream.Stream, round int, cut bool) {
	t.Helper()
	info, err := streamInfo(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	oldLeader := info.Cluster.Leader
	var leaderMachine *machines.Machine
	for _, n := range cl {
		if n.name == oldLeader {
			leaderMachine = n.m
		}
	}
	if leaderMachine == nil {
		t.Fatalf("the stream's leader %q is not a machine", oldLeader)
	}
	how, what, howDone := "power off", "the power off", "off after %s (clean shutdown: natsd stopped with lame duck mode)"
	if cut {
		how, what, howDone = "cut the power of", "the power cut", "off after %s (power cut: every process killed at once)"
	}
	subject := fmt.Sprintf("e2e.s.failover%d", round)

	// The publisher talks to the leader first, so taking it away moves the
	// publisher's connection too.
	urls := []string{"nats://" + leaderMachine.Addr + ":4222"}
	for _, u := range strings.Split(clusterURL, ",") {
		if !strings.Contains(u, "//"+leaderMachine.Addr+":") {
			urls = append(urls, u)
		}
	}
	pnc, err := nats.Connect(strings.Join(urls, ","), clientOptions("e2e-publisher", nats.DontRandomize())...)
	if err != nil {
		t.Fatal(err)
	}
	defer pnc.Close()
	pjs, err := jetstream.New(pnc)
	if err != nil {
		t.Fatal(err)
	}
	s.Step("%s %s, the leader of %s, while a publisher connected to it keeps publishing to %s (each message retried with its Nats-Msg-Id until acknowledged)",
		how, oldLeader, streamName, subject)
	pub := startPublisher(ctx, pjs, subject)
	pub.waitAcked(t, 50, time.Minute)
	offStart := time.Now()
	offDone := make(chan error, 1)
	go func() {
		if cut {
			leaderMachine.Kill()
			offDone <- nil
			return
		}
		offDone <- leaderMachine.PowerOff()
	}()
	var newLeader string
	var failover time.Duration
	err = eventually(3*time.Minute, func() error {
		i, err := streamInfo(ctx, stream)
		if err != nil {
			return err
		}
		if i.Cluster == nil || i.Cluster.Leader == "" || i.Cluster.Leader == oldLeader {
			return fmt.Errorf("leader still %q", i.Cluster.Leader)
		}
		newLeader, failover = i.Cluster.Leader, time.Since(offStart)
		return nil
	})
	if err != nil {
		t.Fatalf("no new leader after taking %s away: %v", oldLeader, err)
	}
	if err := <-offDone; err != nil {
		t.Fatal(err)
	}
	offTook := time.Since(offStart)
	if _, err := leaderMachine.Run("true"); err == nil {
		t.Fatalf("%s still answers SSH after it was powered off", oldLeader)
	}
	ackedAtOff := pub.count()
	pub.waitAcked(t, ackedAtOff+200, 2*time.Minute)
	pub.stop()
	acked, retries, errs := pub.result()
	s.Verified("failover: %s leads %s %.1fs after %s began; %s was "+howDone+"; %d messages acknowledged, %d of them after it was off; %d publish attempts retried (%s); the publisher now talks to %s",
		newLeader, streamName, failover.Seconds(), what, oldLeader, offTook.Round(100*time.Millisecond), len(acked), len(acked)-ackedAtOff, retries, errs, pnc.ConnectedUrlRedacted())

	s.Step("read %s back: every acknowledged message is there, exactly once", subject)
	got := readSubject(ctx, t, stream, subject)
	var lost []string
	for _, id := range acked {
		if got[id] != 1 {
			lost = append(lost, fmt.Sprintf("%s×%d", id, got[id]))
		}
	}
	if len(lost) > 0 {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		si, err := stream.Info(sctx, jetstream.WithSubjectFilter(subject))
		cancel()
		var subjects map[string]uint64
		if si != nil {
			subjects = si.State.Subjects
		}
		pub.mu.Lock()
		seqs := pub.seqs
		pub.mu.Unlock()
		var state []string
		for _, n := range cl {
			msgs, last, ok, err := streamOnServer(n.m.Addr, streamName)
			state = append(state, fmt.Sprintf("%s: %d msgs up to %d (replica %v, %v)", n.name, msgs, last, ok, err))
		}
		var first uint64
		if len(seqs) > 0 {
			first = seqs[0]
		}
		t.Fatalf("%d of %d acknowledged messages lost or duplicated (read %d distinct; the stream counts %v on the subject, %v; acks named sequences %d..%d; stream state %+v; servers: %s): %v",
			len(lost), len(acked), len(got), subjects, err, first, seqs[len(seqs)-1], si.State, strings.Join(state, "; "), lost[:min(20, len(lost))])
	}
	info, err = streamInfo(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	s.Verified("all %d acknowledged messages are in %s exactly once (%d stored on the subject; stream: %d messages, last sequence %d) — none lost with %s off",
		len(acked), streamName, len(got), info.State.Msgs, info.State.LastSeq, oldLeader)

	s.Step("boot %s again and wait for its replica to catch up", oldLeader)
	bootStart := time.Now()
	if err := leaderMachine.Boot(); err != nil {
		t.Fatal(err)
	}
	var msgs, last uint64
	err = eventually(5*time.Minute, func() error {
		if st := natsdState(t, leaderMachine); st.Active != "active" {
			return fmt.Errorf("natsd %s", st.Active)
		}
		i, err := streamInfo(ctx, stream)
		if err != nil {
			return err
		}
		found := i.Cluster.Leader == oldLeader
		for _, r := range i.Cluster.Replicas {
			if r.Name == oldLeader {
				found = true
				if !r.Current || r.Lag != 0 {
					return fmt.Errorf("%s: current %v, lag %d", oldLeader, r.Current, r.Lag)
				}
			}
		}
		if !found {
			return fmt.Errorf("%s is not among the replicas yet", oldLeader)
		}
		var ok bool
		msgs, last, ok, err = streamOnServer(leaderMachine.Addr, streamName)
		if err != nil || !ok || last != i.State.LastSeq || msgs != i.State.Msgs {
			return fmt.Errorf("%s holds %d messages up to %d, the stream %d up to %d (%v)", oldLeader, msgs, last, i.State.Msgs, i.State.LastSeq, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s did not catch up: %v", oldLeader, err)
	}
	mount := mustRun(t, leaderMachine, "findmnt -n -o SOURCE /data")
	s.Verified("%s booted, /data mounted again from fstab (%s), natsd started at boot, and its replica caught up in %s: its /jsz shows %d messages up to sequence %d, as the stream; current, lag 0",
		oldLeader, mount, time.Since(bootStart).Round(100*time.Millisecond), msgs, last)
}

// streamInfo asks for the stream's info with a short timeout: a request in
// flight to a server that lost its power gets no answer, ever.
func streamInfo(ctx context.Context, stream jetstream.Stream) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return stream.Info(ctx)
}

// clientOptions are what the test's NATS clients use: the application user,
// reconnecting forever, and pings every 2s so a server whose power was cut
// (its TCP connections never close) is given up within seconds, not minutes.
func clientOptions(name string, extra ...nats.Option) []nats.Option {
	return append([]nats.Option{nats.UserInfo(appUser, appPassword), nats.Name(name),
		nats.MaxReconnects(-1), nats.ReconnectWait(200 * time.Millisecond),
		nats.PingInterval(2 * time.Second), nats.MaxPingsOutstanding(2)}, extra...)
}

func firstErrLine(err error) string {
	for _, l := range strings.Split(err.Error(), "\n") {
		l = strings.TrimSpace(l)
		if ll := strings.ToLower(l); strings.Contains(ll, "checksum") || strings.Contains(ll, "sha256") {
			return l
		}
	}
	l, _, _ := strings.Cut(err.Error(), "\n")
	return l
}

// publisher publishes numbered messages, each retried with the same
// Nats-Msg-Id until the stream acknowledges it, so retries never duplicate.
type publisher struct {
	mu      sync.Mutex
	acked   []string
	seqs    []uint64 // the stream sequence each acknowledgement named
	retries int
	dups    int
	errs    map[string]int
	n       atomic.Int64
	quit    chan struct{}
	done    chan struct{}
}

func startPublisher(ctx context.Context, js jetstream.JetStream, subject string) *publisher {
	p := &publisher{errs: map[string]int{}, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 1; ; i++ {
			select {
			case <-p.quit:
				return
			default:
			}
			// Message IDs are unique across rounds: the stream deduplicates
			// by ID within its duplicate window.
			id := fmt.Sprintf("%s-%06d", subject, i)
			for {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				ack, err := js.Publish(pctx, subject, []byte(id), jetstream.WithMsgID(id))
				cancel()
				if err == nil {
					p.mu.Lock()
					p.acked = append(p.acked, id)
					p.seqs = append(p.seqs, ack.Sequence)
					if ack.Stream != streamName {
						p.errs["acknowledged by stream "+ack.Stream]++
					}
					if ack.Duplicate {
						// A retry of a message whose first acknowledgement was lost.
						p.dups++
					}
					p.mu.Unlock()
					p.n.Add(1)
					break
				}
				if ctx.Err() != nil {
					return
				}
				p.mu.Lock()
				p.retries++
				p.errs[errKind(err)]++
				p.mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return p
}

func errKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return "timeout"
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return "no responders"
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		return "reconnecting"
	}
	s := err.Error()
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}

func (p *publisher) count() int { return int(p.n.Load()) }

func (p *publisher) waitAcked(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for p.count() < n {
		if time.Now().After(deadline) {
			_, retries, errs := p.result()
			t.Fatalf("publisher: %d of %d messages acknowledged after %s (%d retries: %s)", p.count(), n, timeout, retries, errs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *publisher) stop() {
	close(p.quit)
	<-p.done
}

func (p *publisher) result() ([]string, int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var kinds []string
	for k, n := range p.errs {
		kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
	}
	slices.Sort(kinds)
	if p.dups > 0 {
		kinds = append(kinds, fmt.Sprintf("retries acknowledged as duplicates of a first attempt whose acknowledgement was lost: %d", p.dups))
	}
	if len(kinds) == 0 {
		kinds = []string{"none"}
	}
	return append([]string(nil), p.acked...), p.retries, strings.Join(kinds, ", ")
}

// readSubject reads the stream, message by message from the stream's
// leader (no consumer involved), and counts the payloads stored on subject.
func readSubject(ctx context.Context, t *testing.T, stream jetstream.Stream, subject string) map[string]int {
	t.Helper()
	info, err := streamInfo(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	seqs := make(chan uint64)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range seqs {
				var msg *jetstream.RawStreamMsg
				err := eventually(time.Minute, func() error {
					gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					defer cancel()
					var err error
					msg, err = stream.GetMsg(gctx, seq)
					if errors.Is(err, jetstream.ErrMsgNotFound) {
						return nil
					}
					return err
				})
				if err != nil {
					errs <- fmt.Errorf("sequence %d: %w", seq, err)
					return
				}
				if msg != nil && msg.Subject == subject {
					mu.Lock()
					got[string(msg.Data)]++
					mu.Unlock()
				}
			}
		}()
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		select {
		case seqs <- seq:
		case err := <-errs:
			t.Fatalf("reading %s: %v", streamName, err)
		}
	}
	close(seqs)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("reading %s: %v", streamName, err)
	default:
	}
	return got
}
