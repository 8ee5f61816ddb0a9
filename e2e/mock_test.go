package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-alicloud/sdk/v3/go/alicloud/ecs"
	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
)

// TestExecMock proves the executing mock on one machine with hand-written
// resources: real stdout and stderr, stdin, environment as sshd treats it,
// ordering by DependsOn and by data, parallelism, failures with stderr that
// stop dependents, CopyToRemote's three sources, ECS instances and disks
// resolving to the machine, and redeployment with and without changes.
func TestExecMock(t *testing.T) {
	fleet := machines.New(t, machines.Options{Names: []string{"mock-1"}, DiskKinds: []machines.DiskKind{machines.DiskZram}})
	mach := fleet.Machines[0]
	mock := &ExecMock{Fleet: fleet, Logf: t.Logf}

	local := t.TempDir()
	if err := os.WriteFile(filepath.Join(local, "file.txt"), []byte("file asset\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(local, "tree")
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "x"), []byte("x\n"), 0o644)

	var instIP, hostOut, serialOut string
	program := func(extra string) pulumi.RunFunc {
		return func(ctx *pulumi.Context) error {
			inst, err := ecs.NewInstance(ctx, "inst", &ecs.InstanceArgs{HostName: pulumi.String("mock-1"), InstanceType: pulumi.String("ecs.g7.large"), ImageId: pulumi.String("debian_12"), SecurityGroups: pulumi.StringArray{pulumi.String("sg-1")}})
			if err != nil {
				return err
			}
			disk, err := ecs.NewEcsDisk(ctx, "disk", &ecs.EcsDiskArgs{ZoneId: pulumi.String("z"), Size: pulumi.Int(20)})
			if err != nil {
				return err
			}
			attach, err := ecs.NewEcsDiskAttachment(ctx, "attach", &ecs.EcsDiskAttachmentArgs{DiskId: disk.ID(), InstanceId: inst.ID()})
			if err != nil {
				return err
			}
			conn := remote.ConnectionArgs{
				Host:       inst.PrivateIp,
				User:       pulumi.String("root"),
				PrivateKey: pulumi.ToSecret(pulumi.String(fleet.PrivateKeyPEM)).(pulumi.StringOutput),
				HostKey:    pulumi.String(mach.HostKeyLine),
			}
			a, err := remote.NewCommand(ctx, "a", &remote.CommandArgs{Connection: conn,
				Create: pulumi.String("sleep 2; date +%s.%N >/tmp/a; hostname; echo to-stderr >&2")})
			if err != nil {
				return err
			}
			_, err = remote.NewCommand(ctx, "b-after-a", &remote.CommandArgs{Connection: conn,
				Create: pulumi.String("cat /tmp/a")}, pulumi.DependsOn([]pulumi.Resource{a}))
			if err != nil {
				return err
			}
			_, err = remote.NewCommand(ctx, "c-independent", &remote.CommandArgs{Connection: conn,
				Create: pulumi.String("test ! -e /tmp/a && echo ran-before-a-finished || echo ran-after-a")})
			if err != nil {
				return err
			}
			_, err = remote.NewCommand(ctx, "d-data", &remote.CommandArgs{Connection: conn,
				Create: a.Stdout.ApplyT(func(s string) string { return "echo 'a said: " + strings.ReplaceAll(s, "\n", " ") + "'" }).(pulumi.StringOutput)})
			if err != nil {
				return err
			}
			_, err = remote.NewCommand(ctx, "e-stdin-env", &remote.CommandArgs{Connection: conn,
				Stdin:       pulumi.ToSecret(pulumi.String("secret-on-stdin")).(pulumi.StringOutput),
				Environment: pulumi.StringMap{"NATSNEST_SECRET": pulumi.String("in-env")},
				Create:      pulumi.String(`printf 'stdin=%s env=%s' "$(cat)" "${NATSNEST_SECRET-dropped-by-sshd}"`)})
			if err != nil {
				return err
			}
			serial, err := remote.NewCommand(ctx, "f-serial", &remote.CommandArgs{Connection: conn,
				Create: pulumi.String("lsblk -n -d -o SERIAL " + mach.DataDevice)}, pulumi.DependsOn([]pulumi.Resource{attach}))
			if err != nil {
				return err
			}
			cps := []struct {
				name string
				src  pulumi.AssetOrArchiveInput
				dest string
			}{
				{"copy-file", pulumi.NewFileAsset(filepath.Join(local, "file.txt")), "/tmp/file.txt"},
				{"copy-text", pulumi.NewStringAsset("text asset\n"), "/tmp/text.txt"},
				{"copy-dir", pulumi.NewFileArchive(dir), "/tmp/dest"},
			}
			var copies []pulumi.Resource
			for _, c := range cps {
				cp, err := remote.NewCopyToRemote(ctx, c.name, &remote.CopyToRemoteArgs{Connection: conn, Source: c.src, RemotePath: pulumi.String(c.dest)})
				if err != nil {
					return err
				}
				copies = append(copies, cp)
			}
			check, err := remote.NewCommand(ctx, "g-copied", &remote.CommandArgs{Connection: conn,
				Create: pulumi.String("cat /tmp/file.txt /tmp/text.txt /tmp/dest/tree/sub/x" + extra)}, pulumi.DependsOn(copies))
			if err != nil {
				return err
			}
			inst.PrivateIp.ApplyT(func(s string) string { instIP = s; return s })
			check.Stdout.ApplyT(func(s string) string { hostOut = s; return s })
			serial.Stdout.ApplyT(func(s string) string { serialOut = s; return s })
			return nil
		}
	}

	d, err := mock.Deploy(program(""))
	if err != nil {
		t.Fatal(err)
	}
	if instIP != mach.Addr {
		t.Errorf("instance privateIp = %q, want the machine's %s", instIP, mach.Addr)
	}
	a, b, c, dd, e := d.Find("a"), d.Find("b-after-a"), d.Find("c-independent"), d.Find("d-data"), d.Find("e-stdin-env")
	if a.Stdout != "mock-1" || a.Stderr != "to-stderr" {
		t.Errorf("a: stdout %q stderr %q, want the machine's hostname and to-stderr", a.Stdout, a.Stderr)
	}
	if b.Start < a.End || dd.Start < a.End {
		t.Errorf("b (DependsOn a) or d (uses a's stdout) started before a finished: a ended %s, b started %s, d started %s", a.End, b.Start, dd.Start)
	}
	if c.Stdout != "ran-before-a-finished" || c.End > a.End {
		t.Errorf("c (independent) did not run while a ran: %q, c ended %s, a ended %s", c.Stdout, c.End, a.End)
	}
	if dd.Stdout != "a said: mock-1" {
		t.Errorf("d: %q", dd.Stdout)
	}
	if e.Stdout != "stdin=secret-on-stdin env=dropped-by-sshd" {
		t.Errorf("e: %q (stdin must arrive; sshd drops environment it does not accept, as with the real provider)", e.Stdout)
	}
	if want := strings.TrimPrefix(d.Find("disk").Name, ""); serialOut == "" || !strings.HasPrefix(serialOut, "d-e2e") {
		t.Errorf("data disk serial after attachment = %q (%s)", serialOut, want)
	}
	if hostOut != "file asset\ntext asset\nx" {
		t.Errorf("copied files: %q", hostOut)
	}
	t.Logf("verified: instance resolves to %s; stdout/stderr real; DependsOn and data dependencies order commands (a %s–%s, b from %s, d from %s); independent ones run in parallel; stdin arrives, environment is dropped by sshd; disk attachment gives serial %s; CopyToRemote file, text and directory",
		instIP, a.Start.Round(1e7), a.End.Round(1e7), b.Start.Round(1e7), dd.Start.Round(1e7), serialOut)

	// Redeploying unchanged: a real `pulumi up` changes nothing.
	d, err = mock.Deploy(program(""))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changes) != 0 {
		t.Errorf("unchanged redeploy would change %v", d.Changes)
	}
	for _, ev := range d.Commands() {
		if ev.Op != "same" {
			t.Errorf("%s ran (%s) on an unchanged redeploy", ev.Name, ev.Op)
		}
	}
	if hostOut != "file asset\ntext asset\nx" {
		t.Errorf("unchanged command lost its stdout: %q", hostOut)
	}
	// A change updates exactly what changed.
	d, err = mock.Deploy(program(" /etc/hostname"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changes) != 1 || d.Changes[0] != "command:remote:Command g-copied" || d.Find("g-copied").Op != "update" {
		t.Errorf("changes = %v, g-copied %s", d.Changes, d.Find("g-copied").Op)
	}
	t.Log("verified: an unchanged redeploy changes and runs nothing; a changed command is updated alone")

	// A failing command fails the deployment with its stderr; what depends on it never runs.
	_, err = mock.Deploy(func(ctx *pulumi.Context) error {
		conn := remote.ConnectionArgs{Host: pulumi.String(mach.Addr), PrivateKey: pulumi.String(fleet.PrivateKeyPEM)}
		bad, err := remote.NewCommand(ctx, "bad", &remote.CommandArgs{Connection: conn, Create: pulumi.String("echo boom-on-stderr >&2; exit 3")})
		if err != nil {
			return err
		}
		_, err = remote.NewCommand(ctx, "after-bad", &remote.CommandArgs{Connection: conn, Create: pulumi.String("touch /tmp/after-bad")},
			pulumi.DependsOn([]pulumi.Resource{bad}))
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "boom-on-stderr") || !strings.Contains(err.Error(), "exited with status 3") {
		t.Errorf("failing command: error %v, want its stderr and exit status", err)
	}
	if out, _ := mach.Run("test -e /tmp/after-bad && echo ran || echo not-run"); strings.TrimSpace(out) != "not-run" {
		t.Error("a command depending on a failed one ran")
	}
	// The mock connects only to the fleet's machines.
	_, err = mock.Deploy(func(ctx *pulumi.Context) error {
		_, err := remote.NewCommand(ctx, "elsewhere", &remote.CommandArgs{
			Connection: remote.ConnectionArgs{Host: pulumi.String("203.0.113.1"), PrivateKey: pulumi.String(fleet.PrivateKeyPEM)},
			Create:     pulumi.String("true")})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "refusing to connect") {
		t.Errorf("connection outside the fleet: %v", err)
	}
	t.Log("verified: a failing command fails the deployment with its exit status and stderr and stops its dependents; connections outside the fleet are refused before dialing")
}

// firstBoot stays here while production_test.go still deploys through the mock.
// firstBoot checks the steps that bring new hosts up: each host's start
// step started natsd, and its service step, which rolls changes one host
// after the other, was created and ran nothing. It says how long the start
// steps took, which run in parallel, and how long the chain of service
// steps took, which run one after the other.
func firstBoot(t *testing.T, d *Deployment, prefix string, names []string) string {
	t.Helper()
	var starts []string
	var chainStart, chainEnd time.Duration
	for _, name := range names {
		st := d.Find(fmt.Sprintf("%s-%s-%s", prefix, name, provision.StepStart))
		sv := d.Find(fmt.Sprintf("%s-%s-%s", prefix, name, provision.StepService))
		if st == nil || sv == nil {
			t.Fatalf("%s: no start or service step", name)
		}
		if !strings.Contains(st.Stdout, "natsd started,") {
			t.Errorf("%s: the start step did not start natsd:\n%s%s", name, st.Stdout, st.Stderr)
		}
		if sv.Op != "create" || sv.Script != "" {
			t.Errorf("%s: the service step was %s and ran %q, want created, running nothing", name, sv.Op, firstLines(sv.Script, 2))
		}
		if sv.Start < st.End {
			t.Errorf("%s: the service step began before the start step had finished", name)
		}
		starts = append(starts, (st.End - st.Start).Round(10*time.Millisecond).String())
		if chainStart == 0 || sv.Start < chainStart {
			chainStart = sv.Start
		}
		chainEnd = max(chainEnd, sv.End)
	}
	return fmt.Sprintf("start steps (in parallel) took %s; the chain of %d service steps, created running nothing, %s",
		strings.Join(starts, " "), len(names), (chainEnd - chainStart).Round(time.Millisecond))
}
