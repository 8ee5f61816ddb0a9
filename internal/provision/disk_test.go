package provision

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

type diskCase struct {
	fixture string
	sel     DiskSelector
	device  string // want; "" when an error is wanted
	fstype  string
	err     error
}

var diskCases = []diskCase{
	{"virtio-fresh", DiskSelector{Serial: "d-bp1hf7y6oek8nqs1amd4"}, "/dev/vdb", "", nil},
	{"virtio-fresh", DiskSelector{Serial: "bp1hf7y6oek8nqs1amd4"}, "/dev/vdb", "", nil},
	{"virtio-fresh", DiskSelector{Serial: " d-bp1hf7y6oek8nqs1amd4 "}, "/dev/vdb", "", nil},
	{"virtio-fresh", DiskSelector{Serial: "d-bp1hf7y6oek8nqs1amd4xy"}, "/dev/vdb", "", nil}, // virtio keeps 20 characters
	{"virtio-fresh", DiskSelector{Device: "/dev/vdb"}, "/dev/vdb", "", nil},
	{"virtio-fresh", DiskSelector{Device: "vdb"}, "/dev/vdb", "", nil},
	{"virtio-fresh", DiskSelector{}, "/dev/vdb", "", nil},
	{"virtio-fresh", DiskSelector{Serial: "d-bp1hf7y6oek8nqs1amd4", Device: "/dev/vda"}, "/dev/vdb", "", nil}, // serial wins
	{"virtio-fresh", DiskSelector{Serial: "d-bp1d7dk8mjkd9g2w0e5q"}, "", "", ErrUnsafeDataDisk},               // the system disk
	{"virtio-fresh", DiskSelector{Serial: "d-bp1zzzzzzzzzzzzzzzzz"}, "", "", ErrNoDataDisk},
	{"virtio-fresh", DiskSelector{Device: "/dev/vdz"}, "", "", ErrNoDataDisk},
	{"virtio-fresh", DiskSelector{Device: "/dev/vda1"}, "", "", ErrNoDataDisk}, // a partition is not a disk
	{"virtio-fresh", DiskSelector{Device: "/dev/vda"}, "", "", ErrUnsafeDataDisk},
	{"virtio-mounted", DiskSelector{}, "/dev/vdb", "ext4", nil},
	{"virtio-mounted", DiskSelector{Serial: "d-bp1hf7y6oek8nqs1amd4"}, "/dev/vdb", "ext4", nil},
	{"virtio-reattached", DiskSelector{}, "/dev/vdb", "ext4", nil},
	{"virtio-reattached", DiskSelector{Serial: "d-bp1hf7y6oek8nqs1amd4"}, "/dev/vdb", "ext4", nil},
	{"virtio-two-blank", DiskSelector{}, "", "", ErrAmbiguousDataDisk},
	{"virtio-two-blank", DiskSelector{Serial: "d-bp1c2xk0e7lq3vzm5t9u"}, "/dev/vdc", "", nil},
	{"virtio-two-blank", DiskSelector{Device: "/dev/vdb"}, "/dev/vdb", "", nil},
	{"virtio-partitioned", DiskSelector{Serial: "d-bp1hf7y6oek8nqs1amd4"}, "", "", ErrUnsafeDataDisk},
	{"virtio-partitioned", DiskSelector{Device: "/dev/vdb"}, "", "", ErrUnsafeDataDisk},
	{"virtio-partitioned", DiskSelector{}, "", "", ErrNoDataDisk},
	{"virtio-xfs", DiskSelector{Serial: "d-bp1hf7y6oek8nqs1amd4"}, "", "", ErrUnsafeDataDisk},
	{"virtio-xfs", DiskSelector{}, "", "", ErrNoDataDisk},
	{"virtio-mounted-elsewhere", DiskSelector{Serial: "d-bp1hf7y6oek8nqs1amd4"}, "", "", ErrUnsafeDataDisk},
	{"virtio-mounted-elsewhere", DiskSelector{}, "", "", ErrNoDataDisk},
	{"virtio-system-only", DiskSelector{}, "", "", ErrNoDataDisk},
	{"virtio-system-only", DiskSelector{Serial: "d-bp1hf7y6oek8nqs1amd4"}, "", "", ErrNoDataDisk},
	{"nvme-fresh", DiskSelector{Serial: "d-bp1hf7y6oek8nqs1amd4"}, "/dev/nvme1n1", "", nil},
	{"nvme-fresh", DiskSelector{Serial: "bp1hf7y6oek8nqs1amd4"}, "/dev/nvme1n1", "", nil},
	{"nvme-fresh", DiskSelector{}, "/dev/nvme1n1", "", nil},
	{"nvme-fresh", DiskSelector{Serial: "d-bp1d7dk8mjkd9g2w0e5q"}, "", "", ErrUnsafeDataDisk},
	{"nvme-mounted-plus-blank", DiskSelector{}, "/dev/nvme1n1", "ext4", nil}, // the one at /data, not the new blank one
	{"nvme-mounted-plus-blank", DiskSelector{Serial: "d-bp1c2xk0e7lq3vzm5t9u"}, "/dev/nvme2n1", "", nil},
	{"loop", DiskSelector{Device: "/dev/loop0"}, "/dev/loop0", "", nil},
	{"loop", DiskSelector{}, "", "", ErrNoDataDisk}, // swap on zram, a cdrom, the system disk; loops only by name
	{"loop", DiskSelector{Device: "/dev/sr0"}, "", "", ErrNoDataDisk},
	{"odd-serial", DiskSelector{Serial: "WD-WX1 \"$x`"}, "/dev/sdb", "", nil},
	{"odd-serial", DiskSelector{}, "/dev/sdb", "", nil},
	{"real-util-linux-2.38", DiskSelector{}, "", "", ErrNoDataDisk},
	{"real-util-linux-2.38", DiskSelector{Device: "/dev/loop0"}, "/dev/loop0", "", nil},
}

func loadFixture(t *testing.T, name string) []BlockDevice {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "lsblk", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	devs, err := ParseLsblkJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	return devs
}

func TestFindDataDisk(t *testing.T) {
	for _, c := range diskCases {
		t.Run(c.fixture+"/"+describeSel(c.sel), func(t *testing.T) {
			got, err := FindDataDisk(loadFixture(t, c.fixture), c.sel)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("got %+v, %v; want error %v", got, err, c.err)
				}
				return
			}
			if err != nil || got.Device != c.device || got.FSType != c.fstype {
				t.Fatalf("got %+v, %v; want %s with filesystem %q", got, err, c.device, c.fstype)
			}
		})
	}
}

func describeSel(s DiskSelector) string {
	switch {
	case s.Serial != "" && s.Device != "":
		return "serial=" + strconv.Quote(s.Serial) + ",device=" + s.Device
	case s.Serial != "":
		return "serial=" + strconv.Quote(s.Serial)
	case s.Device != "":
		return "device=" + s.Device
	}
	return "auto"
}

// The -P form, as the node reads it, parses to the same devices as -J.
func TestLsblkPairsMatchJSON(t *testing.T) {
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "lsblk", "*.json"))
	if len(fixtures) < 10 {
		t.Fatalf("only %d fixtures", len(fixtures))
	}
	for _, f := range fixtures {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		devs := loadFixture(t, name)
		back, err := ParseLsblkPairs([]byte(FormatLsblkPairs(devs)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(back, devs) {
			t.Errorf("%s: pairs round trip\n got %+v\nwant %+v", name, back, devs)
		}
	}
	// Output of a real lsblk (util-linux 2.38.1, Debian 12), in both forms.
	pairs, err := os.ReadFile(filepath.Join("testdata", "lsblk", "real-util-linux-2.38.pairs"))
	if err != nil {
		t.Fatal(err)
	}
	fromPairs, err := ParseLsblkPairs(pairs)
	if err != nil {
		t.Fatal(err)
	}
	if fromJSON := loadFixture(t, "real-util-linux-2.38"); !reflect.DeepEqual(fromPairs, fromJSON) {
		t.Errorf("real lsblk: -P gives %+v, -J gives %+v", fromPairs, fromJSON)
	}
	if string(pairs) != FormatLsblkPairs(fromPairs) {
		t.Errorf("FormatLsblkPairs does not reproduce real lsblk -P output:\n%s\nvs\n%s", FormatLsblkPairs(fromPairs), pairs)
	}
}

func TestLsblkPairsEscapes(t *testing.T) {
	devs, err := ParseLsblkPairs([]byte(`NAME="sdb" TYPE="disk" SIZE="1" SERIAL="a\x20b\x22c\x24d\x60e\x5cf" FSTYPE="" UUID="" MOUNTPOINT="/mnt/with\x20space" PKNAME=""` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if devs[0].Serial != "a b\"c$d`e\\f" || devs[0].MountPoint != "/mnt/with space" {
		t.Fatalf("got %+v", devs[0])
	}
	if _, err := ParseLsblkPairs([]byte(`NAME="x" SERIAL="\q"`)); err == nil {
		t.Error("bad escape accepted")
	}
}

// discoverScript runs the node's find_data_disk, the very fragment the disk
// step embeds, and prints its result.
func discoverScript(t *testing.T, sel DiskSelector) string {
	t.Helper()
	return render("disk", "test: discovery only", []variable{
		{"DATA_SERIAL", sel.Serial},
		{"DATA_DEVICE", sel.Device},
		{"DATA_MOUNT", DataMount},
	}, "disklib") + `
rc=0
find_data_disk || rc=$?
printf 'rc=%s dev=%s fstype=%s\n' "$rc" "$DATA_DEV" "$DATA_FSTYPE"
`
}

func TestDiskStepEmbedsTheTestedDiscovery(t *testing.T) {
	s, err := DiskScript(DefaultLayout(), DiskOptions{Selector: DiskSelector{Serial: "d-x"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, fragment("disklib")) {
		t.Fatal("the disk step does not contain the discovery that the tests run")
	}
}

// fakeLsblk puts an lsblk on PATH that prints the given -P output, and only
// for the arguments the script is meant to use.
func fakeLsblk(t *testing.T, pairs string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "out"), []byte(pairs), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\n[ \"$*\" = '-P -b -o %s' ] || { echo \"fake lsblk: unexpected arguments: $*\" >&2; exit 64; }\ncat %s\n", LsblkColumns, ShellQuote(filepath.Join(dir, "out")))
	if err := os.WriteFile(filepath.Join(dir, "lsblk"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The shell twin chooses what the Go specification chooses, fails where it
// fails, with the same class of error, on every fixture.
func TestShellDiscoveryMatchesGo(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is missing")
	}
	for _, c := range diskCases {
		t.Run(c.fixture+"/"+describeSel(c.sel), func(t *testing.T) {
			var pairs string
			if data, err := os.ReadFile(filepath.Join("testdata", "lsblk", c.fixture+".pairs")); err == nil {
				pairs = string(data) // real lsblk output
			} else {
				pairs = FormatLsblkPairs(loadFixture(t, c.fixture))
			}
			dir := fakeLsblk(t, pairs)
			cmd := exec.Command("bash", "-c", discoverScript(t, c.sel))
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			goDisk, goErr := FindDataDisk(loadFixture(t, c.fixture), c.sel)
			want := fmt.Sprintf("rc=%d dev=%s fstype=%s\n", DiskExitCode(goErr), goDisk.Device, goDisk.FSType)
			if string(out) != want {
				t.Fatalf("shell: %sGo:    %s(Go error: %v; shell stderr: %s)", out, want, goErr, stderr.String())
			}
			if goErr != nil {
				var sentinel error
				for _, e := range []error{ErrNoDataDisk, ErrAmbiguousDataDisk, ErrUnsafeDataDisk} {
					if errors.Is(goErr, e) {
						sentinel = e
					}
				}
				if !strings.Contains(stderr.String(), sentinel.Error()) {
					t.Errorf("shell error %q does not say %q", stderr.String(), sentinel)
				}
			}
		})
	}
}
