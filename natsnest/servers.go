package natsnest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"

	"github.com/natsnest/pulumi-natsnest/internal/natsbin"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ServersType is the type token of the Servers component.
const ServersType = "natsnest:index:Servers"

// Defaults of ServersArgs, applied by (ServersArgs).withDefaults.
const (
	DefaultSSHUser        = "root"
	DefaultSSHPort        = 22
	DefaultDialErrorLimit = 100
	// DefaultPerDialTimeout is how long one SSH dial may take, in seconds.
	DefaultPerDialTimeout = 15
	DefaultArch           = "amd64"
)

// Host is one machine that runs a node.
type Host struct {
	// Name is the node's server_name: unique in the cluster and stable for
	// the node's whole life (JetStream identifies peers by it). 1-63
	// letters, digits, '.', '_' or '-', starting with a letter or digit.
	// Required.
	Name string
	// Connect is the address provisioning reaches over SSH. Required.
	Connect pulumi.StringInput
	// PrivateAddress is the address other nodes route to and the one in
	// privateEndpoint. Required.
	PrivateAddress pulumi.StringInput
	// PublicAddress, when set, goes into publicEndpoint. Either every host
	// has one or none has.
	PublicAddress pulumi.StringInput
	// Zone is added as the server tag "az:<zone>".
	Zone string
	// DataDiskSerial picks the data disk by its serial number (on ECS, the
	// disk ID, found with or without its "d-" prefix, on vd* and nvme*
	// devices alike). Either it or DataDevice; neither means: the single
	// disk that is not the system disk, not partitioned and not mounted.
	DataDiskSerial pulumi.StringInput
	// DataDevice is the data disk's device path, e.g. /dev/vdb.
	DataDevice string
	// DataDiskSize, when set, is the data disk's size (any unit): when it
	// changes, the disk step runs again and grows the filesystem.
	DataDiskSize pulumi.IntInput
	// NoDataDisk keeps the JetStream store on the root filesystem, in a
	// plain /data directory. Only for machines without a spare disk (tests):
	// a full root disk then stops the machine, not just NATS. Not with
	// DataDiskSerial or DataDevice.
	NoDataDisk bool
	// InstanceID, when set, identifies the machine (on ECS, the instance
	// ID): when it changes — the machine was replaced, maybe keeping its
	// address — every step runs again on the new machine.
	InstanceID pulumi.StringInput
	// HostKey, when set, is the SSH host key the machine must present
	// (authorized_keys form, e.g. "ssh-ed25519 AAAA…"). Unset, host keys are
	// not checked.
	HostKey pulumi.StringInput
	// DependsOn are resources that must exist before SSH can work: the SSH
	// security group rule, the EIP association, the disk attachment.
	DependsOn []pulumi.Resource
}

// Bastion is a jump host that SSH connects through.
type Bastion struct {
	Host pulumi.StringInput
	Port int    // Defaults to 22.
	User string // Defaults to "root".
	// PrivateKey or Password log in to the bastion. Neither means: the same
	// as SSH's, for a jump host that takes the hosts' key.
	PrivateKey pulumi.StringInput
	Password   pulumi.StringInput
	// HostKey, when set, is the SSH host key the bastion must present
	// (authorized_keys form, "ssh-ed25519 AAAA…"). Unset, whatever answers
	// at Host is trusted, and a warning says so.
	HostKey pulumi.StringInput
}

// SSH says how provisioning logs in to every host.
type SSH struct {
	// User defaults to "root". Any other user needs passwordless sudo.
	User string
	// Port defaults to 22.
	Port int
	// PrivateKey (PEM) or Password; one is required. Both are made secrets.
	PrivateKey pulumi.StringInput
	Password   pulumi.StringInput
	// Bastion, when set, is the jump host every connection goes through.
	Bastion *Bastion
	// DialErrorLimit is how many failed dials are retried, to cover a first
	// boot; -1 retries forever. Defaults to 100 (about 8 minutes).
	DialErrorLimit int
	// KeepPasswordLogin leaves sshd's password logins as they are. Without
	// it, when provisioning logs in with PrivateKey and no Password, the
	// base step switches password logins (and keyboard-interactive) off
	// on every host, for every user. Defaults to false.
	KeepPasswordLogin bool
}

// Binary says how the nats-server binary reaches the nodes.
type Binary struct {
	// LocalPath is a nats-server binary on the deploying machine, uploaded to
	// every node. Defaults to one built from the Go module proxy for the
	// pinned version and Arch (built only when an upload is needed, and
	// cached). Not with URL.
	LocalPath string
	// URL, when set, is downloaded by every node instead: a nats-server
	// release .tar.gz (or a bare binary). Regions in mainland China often
	// cannot reach GitHub, so point it at a mirror or an OSS bucket. The
	// nodes need curl or wget, and a route to it. A secret, as a presigned
	// URL's signature is a credential: it reaches the nodes on the binary
	// step's stdin, never on a command line, and logs and messages show it
	// without its query.
	URL pulumi.StringInput
	// SHA256 is the checksum of what URL serves. Required with URL. With
	// LocalPath it is optional and, when set, must match the file.
	SHA256 string
	// Arch is "amd64" or "arm64": the nodes' CPU. Defaults to "amd64".
	Arch string
}

// ServersArgs provisions NATS onto machines that already exist.
type ServersArgs struct {
	// ServerOptions are the settings every node runs with. MaxFileStore is
	// required here: set it below the data disk's size.
	ServerOptions
	// Hosts: 1, or an odd number from 3 to 11.
	Hosts []Host
	SSH   SSH
	// Binary says how nats-server is delivered. Defaults to an upload of
	// the pinned version built for Binary.Arch.
	Binary Binary
	// NoAdvertise stops servers from advertising other servers' addresses to
	// clients; set it when clients connect through public addresses.
	NoAdvertise bool
	// MonitoringOnAllAddresses serves the monitoring port (MonitorPort) on
	// every address of each host. Defaults to false: only on the host's
	// PrivateAddress, as monitoring has no authentication (/connz shows
	// every client's address and user) and Servers sets up no firewall.
	MonitoringOnAllAddresses bool

	// pending are the secrets not known yet (a preview); set by resolve.
	pending pending
}

// Servers is NATS provisioned onto a set of hosts.
type Servers struct {
	pulumi.ResourceState

	// PrivateEndpoint is "nats://ip:4222,nats://ip:4222,…" over private
	// addresses, in host order. It resolves once every node is provisioned
	// and answers its health check.
	PrivateEndpoint pulumi.StringOutput `pulumi:"privateEndpoint"`
	// PublicEndpoint is the same over public addresses; empty without them.
	PublicEndpoint pulumi.StringOutput `pulumi:"publicEndpoint"`
	// MonitoringURLs are every node's http://ip:8222 over private addresses.
	MonitoringURLs pulumi.StringArrayOutput `pulumi:"monitoringUrls"`
	// ClusterName is the cluster block's name.
	ClusterName pulumi.StringOutput `pulumi:"clusterName"`
	// NatsContext is a `nats` CLI context (JSON: description, url, user,
	// password) for the first application user, over the public endpoint
	// when there is one. Secret.
	NatsContext pulumi.StringOutput `pulumi:"natsContext"`
	// NodeNames, PrivateIPs and PublicIPs are per node, in host order;
	// PublicIPs holds empty strings without public addresses.
	NodeNames  pulumi.StringArrayOutput `pulumi:"nodeNames"`
	PrivateIPs pulumi.StringArrayOutput `pulumi:"privateIps"`
	PublicIPs  pulumi.StringArrayOutput `pulumi:"publicIps"`
}

var (
	hostNameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	hostZoneRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)
	sshUserRE    = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)
	devicePathRE = regexp.MustCompile(`^/dev/[A-Za-z0-9._/:-]+$`)
	sha256HexRE  = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// withDefaults returns a copy of s with every default applied.
func (s SSH) withDefaults() SSH {
	if s.User == "" {
		s.User = DefaultSSHUser
	}
	if s.Port == 0 {
		s.Port = DefaultSSHPort
	}
	if s.DialErrorLimit == 0 {
		s.DialErrorLimit = DefaultDialErrorLimit
	}
	if s.Bastion != nil {
		b := *s.Bastion
		if b.User == "" {
			b.User = DefaultSSHUser
		}
		if b.Port == 0 {
			b.Port = DefaultSSHPort
		}
		if b.PrivateKey == nil && b.Password == nil {
			b.PrivateKey, b.Password = s.PrivateKey, s.Password
		}
		s.Bastion = &b
	}
	return s
}

// withDefaults returns a copy of a with every default applied.
func (a ServersArgs) withDefaults() ServersArgs {
	a.ServerOptions = a.ServerOptions.withDefaults()
	a.Hosts = append([]Host(nil), a.Hosts...)
	a.SSH = a.SSH.withDefaults()
	if a.Binary.Arch == "" {
		a.Binary.Arch = DefaultArch
	}
	a.Binary.SHA256 = strings.ToLower(a.Binary.SHA256)
	return a
}

// resolve is a with every default applied and every secret given as an
// output awaited (secrets.go): those known become plain values, those not
// known yet (a preview) are listed in pending.
func (a ServersArgs) resolve(ctx context.Context) (ServersArgs, error) {
	d := a.withDefaults()
	refs := append(d.ServerOptions.secretRefs(), d.SSH.secretRefs("SSH")...)
	refs = append(refs, secretRef{"Binary.URL", &d.Binary.URL})
	unknown, err := awaitSecrets(ctx, refs)
	d.pending = unknown
	return d, err
}

// isEmpty reports a missing input: nil, or a plain empty string.
func isEmpty(in pulumi.Input) bool {
	if in == nil {
		return true
	}
	switch v := in.(type) {
	case pulumi.String:
		return v == ""
	case *pulumi.String:
		return v == nil || *v == ""
	}
	return false
}

// Validate reports every problem of the arguments at once, each naming its
// field and rule and wrapping ErrInvalidArgs. NewServers calls it before it
// registers anything. Secrets given as outputs are awaited first, as by
// ClusterArgs.Validate.
func (a *ServersArgs) Validate() error {
	var p problems
	if a == nil {
		p.add("ServersArgs", "must not be nil")
		return p.err()
	}
	d, err := a.resolve(context.Background())
	if err != nil {
		p = append(p, err)
		d = a.withDefaults()
	}
	d.ServerOptions.validate(&p)
	if d.MaxFileStore <= 0 {
		p.add("MaxFileStore", "is required for Servers and must be positive: set it below the data disk's size")
	}

	n := len(d.Hosts)
	if n != 1 && (n < 3 || n > 11 || n%2 == 0) {
		p.add("Hosts", "%d hosts: want 1, or an odd number from 3 to 11 (JetStream needs a majority)", n)
	}
	names := map[string]bool{}
	public := 0
	for i, h := range d.Hosts {
		f := fmt.Sprintf("Hosts[%d]", i)
		switch {
		case !hostNameRE.MatchString(h.Name):
			p.add(f+".Name", "%q must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", h.Name)
		case names[h.Name]:
			p.add(f+".Name", "server name %q is used twice", h.Name)
		}
		names[h.Name] = true
		if isEmpty(h.Connect) {
			p.add(f+".Connect", "is required: the address SSH connects to")
		}
		if isEmpty(h.PrivateAddress) {
			p.add(f+".PrivateAddress", "is required: the address routes and privateEndpoint use")
		}
		// What is known when the program runs is checked now, before
		// anything is registered; outputs of other resources are checked
		// when they are known.
		checkAddress(&p, f+".Connect", h.Connect)
		checkAddress(&p, f+".PrivateAddress", h.PrivateAddress)
		checkAddress(&p, f+".PublicAddress", h.PublicAddress)
		if s, ok := known(h.DataDiskSerial); ok {
			if err := provision.CheckDiskSerial(s); err != nil {
				p.add(f+".DataDiskSerial", "%v", err)
			}
		}
		checkHostKey(&p, f+".HostKey", h.HostKey)
		if !isEmpty(h.PublicAddress) {
			public++
		}
		if h.Zone != "" && !hostZoneRE.MatchString(h.Zone) {
			p.add(f+".Zone", "%q must be 1-64 letters, digits or '-'", h.Zone)
		}
		if h.DataDiskSerial != nil && h.DataDevice != "" {
			p.add(f+".DataDevice", "set DataDiskSerial or DataDevice, not both")
		}
		if h.DataDevice != "" && !devicePathRE.MatchString(h.DataDevice) {
			p.add(f+".DataDevice", "%q must be a device path such as /dev/vdb", h.DataDevice)
		}
		if h.NoDataDisk && (h.DataDiskSerial != nil || h.DataDevice != "") {
			p.add(f+".NoDataDisk", "excludes DataDiskSerial and DataDevice")
		}
	}
	if public != 0 && public != n {
		p.add("Hosts", "%d of %d hosts have a PublicAddress: give every host one, or none", public, n)
	}
	d.validateRouteNames(&p)

	s := d.SSH
	if !sshUserRE.MatchString(s.User) {
		p.add("SSH.User", "%q is not a user name", s.User)
	}
	if s.Port < 1 || s.Port > 65535 {
		p.add("SSH.Port", "port %d is outside 1..65535", s.Port)
	}
	if s.PrivateKey == nil && s.Password == nil {
		p.add("SSH", "PrivateKey or Password is required")
	}
	checkPrivateKey(&p, "SSH.PrivateKey", s.PrivateKey)
	if s.DialErrorLimit < -1 {
		p.add("SSH.DialErrorLimit", "%d must be -1 (no limit) or positive", s.DialErrorLimit)
	}
	if b := s.Bastion; b != nil {
		if isEmpty(b.Host) {
			p.add("SSH.Bastion.Host", "is required")
		}
		checkAddress(&p, "SSH.Bastion.Host", b.Host)
		checkPrivateKey(&p, "SSH.Bastion.PrivateKey", b.PrivateKey)
		checkHostKey(&p, "SSH.Bastion.HostKey", b.HostKey)
		if !sshUserRE.MatchString(b.User) {
			p.add("SSH.Bastion.User", "%q is not a user name", b.User)
		}
		if b.Port < 1 || b.Port > 65535 {
			p.add("SSH.Bastion.Port", "port %d is outside 1..65535", b.Port)
		}
	}

	b := d.Binary
	if b.Arch != "amd64" && b.Arch != "arm64" {
		p.add("Binary.Arch", "%q must be \"amd64\" or \"arm64\"", b.Arch)
	}
	if b.SHA256 != "" && !sha256HexRE.MatchString(b.SHA256) {
		p.add("Binary.SHA256", "must be 64 hexadecimal digits")
	}
	switch {
	case isSet(b.URL):
		if u, ok := known(b.URL); ok {
			if err := provision.CheckBinaryURL(u); err != nil {
				p.add("Binary.URL", "%v", err)
			}
		}
		if b.SHA256 == "" {
			p.add("Binary.SHA256", "is required with Binary.URL: nodes install only what matches it")
		}
		if b.LocalPath != "" {
			p.add("Binary.LocalPath", "set LocalPath (upload) or URL (download), not both")
		}
	case b.LocalPath == "":
		if b.SHA256 != "" {
			p.add("Binary.SHA256", "applies to Binary.URL or Binary.LocalPath; neither is set")
		}
		if d.NATSVersion != DefaultNATSVersion {
			p.add("NATSVersion", "%s is not the pinned %s that natsnest builds: set Binary.URL or Binary.LocalPath to a %s binary", d.NATSVersion, DefaultNATSVersion, d.NATSVersion)
		}
	}
	return p.err()
}

// buildNATSServer builds the pinned nats-server for a platform and returns
// its path; tests replace it.
var buildNATSServer = natsbin.Build

// PrepareBinary builds the pinned nats-server for linux/arch ("amd64" or
// "arm64") into the cache — $NATSNEST_CACHE, else natsnest/ in the user's
// cache directory, never the program's module — or finds it there, as
// `pulumi up` does when it uploads the default binary, and returns its
// path. The build is reproducible: every machine gets the same bytes. Run
// it ahead of time (in CI, say) so that later previews and ups need no
// network. The go command must be on PATH.
func PrepareBinary(ctx context.Context, arch string) (string, error) {
	if arch != "amd64" && arch != "arm64" {
		return "", fmt.Errorf("%w: arch: %q must be \"amd64\" or \"arm64\"", ErrInvalidArgs, arch)
	}
	return buildNATSServer(ctx, "linux", arch)
}

// underMocks says whether the program runs under Pulumi mocks, where
// nothing is built; tests replace it to take the engine's path.
var underMocks = (*pulumi.Context).RunningWithMocks

// NewServers provisions NATS onto existing machines over SSH: on every host,
// in parallel, the steps of internal/provision (base, disk, binary, config,
// start, service), each a pulumi-command resource named <name>-<host>-<step>
// that runs again only when what it depends on changes. Every host's start
// step boots natsd at once; the service steps, which apply later changes,
// run one host after the other, so a restart rolls through the cluster. In a
// cluster, each host also gets a leave command that runs only when deleted:
// a host dropped from Hosts is stopped with lame duck mode and peer-removed
// from JetStream before anything else of it goes (see leaveCommands and
// docs/operations.md). The arguments are validated before anything is
// registered.
func NewServers(ctx *pulumi.Context, name string, args *ServersArgs, opts ...pulumi.ResourceOption) (*Servers, error) {
	if args == nil {
		return nil, args.Validate()
	}
	a, err := args.resolve(ctx.Context())
	if err != nil {
		return nil, err
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	bin, err := resolveBinary(ctx, a)
	if err != nil {
		return nil, err
	}

	s := &Servers{}
	if err := ctx.RegisterComponentResource(ServersType, name, s, opts...); err != nil {
		return nil, err
	}
	for _, msg := range a.unpinnedWarnings() {
		warn(ctx, s, msg)
	}
	services, err := provisionHosts(ctx, name, s, a, bin)
	if err != nil {
		return nil, err
	}
	if _, err := leaveCommands(ctx, name, s, a, services); err != nil {
		return nil, err
	}

	o := a.ServerOptions
	var private, public, names []pulumi.Input
	for _, h := range a.Hosts {
		private = append(private, h.PrivateAddress)
		names = append(names, pulumi.String(h.Name))
		if !isEmpty(h.PublicAddress) {
			public = append(public, h.PublicAddress)
		} else {
			public = append(public, pulumi.String(""))
		}
	}
	// The endpoints wait for every service step: a client given them finds
	// the cluster up. On the steps' IDs, not their output, which is secret
	// (the service script names a digest of secret files) and would make
	// the endpoints secret too.
	var done []any
	for _, c := range services {
		done = append(done, c.ID())
	}
	endpoint := func(addrs []pulumi.Input) pulumi.StringOutput {
		all := append(append([]any{}, done...), toAny(addrs)...)
		return pulumi.All(all...).ApplyT(func(vs []any) string {
			return joinURLs(clientScheme(o), toStrings(vs[len(done):]), o.ClientPort)
		}).(pulumi.StringOutput)
	}
	s.PrivateEndpoint = endpoint(private)
	s.PublicEndpoint = pulumi.String("").ToStringOutput()
	if !isEmpty(a.Hosts[0].PublicAddress) {
		s.PublicEndpoint = endpoint(public)
	}
	s.MonitoringURLs = pulumi.All(toAny(private)...).ApplyT(func(vs []any) []string {
		return strings.Split(joinURLs(monitorScheme(o), toStrings(vs), o.MonitorPort), ",")
	}).(pulumi.StringArrayOutput)
	s.ClusterName = pulumi.String(o.ClusterName).ToStringOutput()
	s.NodeNames = pulumi.All(toAny(names)...).ApplyT(toStrings).(pulumi.StringArrayOutput)
	s.PrivateIPs = pulumi.All(toAny(private)...).ApplyT(toStrings).(pulumi.StringArrayOutput)
	s.PublicIPs = pulumi.All(toAny(public)...).ApplyT(toStrings).(pulumi.StringArrayOutput)
	user := firstUser(o)
	s.NatsContext = a.pending.unknown(pulumi.ToSecret(pulumi.All(s.PrivateEndpoint, s.PublicEndpoint).ApplyT(func(vs []any) (string, error) {
		url := vs[0].(string)
		if pub := vs[1].(string); pub != "" {
			url = pub
		}
		return natsContextJSON(fmt.Sprintf("NATS cluster %s (%s), deployed by natsnest", o.ClusterName, name), url, user)
	})).(pulumi.StringOutput))

	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{
		"privateEndpoint": s.PrivateEndpoint,
		"publicEndpoint":  s.PublicEndpoint,
		"monitoringUrls":  s.MonitoringURLs,
		"clusterName":     s.ClusterName,
		"natsContext":     s.NatsContext,
		"nodeNames":       s.NodeNames,
		"privateIps":      s.PrivateIPs,
		"publicIps":       s.PublicIPs,
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// joinURLs renders "scheme://host:port,…"; IPv6 addresses get brackets.
func joinURLs(scheme string, hosts []string, port int) string {
	parts := make([]string, len(hosts))
	for i, h := range hosts {
		parts[i] = (&url.URL{Scheme: scheme, Host: net.JoinHostPort(h, fmt.Sprint(port))}).String()
	}
	return strings.Join(parts, ",")
}

// firstUser is the first user with a password (an NKEY user's seed is
// not known here), or none.
func firstUser(o ServerOptions) User {
	for _, a := range o.Accounts {
		for _, u := range a.Users {
			if u.NKey == "" {
				return u
			}
		}
	}
	return User{}
}

func toAny(ins []pulumi.Input) []any {
	out := make([]any, len(ins))
	for i, in := range ins {
		out[i] = in
	}
	return out
}

func toStrings(vs []any) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i], _ = v.(string)
	}
	return out
}

// resolvedBinary is how this deployment delivers nats-server.
type resolvedBinary struct {
	opts provision.BinaryOptions
	// localPath is the file to upload; empty with a URL.
	localPath string
}

// resolveBinary decides the binary before anything is registered: the URL
// as given, or the file to upload with its checksum, building the pinned
// release for the nodes' architecture when no file is given. Under Pulumi
// mocks nothing is built: the binary is needed only when the engine
// uploads it, and the reproducible build's checksum is known in advance
// (natsbin.SHA256), so the registered inputs are the same as for a real up.
func resolveBinary(ctx *pulumi.Context, a ServersArgs) (resolvedBinary, error) {
	b := a.Binary
	r := resolvedBinary{opts: provision.BinaryOptions{Version: a.NATSVersion, Arch: b.Arch, SHA256: b.SHA256, URL: plain(b.URL)}}
	if isSet(b.URL) {
		return r, nil
	}
	path := b.LocalPath
	if path == "" && underMocks(ctx) {
		sum, ok := natsbin.SHA256("linux", b.Arch)
		if !ok {
			return r, fmt.Errorf("natsnest: no reproducible build of nats-server v%s for linux/%s is known", a.NATSVersion, b.Arch)
		}
		if path, err := natsbin.Path("linux", b.Arch); err != nil {
			return r, err
		} else {
			r.opts.SHA256, r.localPath = sum, path
		}
		return r, nil
	}
	if path == "" {
		built, err := buildNATSServer(ctx.Context(), "linux", b.Arch)
		if err != nil {
			return r, fmt.Errorf("natsnest: building nats-server v%s for linux/%s to upload (set Binary.LocalPath or Binary.URL to avoid the build): %w", a.NATSVersion, b.Arch, err)
		}
		path = built
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return r, fmt.Errorf("%w: Binary.LocalPath: %v", ErrInvalidArgs, err)
	}
	if b.SHA256 != "" && b.SHA256 != sum {
		return r, fmt.Errorf("%w: Binary.SHA256: %s has sha256 %s, not %s", ErrInvalidArgs, path, sum, b.SHA256)
	}
	r.opts.SHA256, r.localPath = sum, path
	return r, nil
}

// unpinnedWarnings say, per host and for the bastion, where SSH trusts
// whatever host key answers: there, anyone on the path can take the
// connection, and with it what provisioning sends (passwords, keys).
func (a ServersArgs) unpinnedWarnings() []string {
	var out []string
	for i, h := range a.Hosts {
		if h.HostKey == nil {
			out = append(out, fmt.Sprintf("Hosts[%d] (%s) has no HostKey: SSH trusts whatever key answers at its Connect address on every up and destroy; set Host.HostKey (ssh-keyscan, checked out of band)", i, h.Name))
		}
	}
	if b := a.SSH.Bastion; b != nil && b.HostKey == nil {
		out = append(out, "SSH.Bastion has no HostKey: SSH trusts whatever key answers at the bastion's address; set Bastion.HostKey")
	}
	return out
}
