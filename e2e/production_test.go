package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/internal/program"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
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
)

// clusterProgram is the root program (internal/program.Program) as far as a
// mock can run it: the stack's config through program.ClusterArgsFromConfig
// into natsnest.NewCluster, under the same component name.
func clusterProgram(cfg map[string]string, endpoint *string) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		args, err := program.ClusterArgsFromConfig(func(key string) (string, bool) {
			v, ok := cfg[key]
			return v, ok
		})
		if err != nil {
			return err
		}
		cluster, err := natsnest.NewCluster(ctx, clusterResource, args)
		if err != nil {
			return err
		}
		cluster.PublicEndpoint.ApplyT(func(s string) string { *endpoint = s; return s })
		ctx.Export("publicEndpoint", cluster.PublicEndpoint)
		return nil
	}
}

// rootPasswordsMatch is an sshd_config Match block that lets root log in
// with a password, which the keys-only base step must overrule.
const rootPasswordsMatch = "Match User root\n\tPasswordAuthentication yes\n\tKbdInteractiveAuthentication yes\n"

// plantedUploadLink is where natsnest once staged uploads: a symbolic link
// there must not redirect one.
const plantedUploadLink = "/var/tmp/natsnest"

// serversProgram provisions natsnest.Servers onto one existing machine,
// downloading nats-server from url.
func serversProgram(f *machines.Fleet, m *machines.Machine, url, sum string, endpoint *string) pulumi.RunFunc {
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
			}},
			SSH:    natsnest.SSH{User: "root", PrivateKey: pulumi.ToSecret(pulumi.String(f.PrivateKeyPEM)).(pulumi.StringOutput)},
			Binary: natsnest.Binary{URL: pulumi.String(url), SHA256: sum},
		})
		if err != nil {
			return err
		}
		srv.PrivateEndpoint.ApplyT(func(s string) string { *endpoint = s; return s })
		return nil
	}
}

// TestProduction deploys the production programs onto four machines and
// checks what a user of natsnest relies on (docs/architecture.md §3, §3a, §3b).
func TestProduction(t *testing.T) {
	machines.Require(t)
	s := &steps{t: t}
	began := time.Now()

	cfg := stackConfig(t, clusterStack)
	nodes := 3
	if cfg["nodeCount"] != "3" {
		t.Fatalf("%s: nodeCount %q, the test expects the 3-node template", clusterStack, cfg["nodeCount"])
	}
	var zones []string
	if z := cfg["zones"]; z != "" {
		if err := json.Unmarshal([]byte(z), &zones); err != nil {
			t.Fatalf("%s: zones %s: %v", clusterStack, z, err)
		}
	}
	diskGiB := 40
	fmt.Sscan(cfg["dataDiskSize"], &diskGiB)

	s.Step("boot 4 Debian %s machines: nats-1..3 for natsnest.Cluster (zram data disks of %d GiB, found by serial number like ECS disks), edge-1 for natsnest.Servers (a loop-device data disk, named by device path)", machines.Suite, diskGiB)
	fleet := machines.New(t, machines.Options{
		Names:     []string{"nats-1", "nats-2", "nats-3", "edge-1"},
		DiskKinds: []machines.DiskKind{machines.DiskZram, machines.DiskZram, machines.DiskZram, machines.DiskLoop},
		DiskSize:  int64(diskGiB) << 30,
	})
	cl, edge := fleet.Machines[:nodes], fleet.Machines[nodes]
	logJournalsOnFailure(t, fleet, 60)
	if !fleet.DataDisks {
		t.Log(fleet.DataDiskNote)
		t.Fatalf("natsnest.Cluster finds each node's data disk by its serial number, which needs block devices in the machines; this host cannot give them any (%s)", fleet.DataDiskNote)
	}

	s.Step("build nats-server v%s for linux/amd64 (the pinned release) and serve it as a release archive on the bridge", version.NATSServer)
	rel := buildRelease(t, fleet)
	s.Verified("binary sha256 %s; %s sha256 %s", rel.BinarySHA[:16], rel.URL, rel.SHA256[:16])

	// --- (a) the production program: natsnest.Cluster ---------------------
	cfg["keyPairName"] = "natsnest-e2e"
	cfg["sshPrivateKey"] = fleet.PrivateKeyPEM
	cfg["adminPassword"] = adminPassword
	cfg["appPassword"] = appPassword
	cfg["stackSecret"] = clusterSecret
	cfg["sshCidr"] = fleet.Prefix.String()
	s.Step("plant on each Cluster machine what an admin or another local user may have left: a Match block letting root log in with a password, and %s as a symbolic link to /usr/local/sbin", plantedUploadLink)
	for _, m := range cl {
		// Retried: right after boot sshd may still be restarting (the
		// deployment's own connections retry the same way).
		// The check runs in the same session: a reloaded sshd re-executes
		// itself and refuses connections for a moment.
		plant := fmt.Sprintf("grep -qx 'Match User root' /etc/ssh/sshd_config || printf '%%s' %s >>/etc/ssh/sshd_config; systemctl reload ssh && ln -sfn /usr/local/sbin %s && sshd -T -C user=root,host=localhost,addr=127.0.0.1 | grep -E '^passwordauthentication '",
			provision.ShellQuote("\n"+rootPasswordsMatch), plantedUploadLink)
		var out string
		if err := eventually(60*time.Second, func() error { var err error; out, err = m.Run(plant); return err }); err != nil {
			t.Fatalf("%s: planting: %v", m.Name, err)
		}
		if strings.TrimSpace(out) != "passwordauthentication yes" {
			t.Fatalf("%s: the planted Match block does not turn passwords on for root: %q", m.Name, out)
		}
	}
	s.Verified("root may log in with a password on nats-1..3 (sshd -T -C user=root), and %s points at /usr/local/sbin", plantedUploadLink)

	s.Step("deploy the root program's natsnest.Cluster from %s (nodeCount %s, zones %v, publicAccess %s), binary uploaded from this machine",
		filepath.Base(clusterStack), cfg["nodeCount"], zones, cfg["publicAccess"])
	clusterMock := &ExecMock{Fleet: fleet, Logf: t.Logf, Zones: zones}
	var clusterURL string
	d1, err := clusterMock.Deploy(clusterProgram(cfg, &clusterURL))
	if err != nil {
		t.Fatalf("deploying natsnest.Cluster: %v", err)
	}
	uploads := 0
	for _, ev := range d1.Commands() {
		if ev.Type == typeCopyToRemote {
			uploads++
		}
	}
	s.Verified("natsnest.Cluster deployed in %s: %d resources, %d commands run over SSH (%d uploads); publicEndpoint %s; %s",
		d1.Took.Round(time.Second), len(d1.Events), len(d1.Commands()), uploads, clusterURL,
		firstBoot(t, d1, clusterResource+"-servers", []string{"nats-1", "nats-2", "nats-3"}))

	// --- (b) natsnest.Servers onto an existing machine, binary downloaded --
	s.Step("deploy natsnest.Servers with 1 host (%s, data disk %s) downloading nats-server from %s with its checksum", edge.Name, edge.DataDevice, rel.URL)
	edgeMock := &ExecMock{Fleet: fleet, Logf: t.Logf}
	var edgeURL string
	// Presigned, as an OSS URL is: its signature must reach the node on the
	// binary step's stdin only, and no command line or output.
	const signature = "e2e-s1gnature-0f3c"
	presigned := rel.URL + "?Signature=" + signature
	d2, err := edgeMock.Deploy(serversProgram(fleet, edge, presigned, rel.SHA256, &edgeURL))
	if err != nil {
		t.Fatalf("deploying natsnest.Servers: %v", err)
	}
	for _, ev := range d2.Commands() {
		if strings.Contains(ev.Script+ev.Stdout+ev.Stderr, signature) {
			t.Errorf("%s: the URL's signature is in the command line or the output", ev.Name)
		}
		if strings.HasSuffix(ev.Name, "-binary") && ev.Stdin != provision.BinaryPayload(presigned) {
			t.Errorf("%s: stdin %q does not carry the presigned URL", ev.Name, ev.Stdin)
		}
	}
	if hits := fleet.HTTPHits(rel.Path); hits < 1 {
		t.Errorf("%s was never downloaded (%d requests)", rel.URL, hits)
	}
	s.Verified("natsnest.Servers deployed in %s: %d commands; %s downloaded %s (%d requests) from a presigned URL whose signature was only on the binary step's stdin, in no command line or output",
		d2.Took.Round(time.Second), len(d2.Commands()), edge.Name, rel.Path, fleet.HTTPHits(rel.Path))

	// --- every node ---------------------------------------------------------
	layout := provision.DefaultLayout()
	s.Step("check every machine: natsd under systemd, its user, binary, data disk, and the files on disk against what the program rendered")
	for _, m := range fleet.Machines {
		d := d1
		wantSHA, delivery := rel.BinarySHA, "uploaded"
		if m == edge {
			d, delivery = d2, "downloaded"
		}
		st := natsdState(t, m)
		if st.Active != "active" || st.MainPID == 0 || st.User != layout.User {
			t.Errorf("%s: natsd %+v, want active, running as %s", m.Name, st, layout.User)
		}
		out := mustRun(t, m, fmt.Sprintf("sha256sum %s | cut -d' ' -f1; %s --version; findmnt -n -o SOURCE,FSTYPE %s; stat -c '%%a %%U' %s/routes.conf 2>/dev/null || echo no-routes",
			layout.Binary, layout.Binary, layout.DataMount, layout.ConfigDir))
		lines := strings.Split(out, "\n")
		if len(lines) < 4 || lines[0] != wantSHA || !strings.Contains(lines[1], "v"+version.NATSServer) {
			t.Errorf("%s: binary: %q, want sha256 %s and version %s", m.Name, out, wantSHA, version.NATSServer)
		}
		if fleet.DataDisks && (len(lines) < 3 || !strings.HasPrefix(lines[2], m.DataDevice) || !strings.Contains(lines[2], "ext4")) {
			t.Errorf("%s: %s is %q, want %s (ext4)", m.Name, layout.DataMount, lines[2], m.DataDevice)
		}
		files := renderedFiles(t, d, m.Name)
		disk := map[string]string{
			layout.ConfigPath(): files.Config,
			layout.UnitPath():   files.Unit,
		}
		if files.Routes != "" {
			disk[path.Join(layout.ConfigDir, "routes.conf")] = files.Routes
			if lines[3] != "640 root" {
				t.Errorf("%s: routes.conf (holds the route password) is %q, want mode 640 owned by root (group %s)", m.Name, lines[3], layout.Group)
			}
		}
		for p, want := range disk {
			got, err := m.Run("cat " + p)
			if err != nil {
				t.Errorf("%s: %v", m.Name, err)
			} else if got != want {
				t.Errorf("%s: %s on disk differs from what the program rendered:\n--- disk\n%s\n--- rendered\n%s", m.Name, p, got, want)
			}
		}
		for _, secret := range []string{adminPassword, appPassword} {
			if strings.Contains(files.Config, secret) {
				t.Errorf("%s: nats.conf holds a plaintext password", m.Name)
			}
		}
		s.Verified("%s: natsd active (MainPID %d, user %s), nats-server v%s %s (sha256 %s…), %s on %s ext4, nats.conf/routes.conf/natsd.service byte-identical to the rendered ones, no plaintext passwords in nats.conf",
			m.Name, st.MainPID, st.User, version.NATSServer, delivery, wantSHA[:12], layout.DataMount, m.DataDevice)
	}

	// --- a hardened node ------------------------------------------------------
	s.Step("check the hardening on every machine: systemd-analyze security natsd at most %.1f while natsd serves; on the Cluster nodes, passwords off for root despite the Match block and nothing staged through the planted link", provision.MaxUnitExposure)
	for _, m := range fleet.Machines {
		out := mustRun(t, m, "systemd-analyze security natsd --no-pager 2>&1 | tail -n 3")
		exposure, ok := provision.ParseExposure(out)
		if !ok || exposure > provision.MaxUnitExposure {
			t.Errorf("%s: systemd-analyze security natsd: %q, want at most %.1f", m.Name, out, provision.MaxUnitExposure)
		}
		if st := natsdState(t, m); st.Active != "active" {
			t.Errorf("%s: natsd %+v under the hardened unit", m.Name, st)
		}
		if m == edge {
			s.Verified("%s: natsd active, exposure %.1f", m.Name, exposure)
			continue
		}
		sshdT := mustRun(t, m, "sshd -T -C user=root,host=localhost,addr=127.0.0.1 | grep -E '^(passwordauthentication|kbdinteractiveauthentication) '")
		if sshdT != "passwordauthentication no\nkbdinteractiveauthentication no" {
			t.Errorf("%s: sshd -T for root after the base step: %q, want both off", m.Name, sshdT)
		}
		staged := mustRun(t, m, fmt.Sprintf("ls /usr/local/sbin | grep -c '^nats-server-' || true; ls %s", layout.UploadDir))
		if lines := strings.Split(staged, "\n"); lines[0] != "0" || len(lines) < 2 || !strings.HasPrefix(lines[1], "nats-server-") {
			t.Errorf("%s: /usr/local/sbin and %s hold %q: want the upload staged in %s only", m.Name, layout.UploadDir, staged, layout.UploadDir)
		}
		s.Verified("%s: natsd active, exposure %.1f; sshd -T -C user=root: passwords and keyboard-interactive off; the upload staged in %s, nothing through %s", m.Name, exposure, layout.UploadDir, plantedUploadLink)
	}

	// --- monitoring on Servers ----------------------------------------------
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

	// --- routes ---------------------------------------------------------------
	s.Step("check the cluster's routes on /routez and that the single node has none")
	for _, m := range cl {
		var r routez
		err := eventually(60*time.Second, func() error {
			if err := getJSON("http://"+m.Addr+":8222/routez", &r); err != nil {
				return err
			}
			peers := map[string]bool{}
			for _, rt := range r.Routes {
				peers[rt.RemoteName] = true
			}
			if len(peers) != nodes-1 || peers[m.Name] {
				return fmt.Errorf("routes to %v", peers)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s /routez: %v", m.Name, err)
		}
		var peers []string
		for _, rt := range r.Routes {
			if !slices.Contains(peers, rt.RemoteName) {
				peers = append(peers, rt.RemoteName)
			}
		}
		slices.Sort(peers)
		s.Verified("%s has %d routes to %v", m.Name, r.NumRoutes, peers)
	}
	var er routez
	if err := getJSON("http://"+edge.Addr+":8222/routez", &er); err != nil || er.NumRoutes != 0 {
		t.Errorf("%s /routez: %v, %d routes, want none", edge.Name, err, er.NumRoutes)
	}
	if conf := renderedFiles(t, d2, edge.Name).Config; strings.Contains(conf, "cluster") {
		t.Errorf("%s: a single node's nats.conf has a cluster block:\n%s", edge.Name, conf)
	}
	s.Verified("%s runs alone: no routes on /routez, no cluster block in its nats.conf", edge.Name)

	// --- users ----------------------------------------------------------------
	s.Step("check authentication: anonymous and wrong passwords refused, the application user and the system account's admin work")
	for _, url := range []string{clusterURL, edgeURL} {
		if nc, err := nats.Connect(url, nats.NoReconnect()); err == nil {
			nc.Close()
			t.Errorf("%s accepted an anonymous client", url)
		} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("%s: anonymous client: %v, want an authorization violation", url, err)
		}
		if nc, err := nats.Connect(url, nats.UserInfo(appUser, appPassword+"x"), nats.NoReconnect()); err == nil {
			nc.Close()
			t.Errorf("%s accepted a wrong password", url)
		}
		nc, err := nats.Connect(url, nats.UserInfo(appUser, appPassword))
		if err != nil {
			t.Fatalf("%s: application user: %v", url, err)
		}
		sub, _ := nc.SubscribeSync("e2e.hello")
		nc.Publish("e2e.hello", []byte("hi"))
		if msg, err := sub.NextMsg(5 * time.Second); err != nil || string(msg.Data) != "hi" {
			t.Errorf("%s: publish/subscribe as %s: %v", url, appUser, err)
		}
		nc.Close()
	}
	sys, err := nats.Connect(clusterURL, nats.UserInfo("admin", adminPassword))
	if err != nil {
		t.Fatalf("admin in $SYS: %v", err)
	}
	seen := map[string]bool{}
	inbox := nats.NewInbox()
	sub, _ := sys.SubscribeSync(inbox)
	sys.PublishRequest("$SYS.REQ.SERVER.PING", inbox, nil)
	for {
		msg, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			break
		}
		for _, m := range cl {
			if strings.Contains(string(msg.Data), `"name":"`+m.Name+`"`) {
				seen[m.Name] = true
			}
		}
	}
	sys.Close()
	if len(seen) != nodes {
		t.Errorf("$SYS.REQ.SERVER.PING answered by %v, want all %d nodes", seen, nodes)
	}
	s.Verified("anonymous clients and a wrong password are refused on both deployments; %s publishes and subscribes; admin in $SYS sees all %d servers", appUser, len(seen))

	// --- an R3 stream -------------------------------------------------------
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
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: streamName, Subjects: []string{"e2e.s.>"}, Replicas: nodes, Storage: jetstream.FileStorage, Duplicates: 10 * time.Minute,
	})
	if err != nil {
		t.Fatalf("creating the R3 stream: %v", err)
	}
	for i := 1; i <= 100; i++ {
		if _, err := js.Publish(ctx, "e2e.s.warmup", []byte(fmt.Sprintf("warmup-%d", i))); err != nil {
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
		for _, m := range cl {
			msgs, _, ok, err := streamOnServer(m.Addr, streamName)
			if err != nil || !ok || msgs != 100 {
				return fmt.Errorf("%s holds %d messages (replica %v, %v)", m.Name, msgs, ok, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("replication: %v", err)
	}
	s.Verified("%s accepts messages; leader %s; every node's /jsz shows its replica with 100 messages; replicas current", streamName, info.Cluster.Leader)

	// --- failover, twice: a clean power off, then a power cut -----------------
	for round, cut := range []bool{false, true} {
		failoverRound(ctx, t, s, fleet, cl, clusterURL, stream, round+1, cut)
	}
	nc.Close()

	// --- a second deployment changes nothing ------------------------------------
	s.Step("deploy both programs a second time onto the same machines, executing every command again")
	before := map[string]serviceState{}
	for _, m := range fleet.Machines {
		before[m.Name] = natsdState(t, m)
	}
	clusterMock.RerunUnchanged, edgeMock.RerunUnchanged = true, true
	d3, err := clusterMock.Deploy(clusterProgram(cfg, &clusterURL))
	if err != nil {
		t.Fatalf("second deployment of natsnest.Cluster: %v", err)
	}
	d4, err := edgeMock.Deploy(serversProgram(fleet, edge, presigned, rel.SHA256, &edgeURL))
	if err != nil {
		t.Fatalf("second deployment of natsnest.Servers: %v", err)
	}
	if len(d3.Changes)+len(d4.Changes) != 0 {
		t.Errorf("a second `pulumi up` would change: %v %v", d3.Changes, d4.Changes)
	}
	for _, m := range fleet.Machines {
		after := natsdState(t, m)
		if after != before[m.Name] {
			t.Errorf("%s: natsd %+v before the second deployment, %+v after: it was restarted", m.Name, before[m.Name], after)
		}
	}
	s.Verified("second deployment: %d + %d commands executed again, no resource input changed (a real `pulumi up` would show no diff), natsd's MainPID and NRestarts unchanged on all %d machines",
		len(d3.Commands()), len(d4.Commands()), len(fleet.Machines))

	s.Step("deploy natsnest.Servers again with a new signature of the same download URL")
	d5, err := edgeMock.Deploy(serversProgram(fleet, edge, presigned+"-renewed", rel.SHA256, &edgeURL))
	if err != nil {
		t.Fatalf("deployment with a new signature: %v", err)
	}
	if got := fmt.Sprint(d5.Changes); got != "[command:remote:Command edge-edge-1-binary]" {
		t.Errorf("a new signature changes %s, want the binary step only", got)
	}
	if after := natsdState(t, edge); after != before[edge.Name] {
		t.Errorf("%s: natsd %+v before the new signature, %+v after: it was restarted", edge.Name, before[edge.Name], after)
	}
	s.Verified("a new signature changes the binary step alone (it runs again and finds the binary installed); natsd on %s not restarted", edge.Name)

	// --- a wrong checksum ---------------------------------------------------
	s.Step("deploy natsnest.Servers with a download whose checksum does not match (a tampered archive)")
	tampered := "/nats-server-v" + version.NATSServer + "-linux-amd64-tampered.tar.gz"
	writeTarGz(t, filepath.Join(fleet.HTTPDir, tampered), "nats-server-v"+version.NATSServer+"-linux-amd64",
		[]byte("#!/bin/sh\necho 'nats-server: v"+version.NATSServer+"'\n"))
	beforeEdge := natsdState(t, edge)
	_, err = edgeMock.Deploy(serversProgram(fleet, edge, fleet.HTTPURL+tampered, rel.SHA256, &edgeURL))
	if err == nil {
		t.Fatal("a download with a wrong checksum deployed without error")
	}
	msg := strings.ToLower(err.Error())
	if !strings.Contains(msg, "checksum") && !strings.Contains(msg, "sha256") && !strings.Contains(msg, "sha-256") {
		t.Errorf("the error does not say the checksum is wrong: %v", err)
	}
	if fleet.HTTPHits(tampered) < 1 {
		t.Errorf("the tampered archive was never downloaded")
	}
	if sha := mustRun(t, edge, "sha256sum "+layout.Binary+" | cut -d' ' -f1"); sha != rel.BinarySHA {
		t.Errorf("%s: %s changed to sha256 %s after a failed checksum", edge.Name, layout.Binary, sha)
	}
	if st := natsdState(t, edge); st != beforeEdge {
		t.Errorf("%s: natsd %+v before, %+v after the failed deployment", edge.Name, beforeEdge, st)
	}
	s.Verified("the deployment failed with %q; %s still runs the previous binary (sha256 %s…), natsd untouched (MainPID %d)",
		firstErrLine(err), edge.Name, rel.BinarySHA[:12], beforeEdge.MainPID)

	t.Logf("e2e: everything above verified in %s", time.Since(began).Round(time.Second))
}

// failoverRound takes the machine that leads the stream away — a clean power
// off (systemd stops natsd with lame duck mode) or a power cut (every
// process killed at once) — while a publisher connected to that very machine
// keeps publishing, then checks the failover, that no acknowledged message is
// lost, and that the machine, booted again, catches up.
func failoverRound(ctx context.Context, t *testing.T, s *steps, fleet *machines.Fleet, cl []*machines.Machine, clusterURL string, stream jetstream.Stream, round int, cut bool) {
	t.Helper()
	info, err := streamInfo(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	oldLeader := info.Cluster.Leader
	leaderMachine := fleet.Machine(oldLeader)
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
		for _, m := range cl {
			msgs, last, ok, err := streamOnServer(m.Addr, streamName)
			state = append(state, fmt.Sprintf("%s: %d msgs up to %d (replica %v, %v)", m.Name, msgs, last, ok, err))
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
