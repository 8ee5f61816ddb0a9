package provision

import (
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

//go:embed sh/*.sh
var fragments embed.FS

func fragment(name string) string {
	b, err := fragments.ReadFile("sh/" + name + ".sh")
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	return string(b)
}

// Step names, in the order they run on a node.
const (
	StepBase    = "base"
	StepDisk    = "disk"
	StepBinary  = "binary"
	StepConfig  = "config"
	StepStart   = "start"
	StepService = "service"
)

type variable struct{ name, value string }

// render assembles a step's script: a header, the step's inputs as
// shell-quoted assignments, then the library fragments and the body.
func render(step, purpose string, vars []variable, parts ...string) string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	fmt.Fprintf(&b, "# natsnest %s step: %s.\n", step, purpose)
	b.WriteString("# Rendered by natsnest; runs as root; safe to run again.\n")
	b.WriteString("set -euo pipefail\n")
	b.WriteString("umask 022\n")
	b.WriteString("export LC_ALL=C\n")
	b.WriteString("PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin\n")
	fmt.Fprintf(&b, "STEP=%s\n", ShellQuote(step))
	for _, v := range vars {
		fmt.Fprintf(&b, "%s=%s\n", v.name, ShellQuote(v.value))
	}
	b.WriteString("\n")
	b.WriteString(fragment("lib"))
	for _, p := range parts {
		b.WriteString("\n")
		b.WriteString(fragment(p))
	}
	return b.String()
}

// cloudInitTimeout bounds the wait for cloud-init on a first boot.
const cloudInitTimeout = 20 * time.Minute

// DefaultSSHDConfig is sshd's configuration file on the nodes.
const DefaultSSHDConfig = "/etc/ssh/sshd_config"

// SSHDDropIn is the drop-in in sshd_config.d that switches password logins
// off. sshd keeps the first value it reads for a keyword and reads drop-ins
// in name order, so the name sorts before the usual ones (cloud-init's
// 50-cloud-init.conf often turns passwords on).
const SSHDDropIn = "00-natsnest.conf"

// BaseOptions are the base step's settings.
type BaseOptions struct {
	// KeysOnly switches password logins (and keyboard-interactive) off in
	// sshd: a drop-in where sshd_config includes sshd_config.d, else a
	// marked block at the top of sshd_config; checked with sshd -t before
	// sshd is reloaded and with sshd -T after. For nodes that provisioning
	// reaches with a key.
	KeysOnly bool
	// SSHDConfig is sshd's configuration file. Defaults to DefaultSSHDConfig.
	SSHDConfig string
}

// BaseScript waits for cloud-init, creates the service user and group and
// the configuration and state directories and, with KeysOnly, switches
// password logins over SSH off.
func BaseScript(l Layout, o BaseOptions) (string, error) {
	vars, err := baseVariables(l, o)
	if err != nil {
		return "", err
	}
	return render(StepBase, "wait for first boot, create the service user and directories, keys-only SSH", vars, "uploaddir", "base", "sshd"), nil
}

func baseVariables(l Layout, o BaseOptions) ([]variable, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if o.SSHDConfig == "" {
		o.SSHDConfig = DefaultSSHDConfig
	}
	if !absPathRE.MatchString(o.SSHDConfig) || path.Clean(o.SSHDConfig) != o.SSHDConfig || o.SSHDConfig == "/" {
		return nil, fmt.Errorf("provision: sshd config %q must be a clean absolute path", o.SSHDConfig)
	}
	return []variable{
		{"SERVICE_USER", l.User},
		{"SERVICE_GROUP", l.Group},
		{"CONFIG_DIR", l.ConfigDir},
		{"STATE_DIR", l.StateDir},
		{"UPLOAD_DIR", l.UploadDir},
		{"CLOUD_INIT_TIMEOUT", seconds(cloudInitTimeout)},
		{"KEYS_ONLY", boolFlag(o.KeysOnly)},
		{"SSHD_CONFIG", o.SSHDConfig},
		{"SSHD_DIR", path.Dir(o.SSHDConfig)},
		{"SSHD_DROPIN", SSHDDropIn},
	}, nil
}

// DiskOptions say which disk holds the store.
type DiskOptions struct {
	Selector DiskSelector
	// NoDataDisk keeps the store on the root filesystem (machines without a
	// spare disk, tests). Then Selector must be empty.
	NoDataDisk bool
	// WaitTries is how often discovery looks for a disk that is not there
	// yet, 5 seconds apart. Defaults to 24 (two minutes).
	WaitTries int
}

var (
	devicePathRE = regexp.MustCompile(`^/dev/[A-Za-z0-9._/:-]+$`)
	printableRE  = regexp.MustCompile(`^[ -~]{1,128}$`)
)

// CheckDiskSerial is the rule a data disk's serial (on ECS, the disk ID)
// must follow to be looked up on a node.
func CheckDiskSerial(serial string) error {
	if !printableRE.MatchString(serial) {
		return fmt.Errorf("disk serial %q must be 1-128 printable ASCII characters", serial)
	}
	return nil
}

// DiskScript finds the data disk, formats it only when it has no
// filesystem at all, mounts it at DataMount by UUID with nofail, grows it
// and creates the store directory.
func DiskScript(l Layout, o DiskOptions) (string, error) {
	if err := l.check(); err != nil {
		return "", err
	}
	sel := o.Selector
	if sel.Serial != "" {
		if err := CheckDiskSerial(sel.Serial); err != nil {
			return "", fmt.Errorf("provision: %w", err)
		}
	}
	if sel.Device != "" && !devicePathRE.MatchString(sel.Device) {
		return "", fmt.Errorf("provision: disk device %q must be a path under /dev", sel.Device)
	}
	if o.NoDataDisk && (sel.Serial != "" || sel.Device != "") {
		return "", fmt.Errorf("provision: NoDataDisk excludes a disk serial or device")
	}
	tries := o.WaitTries
	if tries <= 0 {
		tries = 24
	}
	return render(StepDisk, "find the data disk, format it only if blank, mount it, grow it", []variable{
		{"DATA_SERIAL", sel.Serial},
		{"DATA_DEVICE", sel.Device},
		{"NO_DATA_DISK", boolFlag(o.NoDataDisk)},
		{"DISK_WAIT_TRIES", strconv.Itoa(tries)},
		{"DATA_MOUNT", l.DataMount},
		{"STORE_DIR", l.StoreDir},
		{"FSTAB", l.FSTab},
		{"SERVICE_USER", l.User},
		{"SERVICE_GROUP", l.Group},
	}, "disklib", "disk"), nil
}

// BinaryOptions say which nats-server to install and where it comes from.
type BinaryOptions struct {
	// Version is the release, without "v"; the installed binary must
	// report it.
	Version string
	// Arch is "amd64" or "arm64"; the node must be that.
	Arch string
	// SHA256 is the checksum of what URL serves, or of the uploaded binary.
	SHA256 string
	// URL, when set, is downloaded by the node: a release .tar.gz (holding
	// nats-server-v<Version>-linux-<Arch>/nats-server, or exactly one file
	// named nats-server) or a bare binary. Empty means the binary was
	// uploaded to Layout.StagedBinary(SHA256).
	URL string
}

var versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

// IsArchiveURL reports whether u names a .tar.gz archive (else a bare binary).
func IsArchiveURL(u string) bool {
	p := strings.ToLower(u)
	if pu, err := url.Parse(u); err == nil {
		p = strings.ToLower(pu.Path)
	}
	return strings.HasSuffix(p, ".tar.gz") || strings.HasSuffix(p, ".tgz")
}

// CheckBinaryURL reports what is wrong with a download URL, or nil. The
// message never repeats the URL: a presigned URL's signature is a
// credential, and a value that is no URL may be one pasted in the wrong
// place.
func CheckBinaryURL(u string) error {
	pu, err := url.Parse(u)
	switch {
	case err != nil:
		return errors.New("does not parse as a URL")
	case pu.Scheme != "https" && pu.Scheme != "http", pu.Host == "":
		return errors.New("must be an http or https URL with a host")
	case strings.ContainsAny(u, " \t\r\n'\"\\") || strings.IndexFunc(u, unicode.IsControl) >= 0:
		return errors.New("contains blanks, quotes, backslashes or control characters")
	case strings.HasSuffix(strings.ToLower(pu.Path), ".zip"):
		return errors.New("names a .zip; use the release's .tar.gz or a bare binary")
	}
	return nil
}

// RedactURL is u without what may be a credential — its user info, and its
// query (a presigned URL's signature) — for logs and messages.
func RedactURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "<a URL that does not parse>"
	}
	pu.User = nil
	pu.Fragment, pu.RawFragment = "", ""
	if pu.RawQuery != "" || pu.ForceQuery {
		pu.RawQuery, pu.ForceQuery = "", false
		return pu.String() + "?<redacted>"
	}
	return pu.String()
}

// BinaryPayload is the binary step's stdin for a download: the URL, which
// never appears on a command line (the node's ps, pulumi-command's logs);
// "" for an upload.
func BinaryPayload(u string) string {
	if u == "" {
		return ""
	}
	return "url " + base64.StdEncoding.EncodeToString([]byte(u)) + "\n"
}

// BinaryScript installs nats-server: it verifies the checksum of the
// download or upload, checks the binary runs here and reports Version, then
// renames it over the old one. On any failure the old binary stays.
func BinaryScript(l Layout, o BinaryOptions) (string, error) {
	if err := l.check(); err != nil {
		return "", err
	}
	if !versionRE.MatchString(o.Version) {
		return "", fmt.Errorf("provision: version %q is not a release such as 2.15.2", o.Version)
	}
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return "", fmt.Errorf("provision: arch %q must be amd64 or arm64", o.Arch)
	}
	if !sha256RE.MatchString(o.SHA256) {
		return "", fmt.Errorf("provision: sha256 %q must be 64 lower-case hex digits", o.SHA256)
	}
	source, staged, archive := "upload", l.StagedBinary(o.SHA256), false
	if o.URL != "" {
		if err := CheckBinaryURL(o.URL); err != nil {
			return "", fmt.Errorf("provision: binary URL %w", err)
		}
		source, staged, archive = "url", "", IsArchiveURL(o.URL)
	}
	return render(StepBinary, "install nats-server v"+o.Version+", checksum verified, atomically", []variable{
		{"VERSION", o.Version},
		{"ARCH", o.Arch},
		{"SHA256", o.SHA256},
		{"SOURCE", source},
		{"STAGED", staged},
		{"URL_SHOWN", redactedOrEmpty(o.URL)},
		{"ARCHIVE", boolFlag(archive)},
		{"BIN", l.Binary},
		{"UPLOAD_DIR", l.UploadDir},
	}, "uploaddir", "binary"), nil
}

// ConfigScript writes nats.conf, routes.conf, the unit and the restart
// settings from the payload on its stdin (see EncodePayload), after the
// installed nats-server accepted the new configuration.
func ConfigScript(l Layout) (string, error) {
	if err := l.check(); err != nil {
		return "", err
	}
	return render(StepConfig, "write the configuration and the unit from stdin", []variable{
		{"CONFIG_DIR", l.ConfigDir},
		{"UNIT_PATH", l.UnitPath()},
		{"STATE_DIR", l.StateDir},
		{"BIN", l.Binary},
		{"SERVICE_GROUP", l.Group},
	}, "payload", "config"), nil
}

// ServiceOptions are the start and service steps' settings.
type ServiceOptions struct {
	// MonitorPort is nats-server's HTTP monitoring port.
	MonitorPort int
	// MonitorTLS says the monitoring port serves HTTPS; the health checks
	// then need curl on the node.
	MonitorTLS bool
	// StartTimeout bounds the wait for /healthz?js-server-only=true after
	// a start. Defaults to 2 minutes.
	StartTimeout time.Duration
	// RollTimeout bounds the wait for the full /healthz after a restart of
	// a running server, whose streams must catch up. Defaults to 10 minutes.
	RollTimeout time.Duration
	// ReloadTimeout bounds the wait for a reload to show in /varz's
	// config_load_time; after it the reload counts as rejected and the
	// server is restarted instead. Defaults to 20 seconds.
	ReloadTimeout time.Duration
	// Applies names what the service step applies — the binary, a digest
	// of the rendered files — as comment lines of its script, so that the
	// script changes with them and pulumi-command runs it as an update.
	// One line each; the start step ignores them.
	Applies []string
}

// serviceVariables checks o, applies its defaults and returns the inputs
// of the start and service steps.
func serviceVariables(l Layout, o ServiceOptions) ([]variable, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	if o.MonitorPort < 1 || o.MonitorPort > 65535 {
		return nil, fmt.Errorf("provision: monitor port %d is outside 1..65535", o.MonitorPort)
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.RollTimeout <= 0 {
		o.RollTimeout = 10 * time.Minute
	}
	if o.ReloadTimeout <= 0 {
		o.ReloadTimeout = 20 * time.Second
	}
	return []variable{
		{"SERVICE", Service},
		{"BIN", l.Binary},
		{"UNIT_PATH", l.UnitPath()},
		{"CONFIG_DIR", l.ConfigDir},
		{"STATE_DIR", l.StateDir},
		{"MONITOR_PORT", strconv.Itoa(o.MonitorPort)},
		{"MONITOR_TLS", boolFlag(o.MonitorTLS)},
		{"START_TIMEOUT", seconds(o.StartTimeout)},
		{"ROLL_TIMEOUT", seconds(o.RollTimeout)},
		{"RELOAD_TIMEOUT", seconds(o.ReloadTimeout)},
	}, nil
}

// StartScript enables natsd and, unless it is running, starts it and
// waits for /healthz?js-server-only=true. It never restarts a running
// server, so every node's start step can run at once: a first deployment
// boots all nodes in parallel. RollTimeout and ReloadTimeout are unused.
func StartScript(l Layout, o ServiceOptions) (string, error) {
	vars, err := serviceVariables(l, o)
	if err != nil {
		return "", err
	}
	// The start step neither rolls nor reloads.
	vars = slices.DeleteFunc(vars, func(v variable) bool { return v.name == "ROLL_TIMEOUT" || v.name == "RELOAD_TIMEOUT" })
	return render(StepStart, "enable natsd and start it unless it is running, then wait for it", vars, "httplib", "applied", "start"), nil
}

// ServiceScript enables natsd and starts, restarts, reloads or leaves it
// as the fingerprints of what changed require, then waits for /healthz.
// Run on one node after the other: a restart waits for the full /healthz.
func ServiceScript(l Layout, o ServiceOptions) (string, error) {
	vars, err := serviceVariables(l, o)
	if err != nil {
		return "", err
	}
	script := render(StepService, "start, restart or reload natsd as needed, then wait for /healthz", vars, "httplib", "applied", "service")
	if len(o.Applies) == 0 {
		return script, nil
	}
	// After the header: "#!/bin/bash", what the step is, how it runs.
	head := strings.SplitAfterN(script, "\n", 4)
	var b strings.Builder
	b.WriteString(head[0] + head[1] + head[2])
	for _, a := range o.Applies {
		if a == "" || strings.ContainsAny(a, "\r\n") {
			return "", fmt.Errorf("provision: Applies %q: want one non-empty line", a)
		}
		fmt.Fprintf(&b, "# applies: %s\n", a)
	}
	b.WriteString(head[3])
	return b.String(), nil
}

// NodeFiles is what the config step writes on one node.
type NodeFiles struct {
	Config          string // nats.conf
	Routes          string // routes.conf; empty for a single node (then removed)
	Unit            string // natsd.service
	RestartSettings string // RestartSettings of the node's server
	// TLSCert, TLSKey and TLSCA are the PEM files of Layout.TLSDir(): the
	// certificate (chain), its private key (mode 0600, owned by the
	// service user) and the CA bundle. Empty without TLS, and then any
	// left from an earlier deployment are removed. TLSCA may be empty
	// when TLSCert and TLSKey are set.
	TLSCert, TLSKey, TLSCA string
}

// EncodePayload renders files as the config step's stdin: one
// "KEY BASE64" line each, in a fixed order. Secret, as it holds routes.conf
// and the TLS private key.
func EncodePayload(f NodeFiles) string {
	var b strings.Builder
	line := func(k, v string) {
		fmt.Fprintf(&b, "%s %s\n", k, base64.StdEncoding.EncodeToString([]byte(v)))
	}
	line("nats.conf", f.Config)
	if f.Routes != "" {
		line("routes.conf", f.Routes)
	}
	line("unit", f.Unit)
	line("restart-settings", f.RestartSettings)
	for _, t := range []struct{ key, v string }{{"tls-cert", f.TLSCert}, {"tls-key", f.TLSKey}, {"tls-ca", f.TLSCA}} {
		if t.v != "" {
			line(t.key, t.v)
		}
	}
	return b.String()
}

// DecodePayload is EncodePayload's inverse.
func DecodePayload(s string) (NodeFiles, error) {
	var f NodeFiles
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			return NodeFiles{}, fmt.Errorf("payload line %q has no key", line)
		}
		d, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return NodeFiles{}, fmt.Errorf("payload %s: %w", k, err)
		}
		switch k {
		case "nats.conf":
			f.Config = string(d)
		case "routes.conf":
			f.Routes = string(d)
		case "unit":
			f.Unit = string(d)
		case "restart-settings":
			f.RestartSettings = string(d)
		case "tls-cert":
			f.TLSCert = string(d)
		case "tls-key":
			f.TLSKey = string(d)
		case "tls-ca":
			f.TLSCA = string(d)
		default:
			return NodeFiles{}, fmt.Errorf("payload has unknown key %q", k)
		}
	}
	return f, nil
}

func seconds(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

func boolFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func redactedOrEmpty(u string) string {
	if u == "" {
		return ""
	}
	return RedactURL(u)
}
