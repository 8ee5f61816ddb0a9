// Package provision renders what runs on a node: the systemd unit of
// nats-server, the bash scripts that prepare the machine step by step, and
// the payload that carries the rendered configuration to it. Everything
// here is pure — no Pulumi, no I/O — and deterministic, so identical inputs
// give identical commands and a second `pulumi up` re-runs nothing.
//
// The steps, in the order they run on one node (natsnest wires them):
//
//	base     wait for cloud-init; user and group "nats"; /etc/nats
//	disk     find the data disk, format it only if blank, mount it at /data
//	         by UUID with nofail, grow it, create the store directory
//	binary   install nats-server from an uploaded file or a URL, checksum
//	         verified, atomically; the previous binary stays on any failure
//	config   write nats.conf, routes.conf, the TLS files and the unit from
//	         stdin (secrets never travel on a command line or in the
//	         environment)
//	service  enable and (re)start or reload natsd as the recorded hashes
//	         require, then wait for /healthz
//
// Each script is idempotent: run twice on an unchanged node, it changes
// nothing and restarts nothing.
package provision

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Layout is where things live on a node. Nodes use DefaultLayout; tests
// render the scripts with a layout under a temporary directory and run them.
type Layout struct {
	Binary    string // the nats-server executable
	ConfigDir string // nats.conf and routes.conf
	UnitDir   string // where natsd.service is written
	StateDir  string // hashes of what the running server was started with
	UploadDir string // where an uploaded binary is staged
	FSTab     string // the fstab that mounts the data disk
	DataMount string // mount point of the data disk
	StoreDir  string // JetStream's store_dir, under DataMount
	User      string // the service user
	Group     string // the service group
}

// Service is the systemd unit's name.
const Service = "natsd"

// DefaultLayout is the layout of every node.
func DefaultLayout() Layout {
	return Layout{
		Binary:    "/usr/local/bin/nats-server",
		ConfigDir: "/etc/nats",
		UnitDir:   "/etc/systemd/system",
		StateDir:  "/var/lib/natsnest",
		UploadDir: "/var/lib/natsnest-upload",
		FSTab:     "/etc/fstab",
		DataMount: DataMount,
		StoreDir:  DataMount + "/nats-storage",
		User:      "nats",
		Group:     "nats",
	}
}

// ConfigPath is nats.conf's path.
func (l Layout) ConfigPath() string { return path.Join(l.ConfigDir, "nats.conf") }

// TLS file names in TLSDir, which nats.conf refers to.
const (
	TLSCertFile = "cert.pem"
	TLSKeyFile  = "key.pem"
	TLSCAFile   = "ca.pem"
)

// TLSDir holds the TLS certificate, key and CA: ConfigDir/tls.
func (l Layout) TLSDir() string { return path.Join(l.ConfigDir, "tls") }

// TLSPath is the path of one of the TLS files (TLSCertFile, TLSKeyFile, TLSCAFile).
func (l Layout) TLSPath(name string) string { return path.Join(l.TLSDir(), name) }

// UnitPath is natsd.service's path.
func (l Layout) UnitPath() string { return path.Join(l.UnitDir, Service+".service") }

// StagedBinary is where an uploaded binary with this checksum is staged.
func (l Layout) StagedBinary(sha256 string) string {
	return path.Join(l.UploadDir, "nats-server-"+sha256)
}

var (
	absPathRE = regexp.MustCompile(`^/[A-Za-z0-9._/-]*$`)
	accountRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	sha256RE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func (l Layout) check() error {
	for _, p := range []struct{ name, v string }{
		{"Binary", l.Binary}, {"ConfigDir", l.ConfigDir}, {"UnitDir", l.UnitDir}, {"StateDir", l.StateDir},
		{"UploadDir", l.UploadDir}, {"FSTab", l.FSTab}, {"DataMount", l.DataMount}, {"StoreDir", l.StoreDir},
	} {
		if !absPathRE.MatchString(p.v) || path.Clean(p.v) != p.v || p.v == "/" {
			return fmt.Errorf("provision: layout %s %q must be a clean absolute path", p.name, p.v)
		}
	}
	if !strings.HasPrefix(l.StoreDir, l.DataMount+"/") {
		return fmt.Errorf("provision: layout StoreDir %q must be under DataMount %q", l.StoreDir, l.DataMount)
	}
	if !accountRE.MatchString(l.User) || !accountRE.MatchString(l.Group) {
		return fmt.Errorf("provision: layout user %q and group %q must be plain account names", l.User, l.Group)
	}
	return nil
}
