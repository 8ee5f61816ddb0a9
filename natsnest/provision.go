package natsnest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// bcryptCost is the work factor of the hashes in nats.conf; 0 is natsconf's
// default. Tests lower it.
var bcryptCost = 0

// layout is where things live on every node.
var layout = provision.DefaultLayout()

// renderNodeFiles renders what the config step writes on every host, in
// host order, once the private addresses are known. It is pure: the same
// options and addresses give the same bytes, so a second `up` re-runs nothing.
func renderNodeFiles(a ServersArgs, privateAddrs []string) ([]provision.NodeFiles, error) {
	tmpl := a.ServerOptions.serverTemplate(a.NoAdvertise)
	tmpl.BcryptCost = bcryptCost
	nodes := make([]natsconf.Node, len(a.Hosts))
	for i, h := range a.Hosts {
		nodes[i] = natsconf.Node{Name: h.Name, RouteHost: privateAddrs[i]}
		if !a.MonitoringOnAllAddresses {
			nodes[i].MonitorHost = privateAddrs[i]
		}
		if h.Zone != "" {
			nodes[i].Tags = []string{"az:" + h.Zone}
		}
	}
	servers, err := natsconf.ClusterConfigs(tmpl, nodes)
	if err != nil {
		return nil, err
	}
	if len(a.Hosts) > 1 {
		if bad := checkRouteNames(a.TLS, func(i int) string { return fmt.Sprintf("Hosts[%d] (%s)", i, a.Hosts[i].Name) }, privateAddrs); len(bad) > 0 {
			return nil, fmt.Errorf("%w: TLS.Cert: %s", ErrInvalidArgs, strings.Join(bad, "; "))
		}
	}
	files := make([]provision.NodeFiles, len(servers))
	for i, s := range servers {
		f, err := natsconf.RenderServerConfig(s)
		if err != nil {
			return nil, fmt.Errorf("natsnest: host %s: %w", a.Hosts[i].Name, err)
		}
		unit, err := provision.RenderUnit(provision.UnitOptions{Layout: layout, LameDuckDuration: a.LameDuckDuration, NoDataDisk: a.Hosts[i].NoDataDisk})
		if err != nil {
			return nil, err
		}
		files[i] = provision.NodeFiles{Config: f.Config, Routes: f.Routes, Unit: unit, RestartSettings: provision.RestartSettings(s)}
		if t := a.TLS; t != nil {
			files[i].TLSCert, files[i].TLSKey, files[i].TLSCA = t.Cert, plain(t.Key), t.CA
		}
	}
	return files, nil
}

// provisionHosts registers every host's steps and returns the service
// steps, in host order.
//
// Per host, each step a resource named <name>-<host>-<step>:
//
//	base     after Host.DependsOn
//	disk     after base;          re-runs when the disk selector or DataDiskSize changes
//	upload   after base;          re-runs when the binary's checksum changes (upload only)
//	binary   after base, upload;  re-runs when version, URL, checksum or arch change
//	config   after binary;        re-runs when the rendered files change (stdin, secret)
//	start    after disk, binary, config; starts natsd unless it is running
//	service  after start and the previous host's service; runs nothing
//	         when created, and restarts or reloads natsd (an update) when
//	         the binary or any rendered file changes
//
// Every step is replaced when the host's InstanceID changes (a trigger):
// the steps run again from scratch, and the replaced service step runs
// nothing, as the start step starts natsd afresh. A change of the
// connection (a new SSH key, address or bastion) is an update in
// pulumi-command v1.2.1, not a replacement: each step's create runs again
// over the new connection (idempotent: start leaves a running natsd alone),
// the service step's update finds nothing to apply, and the leave command
// runs nothing but keeps the new connection for its Delete. A step also
// re-runs when its own script changes (a natsnest upgrade).
//
// The start steps of all hosts run at once, so a first deployment boots
// every node in parallel. Only the service steps are chained, for rolling
// restarts; as they run nothing when created, the chain costs a first
// deployment nothing.
func provisionHosts(ctx *pulumi.Context, name string, parent pulumi.Resource, a ServersArgs, bin resolvedBinary) ([]*remote.Command, error) {
	sudo := a.SSH.User != "root"
	run := func(script string) pulumi.StringInput { return pulumi.String(provision.RemoteCommand(script, sudo)) }
	scripts := map[string]string{}
	var err error
	if scripts[provision.StepBase], err = provision.BaseScript(layout, provision.BaseOptions{KeysOnly: a.SSH.keysOnly()}); err != nil {
		return nil, err
	}
	if scripts[provision.StepBinary], err = provision.BinaryScript(layout, bin.opts); err != nil {
		return nil, err
	}
	if scripts[provision.StepConfig], err = provision.ConfigScript(layout); err != nil {
		return nil, err
	}
	serviceOpts := provision.ServiceOptions{MonitorPort: a.MonitorPort, MonitorTLS: a.TLS != nil && a.TLS.Monitoring}
	if scripts[provision.StepStart], err = provision.StartScript(layout, serviceOpts); err != nil {
		return nil, err
	}
	// The service script is rendered per host, with what it applies; this
	// checks the options once.
	if _, err = provision.ServiceScript(layout, serviceOpts); err != nil {
		return nil, err
	}
	// binaryKey names the binary the nodes run; the service step restarts
	// when it changes.
	// (Not the URL: a new signature of the same file restarts nothing.)
	binaryKey := fmt.Sprintf("nats-server v%s linux/%s sha256:%s", bin.opts.Version, bin.opts.Arch, bin.opts.SHA256)

	private := make([]any, len(a.Hosts))
	for i, h := range a.Hosts {
		private[i] = h.PrivateAddress
	}
	files := pulumi.All(private...).ApplyT(func(vs []any) ([]string, error) {
		nf, err := renderNodeFiles(a, toStrings(vs))
		if err != nil {
			return nil, err
		}
		payloads := make([]string, len(nf))
		for i, f := range nf {
			payloads[i] = provision.EncodePayload(f)
		}
		return payloads, nil
	}).(pulumi.StringArrayOutput)

	conn := connection(a)
	services := make([]*remote.Command, len(a.Hosts))
	for i, h := range a.Hosts {
		prefix := fmt.Sprintf("%s-%s-", name, h.Name)
		c := conn(h)
		triggers := func(extra ...any) pulumi.Array {
			t := pulumi.Array{}
			if h.InstanceID != nil {
				t = append(t, h.InstanceID)
			}
			for _, e := range extra {
				t = append(t, pulumi.Any(e))
			}
			return t
		}
		command := func(step string, args *remote.CommandArgs, deps ...pulumi.Resource) (*remote.Command, error) {
			args.Connection = c
			args.AddPreviousOutputInEnv = pulumi.Bool(false)
			args.Logging = stepLogging(step)
			return remote.NewCommand(ctx, prefix+step, args, pulumi.Parent(parent), pulumi.DependsOn(deps))
		}

		base, err := command(provision.StepBase, &remote.CommandArgs{
			Create:   run(scripts[provision.StepBase]),
			Triggers: triggers(),
		}, h.DependsOn...)
		if err != nil {
			return nil, err
		}

		var serial pulumi.StringOutput
		if h.DataDiskSerial != nil {
			serial = h.DataDiskSerial.ToStringOutput()
		} else {
			serial = pulumi.String("").ToStringOutput()
		}
		diskCreate := serial.ApplyT(func(serial string) (string, error) {
			s, err := provision.DiskScript(layout, provision.DiskOptions{
				Selector:   provision.DiskSelector{Serial: serial, Device: h.DataDevice},
				NoDataDisk: h.NoDataDisk,
			})
			return provision.RemoteCommand(s, sudo), err
		}).(pulumi.StringOutput)
		diskTriggers := triggers()
		if h.DataDiskSize != nil {
			diskTriggers = append(diskTriggers, h.DataDiskSize)
		}
		disk, err := command(provision.StepDisk, &remote.CommandArgs{Create: diskCreate, Triggers: diskTriggers}, base)
		if err != nil {
			return nil, err
		}

		binaryDeps := []pulumi.Resource{base}
		if bin.localPath != "" {
			upload, err := remote.NewCopyToRemote(ctx, prefix+"upload", &remote.CopyToRemoteArgs{
				Connection: c,
				Source:     pulumi.NewFileAsset(bin.localPath),
				RemotePath: pulumi.String(layout.StagedBinary(bin.opts.SHA256)),
				Triggers:   triggers(bin.opts.SHA256),
			}, pulumi.Parent(parent), pulumi.DependsOn([]pulumi.Resource{base}))
			if err != nil {
				return nil, err
			}
			binaryDeps = append(binaryDeps, upload)
		}
		binaryArgs := &remote.CommandArgs{
			Create:   run(scripts[provision.StepBinary]),
			Triggers: triggers(),
		}
		if bin.opts.URL != "" {
			// The URL on stdin, as a secret: a presigned URL's signature
			// is a credential.
			binaryArgs.Stdin = a.pending.unknown(secret(provision.BinaryPayload(bin.opts.URL)).ToStringOutput())
		}
		binary, err := command(provision.StepBinary, binaryArgs, binaryDeps...)
		if err != nil {
			return nil, err
		}

		payload := files.Index(pulumi.Int(i))
		config, err := command(provision.StepConfig, &remote.CommandArgs{
			Create:   run(scripts[provision.StepConfig]),
			Stdin:    a.pending.unknown(pulumi.ToSecret(payload).(pulumi.StringOutput)),
			Triggers: triggers(),
		}, base, binary)
		if err != nil {
			return nil, err
		}

		start, err := command(provision.StepStart, &remote.CommandArgs{
			Create:   run(scripts[provision.StepStart]),
			Triggers: triggers(),
		}, disk, binary, config)
		if err != nil {
			return nil, err
		}

		// The service step runs nothing when it is created: the start step
		// has just started natsd with these files. Its script is an update,
		// and names the binary and a digest of the rendered files, so a
		// change to either restarts or reloads natsd, one host after the
		// other. Secret, as the digest is derived from routes.conf.
		roll := pulumi.ToSecret(payload.ApplyT(func(p string) (string, error) {
			sum := sha256.Sum256([]byte(p))
			o := serviceOpts
			o.Applies = []string{binaryKey, "config sha256:" + hex.EncodeToString(sum[:])}
			s, err := provision.ServiceScript(layout, o)
			return provision.RemoteCommand(s, sudo), err
		})).(pulumi.StringOutput)
		serviceDeps := []pulumi.Resource{disk, binary, config, start}
		if i > 0 {
			serviceDeps = append(serviceDeps, services[i-1])
		}
		services[i], err = command(provision.StepService, &remote.CommandArgs{
			Update:   a.pending.unknown(roll),
			Triggers: triggers(),
		}, serviceDeps...)
		if err != nil {
			return nil, err
		}
	}
	return services, nil
}

// stepLogging is what a step streams to `pulumi up` while it runs. The
// rolling steps (service, leave) say what they do to each node — reload,
// restart, peer removal — which is worth seeing as it happens; the others
// show only their warnings and errors (stderr), not their progress on every
// up. When a step fails, pulumi-command v1.2.1 puts its whole stdout and
// stderr into the error whatever this says (remote/commandOutputs.go).
func stepLogging(step string) remote.LoggingPtrInput {
	switch step {
	case provision.StepService, provision.StepLeave:
		return remote.LoggingStdoutAndStderr
	default:
		return remote.LoggingStderr
	}
}

// connection returns, per host, how SSH reaches it. Keys and passwords are
// secrets (the whole connection is, too: pulumi-command makes it one).
func connection(a ServersArgs) func(Host) remote.ConnectionInput {
	s := a.SSH
	var proxy remote.ProxyConnectionPtrInput
	if b := s.Bastion; b != nil {
		proxy = &remote.ProxyConnectionArgs{
			Host:           b.Host,
			Port:           pulumi.Float64(float64(b.Port)),
			User:           pulumi.String(b.User),
			PrivateKey:     secretPtr(b.PrivateKey),
			Password:       secretPtr(b.Password),
			DialErrorLimit: pulumi.Int(s.DialErrorLimit),
			PerDialTimeout: pulumi.Int(DefaultPerDialTimeout),
		}
		if b.HostKey != nil {
			proxy.(*remote.ProxyConnectionArgs).HostKey = b.HostKey.ToStringOutput().ToStringPtrOutput()
		}
	}
	return func(h Host) remote.ConnectionInput {
		c := &remote.ConnectionArgs{
			Host:           h.Connect,
			Port:           pulumi.Float64(float64(s.Port)),
			User:           pulumi.String(s.User),
			PrivateKey:     secretPtr(s.PrivateKey),
			Password:       secretPtr(s.Password),
			DialErrorLimit: pulumi.Int(s.DialErrorLimit),
			PerDialTimeout: pulumi.Int(DefaultPerDialTimeout),
			Proxy:          proxy,
		}
		if h.HostKey != nil {
			c.HostKey = h.HostKey.ToStringOutput().ToStringPtrOutput()
		}
		return c
	}
}

// secretPtr is in as a secret optional string; nil stays nil.
func secretPtr(in pulumi.StringInput) pulumi.StringPtrInput {
	if in == nil {
		return nil
	}
	return pulumi.ToSecret(in.ToStringOutput()).(pulumi.StringOutput).ToStringPtrOutput()
}

// natsContextJSON renders a `nats` CLI context (nats context import/save).
func natsContextJSON(description, url string, u User) (string, error) {
	b, err := json.MarshalIndent(struct {
		Description string `json:"description"`
		URL         string `json:"url"`
		User        string `json:"user"`
		Password    string `json:"password"`
	}{description, url, u.Name, plain(u.Password)}, "", "  ")
	return string(b), err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", err
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
