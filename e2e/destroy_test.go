package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/cloud"
)

// keptStream is the stream the destroy scenario publishes to.
const (
	keptStream  = "KEPT"
	keptSubject = "kept.m"
)

// destroyStack is the destroy scenario (issue 16, e): `pulumi destroy` of a
// stack on the emulated cloud while a publisher writes to a stream with a
// replica on every node. The engine deletes every resource; the cloud is
// left holding the data disks only (natsnest retains them unless
// DeleteDataDisksOnDestroy); no disk was detached while mounted or under a
// running natsd (the leave steps drain every node first). Then each retained disk is mounted read-only on this
// host and every acknowledged message is looked for in the stream's block
// files: it must be on a majority of the disks, as JetStream acknowledged it
// only once a majority of replicas stored it.
func destroyStack(ctx context.Context, t *testing.T, st auto.Stack, c *cloud.Cloud, backend *cloud.Machines, url, user, password string, replicas int) {
	t.Helper()
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := eventually(time.Minute, func() error {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := js.CreateStream(attempt, jetstream.StreamConfig{Name: keptStream, Subjects: []string{"kept.>"}, Replicas: replicas, Storage: jetstream.FileStorage})
		return err
	}); err != nil {
		t.Fatalf("creating the stream %s: %v", keptStream, err)
	}
	pub := startOpsPublisher(js, keptSubject)
	defer pub.stop()
	if err := eventually(time.Minute, func() error {
		if a, _, _ := pub.figures(); a < 500 {
			return fmt.Errorf("%d acknowledged", a)
		}
		return nil
	}); err != nil {
		t.Fatalf("publisher: %v", err)
	}

	t.Logf("step: (e) pulumi destroy while the publisher writes to %s (R%d: a replica on every node that goes)", keptStream, replicas)
	log := collectSteps()
	res, err := st.Destroy(ctx, optdestroy.SuppressProgress(), optdestroy.EventStreams(log.ch))
	ops := log.result()
	pub.stop()
	if err != nil {
		t.Fatalf("destroy: %v", err)
	}
	t.Logf("step: destroy: the engine's change summary %v", res.Summary.ResourceChanges)
	for name, o := range ops {
		if lastOp(o) != apitype.OpDelete {
			t.Errorf("destroy: %s: %v, want delete", name, o)
		}
	}
	var disks []string
	for _, obj := range c.Live() {
		token, id, _ := strings.Cut(obj, " ")
		if token != "alicloud:ecs/ecsDisk:EcsDisk" {
			t.Errorf("destroy left %s %s in the cloud: only the retained data disks may stay", token, id)
			continue
		}
		disks = append(disks, id)
	}
	if len(disks) != replicas {
		t.Errorf("destroy left %d data disks (%v), want one per node (%d)", len(disks), disks, replicas)
	}
	if rec := c.DetachedWhileMounted(); len(rec) > 0 {
		t.Errorf("destroy detached disks from under a running store: %q", rec)
	} else {
		t.Logf("verified: every disk was detached unmounted, natsd stopped (the emulated cloud's record of disks detached while mounted is empty)")
	}

	// Every acknowledged payload, looked for on the retained disks.
	found := onRetainedDisks(t, backend, disks, keptStream, keptSubject)
	quorum := replicas/2 + 1
	pub.mu.Lock()
	defer pub.mu.Unlock()
	missing, read := 0, 0
	for _, m := range pub.acked {
		if found[m] >= quorum {
			read++
		} else {
			missing++
		}
	}
	t.Logf("verified: (e) destroy: %d messages acknowledged, %d of them read back from the stores (block files or Raft log) of at least %d of the %d retained disks, %d missing",
		len(pub.acked), read, quorum, len(disks), missing)
	if missing > 0 {
		t.Errorf("%d acknowledged messages are on fewer than %d retained disks", missing, quorum)
	}
}

// onRetainedDisks mounts each of the disks — retained, detached — read-only
// on this host and counts, per payload the opsPublisher gave subject's
// messages, how many of the disks hold it in stream's store: its block files,
// or the Raft log of a stream group ($SYS/_js_/S-*/msgs). A follower
// acknowledges an entry to the leader once it is in its Raft log, and applies
// it to the stream's blocks only when it learns the entry committed, so an
// acknowledged message that reached a quorum may be in the blocks of the
// leader alone and in the Raft log of the others; nats-server applies that
// log when it starts on the disk again.
func onRetainedDisks(t *testing.T, backend *cloud.Machines, disks []string, stream, subject string) map[string]int {
	t.Helper()
	pattern := strings.ReplaceAll(subject, ".", "-") + `-[0-9]\{7\}`
	found := map[string]int{}
	for _, id := range disks {
		d := backend.Disk(id)
		if d == nil || d.On() != "" {
			t.Fatalf("retained disk %s: %+v, want a detached block device", id, d)
		}
		dir := filepath.Join(t.TempDir(), id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := runHost("mount", "-o", "ro", d.Device, dir); err != nil {
			t.Fatalf("mounting retained disk %s (%s): %v\n%s", id, d.Device, err, out)
		}
		grep := func(path string) (map[string]bool, error) {
			out, err := runHost("sh", "-c", fmt.Sprintf("find %s -path '%s' -exec grep -aoh '%s' {} + | sort -u", dir, path, pattern))
			if err != nil {
				return nil, fmt.Errorf("%v\n%s", err, out)
			}
			ids := map[string]bool{}
			for _, l := range strings.Fields(out) {
				ids[l] = true
			}
			return ids, nil
		}
		blocks, berr := grep("*/streams/" + stream + "/msgs/*.blk")
		log, lerr := grep("*/_js_/S-*/msgs/*.blk")
		if out, uerr := runHost("umount", dir); uerr != nil {
			t.Errorf("unmounting %s: %v\n%s", dir, uerr, out)
		}
		if err := errors.Join(berr, lerr); err != nil {
			t.Fatalf("reading the store on disk %s: %v", id, err)
		}
		onlyLog := 0
		for m := range log {
			if !blocks[m] {
				blocks[m] = true
				onlyLog++
			}
		}
		for m := range blocks {
			found[m]++
		}
		t.Logf("retained disk %s: %d distinct messages of %s in its store (%d of them in its Raft log only, not yet applied to the block files)", id, len(blocks), stream, onlyLog)
	}
	return found
}

// runHost runs a command on this host (mounting a retained disk).
func runHost(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
