package provision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// LsblkColumns are the columns the node's disk discovery asks lsblk for, in
// bytes (-b). The node runs `lsblk -P -b -o LsblkColumns`; the Go parsers
// accept that output and `lsblk -J -b -o LsblkColumns`.
const LsblkColumns = "NAME,TYPE,SIZE,SERIAL,FSTYPE,UUID,MOUNTPOINT,PKNAME"

// BlockDevice is one line of lsblk: a disk, a partition, a loop device, ...
type BlockDevice struct {
	Name       string // kernel name, e.g. "vdb", "nvme1n1"
	Type       string // "disk", "part", "loop", "rom", ...
	Size       int64  // bytes
	Serial     string
	FSType     string // as lsblk reports it; empty when none (or when lsblk cannot tell)
	UUID       string
	MountPoint string
	Parent     string // PKNAME: the device this one is a child of
}

// DiskSelector says how to find the data disk. Serial wins over Device;
// neither means: the single disk that can only be the data disk.
type DiskSelector struct {
	// Serial is the disk's serial number. On Alibaba Cloud ECS it is the
	// disk ID ("d-bp1..."), which the node shows with or without the "d-"
	// prefix (virtio-blk also cuts serials to 20 characters).
	Serial string
	// Device is a device path such as /dev/vdb or /dev/loop3.
	Device string
}

// DataDisk is the disk discovery chose.
type DataDisk struct {
	Device string // "/dev/vdb"
	FSType string // "" when the disk has no filesystem and may be formatted
	UUID   string
	Size   int64
}

// DataMount is where the data disk is mounted.
const DataMount = "/data"

// Errors of FindDataDisk. The node's script prints the same texts and
// exits with DiskExitCode of the error, so tests can compare both.
var (
	ErrNoDataDisk        = errors.New("no data disk found")
	ErrAmbiguousDataDisk = errors.New("more than one disk could be the data disk")
	ErrUnsafeDataDisk    = errors.New("refusing to use the disk")
)

// DiskExitCode is the exit status of the node's find_data_disk for an error
// of FindDataDisk: 2 not found (the script waits and retries), 3 ambiguous,
// 4 unsafe, 1 anything else.
func DiskExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrNoDataDisk):
		return 2
	case errors.Is(err, ErrAmbiguousDataDisk):
		return 3
	case errors.Is(err, ErrUnsafeDataDisk):
		return 4
	}
	return 1
}

// virtioSerialMax is how many bytes of a serial virtio-blk passes on.
const virtioSerialMax = 20

// NormalizeSerial strips what differs between a disk ID and what the node
// shows: surrounding blanks and the "d-" prefix.
func NormalizeSerial(s string) string {
	return strings.TrimPrefix(strings.TrimSpace(s), "d-")
}

// SerialMatches reports whether a device serial belongs to the wanted disk ID.
func SerialMatches(deviceSerial, want string) bool {
	d, w := NormalizeSerial(deviceSerial), NormalizeSerial(want)
	if d == "" || w == "" {
		return false
	}
	return d == w || (len(w) > virtioSerialMax && d == w[:virtioSerialMax])
}

// FindDataDisk chooses the data disk from lsblk's devices. It is the
// specification of the node's find_data_disk (same rule, same fixtures in
// the tests):
//
//   - by Serial: the one whole disk whose serial matches;
//   - by Device: that device, a whole disk or a loop device;
//   - otherwise: among whole disks that are not zram/ram devices, not empty,
//     have no children (partitions, LVM, ...), are not mounted anywhere but
//     DataMount and carry no filesystem other than ext4, the one mounted at
//     DataMount, or else the only one.
//
// The chosen disk must have no children (a partition table means someone
// else's disk), must not be mounted anywhere but DataMount, and must carry
// no filesystem other than ext4 — natsnest formats only a disk with no
// filesystem at all, and mounts only ext4.
func FindDataDisk(devs []BlockDevice, sel DiskSelector) (DataDisk, error) {
	children := map[string][]string{}
	for _, d := range devs {
		if d.Parent != "" {
			children[d.Parent] = append(children[d.Parent], d.Name)
		}
	}
	var chosen *BlockDevice
	switch {
	case NormalizeSerial(sel.Serial) != "":
		var found []string
		for i, d := range devs {
			if d.Type == "disk" && SerialMatches(d.Serial, sel.Serial) {
				if chosen == nil {
					chosen = &devs[i]
				}
				found = append(found, d.Name)
			}
		}
		if len(found) == 0 {
			return DataDisk{}, fmt.Errorf("%w: no disk has serial %s (disks: %s)", ErrNoDataDisk, sel.Serial, describeDisks(devs))
		}
		if len(found) > 1 {
			return DataDisk{}, fmt.Errorf("%w: serial %s matches %s", ErrAmbiguousDataDisk, sel.Serial, strings.Join(found, " "))
		}
	case sel.Device != "":
		name := strings.TrimPrefix(sel.Device, "/dev/")
		for i, d := range devs {
			if d.Name == name && (d.Type == "disk" || d.Type == "loop") {
				chosen = &devs[i]
				break
			}
		}
		if chosen == nil {
			return DataDisk{}, fmt.Errorf("%w: no disk or loop device %s (disks: %s)", ErrNoDataDisk, sel.Device, describeDisks(devs))
		}
	default:
		var candidates []int
		mounted := -1
		for i, d := range devs {
			if d.Type != "disk" || d.Size <= 0 || strings.HasPrefix(d.Name, "zram") || strings.HasPrefix(d.Name, "ram") ||
				len(children[d.Name]) > 0 || (d.MountPoint != "" && d.MountPoint != DataMount) ||
				(d.FSType != "" && d.FSType != "ext4") {
				continue
			}
			candidates = append(candidates, i)
			if d.MountPoint == DataMount {
				mounted = i
			}
		}
		switch {
		case mounted >= 0:
			chosen = &devs[mounted]
		case len(candidates) == 1:
			chosen = &devs[candidates[0]]
		case len(candidates) == 0:
			return DataDisk{}, fmt.Errorf("%w: no unpartitioned, unmounted disk besides the system disk (disks: %s); attach one or name it by serial or device", ErrNoDataDisk, describeDisks(devs))
		default:
			var names []string
			for _, i := range candidates {
				names = append(names, devs[i].Name)
			}
			return DataDisk{}, fmt.Errorf("%w: %s; name it by serial or device", ErrAmbiguousDataDisk, strings.Join(names, " "))
		}
	}
	d := *chosen
	switch {
	case len(children[d.Name]) > 0:
		return DataDisk{}, fmt.Errorf("%w: %s has partitions or holders (%s); natsnest never touches a partitioned disk", ErrUnsafeDataDisk, d.Name, strings.Join(children[d.Name], " "))
	case d.MountPoint != "" && d.MountPoint != DataMount:
		return DataDisk{}, fmt.Errorf("%w: %s is mounted at %s", ErrUnsafeDataDisk, d.Name, d.MountPoint)
	case d.FSType != "" && d.FSType != "ext4":
		return DataDisk{}, fmt.Errorf("%w: %s holds %s, not ext4; natsnest neither formats nor mounts it", ErrUnsafeDataDisk, d.Name, d.FSType)
	}
	return DataDisk{Device: "/dev/" + d.Name, FSType: d.FSType, UUID: d.UUID, Size: d.Size}, nil
}

// describeDisks lists whole disks for error messages: "vda(serial=x,mounted) vdb(...)".
func describeDisks(devs []BlockDevice) string {
	var parts []string
	for _, d := range devs {
		if d.Type != "disk" && d.Type != "loop" {
			continue
		}
		parts = append(parts, d.Name)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// ParseLsblkJSON parses `lsblk -J -b -o LsblkColumns`. Children are
// flattened after their parent, with Parent set, as lsblk -P lists them.
func ParseLsblkJSON(data []byte) ([]BlockDevice, error) {
	var doc struct {
		BlockDevices []lsblkJSONDevice `json:"blockdevices"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("lsblk JSON: %w", err)
	}
	var out []BlockDevice
	var walk func(ds []lsblkJSONDevice, parent string) error
	walk = func(ds []lsblkJSONDevice, parent string) error {
		for _, j := range ds {
			size, err := j.Size.int64()
			if err != nil {
				return fmt.Errorf("lsblk JSON: %s: size: %w", j.Name, err)
			}
			p := j.PKName
			if p == "" {
				p = parent
			}
			out = append(out, BlockDevice{Name: j.Name, Type: j.Type, Size: size, Serial: j.Serial, FSType: j.FSType, UUID: j.UUID, MountPoint: j.MountPoint, Parent: p})
			if err := walk(j.Children, j.Name); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(doc.BlockDevices, ""); err != nil {
		return nil, err
	}
	return out, nil
}

type lsblkJSONDevice struct {
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Size       lsblkNumber       `json:"size"`
	Serial     string            `json:"serial"`
	FSType     string            `json:"fstype"`
	UUID       string            `json:"uuid"`
	MountPoint string            `json:"mountpoint"`
	PKName     string            `json:"pkname"`
	Children   []lsblkJSONDevice `json:"children"`
}

// lsblkNumber is a size that lsblk writes as a number (util-linux >= 2.33)
// or as a string (older), or null.
type lsblkNumber string

func (n *lsblkNumber) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		s = ""
	}
	*n = lsblkNumber(s)
	return nil
}

func (n lsblkNumber) int64() (int64, error) {
	if n == "" {
		return 0, nil
	}
	return strconv.ParseInt(string(n), 10, 64)
}

var pairRE = regexp.MustCompile(`([A-Z:_-]+)="([^"]*)"`)

// ParseLsblkPairs parses `lsblk -P -b -o LsblkColumns`, the form the node's
// script reads: KEY="value" pairs, with every unsafe byte as \xHH.
func ParseLsblkPairs(data []byte) ([]BlockDevice, error) {
	var out []BlockDevice
	for n, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := map[string]string{}
		for _, m := range pairRE.FindAllStringSubmatch(line, -1) {
			v, err := unescapeLsblk(m[2])
			if err != nil {
				return nil, fmt.Errorf("lsblk pairs line %d: %s: %w", n+1, m[1], err)
			}
			f[m[1]] = v
		}
		if f["NAME"] == "" {
			return nil, fmt.Errorf("lsblk pairs line %d: no NAME in %q", n+1, line)
		}
		var size int64
		if s := f["SIZE"]; s != "" {
			var err error
			if size, err = strconv.ParseInt(s, 10, 64); err != nil {
				return nil, fmt.Errorf("lsblk pairs line %d: SIZE: %w", n+1, err)
			}
		}
		out = append(out, BlockDevice{Name: f["NAME"], Type: f["TYPE"], Size: size, Serial: f["SERIAL"], FSType: f["FSTYPE"], UUID: f["UUID"], MountPoint: f["MOUNTPOINT"], Parent: f["PKNAME"]})
	}
	return out, nil
}

func unescapeLsblk(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+3 >= len(s) || s[i+1] != 'x' {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// FormatLsblkPairs writes devices as `lsblk -P` does, escaping as
// util-linux's fputs_quoted: ", \, `, $ and every non-printable byte
// become \xHH. Tests use it to feed the JSON fixtures to the node's script.
func FormatLsblkPairs(devs []BlockDevice) string {
	var b strings.Builder
	for _, d := range devs {
		size := strconv.FormatInt(d.Size, 10)
		for i, kv := range [][2]string{{"NAME", d.Name}, {"TYPE", d.Type}, {"SIZE", size}, {"SERIAL", d.Serial}, {"FSTYPE", d.FSType}, {"UUID", d.UUID}, {"MOUNTPOINT", d.MountPoint}, {"PKNAME", d.Parent}} {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(kv[0])
			b.WriteString(`="`)
			for j := 0; j < len(kv[1]); j++ {
				c := kv[1][j]
				if c == '"' || c == '\\' || c == '`' || c == '$' || c < 0x20 || c >= 0x7f {
					fmt.Fprintf(&b, `\x%02x`, c)
				} else {
					b.WriteByte(c)
				}
			}
			b.WriteByte('"')
		}
		b.WriteByte('\n')
	}
	return b.String()
}
