package natsnest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// badInput is one invalid input: an edit of valid ServersArgs or
// ClusterArgs, and what the error must say — "Field: rule".
type badInput struct {
	name    string
	servers func(*natsnest.ServersArgs) // either this
	cluster func(*natsnest.ClusterArgs) // or this
	want    string                      // "<field>: <start of the rule>"
	secrets func(*testing.T) []string   // never in the message; nil: none beyond the args'
}

// badInputs are at least 30 invalid inputs across every kind the issue
// names: node counts, CIDRs, ports and port clashes, passwords, names,
// versions, durations, sizes, TLS material, tags.
func badInputs(t *testing.T) []badInput {
	pki := newPEMPKI(t)
	other := newPEMPKI(t)
	expired, expiredKey := pki.issue(t, certSpec{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	seedKP, _ := nkeys.CreateUser()
	seed, _ := seedKP.Seed()
	sshKey := testPrivateKey(t)
	return []badInput{
		// Node counts.
		{name: "servers: 2 hosts", servers: func(a *natsnest.ServersArgs) { a.Hosts = a.Hosts[:2] }, want: "Hosts: 2 hosts: want 1, or an odd number from 3 to 11"},
		{name: "servers: no hosts", servers: func(a *natsnest.ServersArgs) { a.Hosts = nil }, want: "Hosts: 0 hosts: want 1, or an odd number"},
		{name: "cluster: 4 nodes", cluster: func(a *natsnest.ClusterArgs) { a.NodeCount = 4 }, want: "NodeCount: 4 must be 1 or an odd number from 3 to 11"},
		{name: "cluster: 13 nodes", cluster: func(a *natsnest.ClusterArgs) { a.NodeCount = 13 }, want: "NodeCount: 13 must be 1 or an odd number"},
		{name: "cluster: negative nodes", cluster: func(a *natsnest.ClusterArgs) { a.NodeCount = -3 }, want: "NodeCount: -3 must be 1 or an odd number"},
		{name: "cluster: more zones than nodes", cluster: func(a *natsnest.ClusterArgs) {
			a.NodeCount = 1
			a.Zones = []string{"cn-hangzhou-i", "cn-hangzhou-j"}
		}, want: "Zones: 2 zones for 1 nodes: at most one zone per node"},
		{name: "cluster: no zone", cluster: func(a *natsnest.ClusterArgs) { a.Zones = nil }, want: "Zones: at least one zone is required"},

		// CIDRs.
		{name: "cluster: VPC CIDR not a CIDR", cluster: func(a *natsnest.ClusterArgs) { a.VpcCIDR = "10.0.0.0/33" }, want: `VpcCIDR: "10.0.0.0/33" is not a CIDR`},
		{name: "cluster: public VPC CIDR", cluster: func(a *natsnest.ClusterArgs) { a.VpcCIDR = "8.8.0.0/16" }, want: `VpcCIDR: "8.8.0.0/16" must lie in 10.0.0.0/8`},
		{name: "cluster: client CIDR with host bits", cluster: func(a *natsnest.ClusterArgs) { a.AllowedClientCIDRs = []string{"10.1.2.3/8"} }, want: `AllowedClientCIDRs[0]: "10.1.2.3/8" has host bits set`},
		{name: "cluster: SSH CIDR not a CIDR", cluster: func(a *natsnest.ClusterArgs) { a.SSHCIDR = "anywhere" }, want: `SSHCIDR: "anywhere" is not a CIDR`},
		{name: "cluster: public access without SSH CIDR", cluster: func(a *natsnest.ClusterArgs) { a.SSHCIDR = "" }, want: "SSHCIDR: is required with PublicAccess and no Bastion"},
		{name: "cluster: SSH from the internet", cluster: func(a *natsnest.ClusterArgs) { a.SSHCIDR = "0.0.0.0/0" }, want: `SSHCIDR: "0.0.0.0/0" opens SSH on every node to a public range wider than a /24`},
		{name: "cluster: SSH from a public /16", cluster: func(a *natsnest.ClusterArgs) { a.SSHCIDR = "47.96.0.0/16" }, want: `SSHCIDR: "47.96.0.0/16" opens SSH`},
		{name: "cluster: public VPC CIDR of an existing VPC", cluster: func(a *natsnest.ClusterArgs) {
			inExistingVPC(a)
			a.VpcCIDR = "0.0.0.0/0"
		}, want: `VpcCIDR: "0.0.0.0/0" must lie in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16`},
		{name: "cluster: anonymous clients from the internet", cluster: func(a *natsnest.ClusterArgs) {
			a.AllowAnonymous = true
			a.AllowedClientCIDRs = []string{"172.16.0.0/12", "0.0.0.0/0"}
		}, want: `AllowedClientCIDRs[1]: "0.0.0.0/0" reaches beyond private addresses, and AllowAnonymous`},
		{name: "cluster: private nodes in a new VPC", cluster: func(a *natsnest.ClusterArgs) { a.PublicAccess = false }, want: "PublicAccess: is required with a new VPC"},
		{name: "cluster: bastion into a new VPC", cluster: func(a *natsnest.ClusterArgs) { a.Bastion = &natsnest.Bastion{Host: pulumi.String("b")} }, want: "Bastion: requires VpcID"},
		{name: "cluster: monitoring from the internet", cluster: func(a *natsnest.ClusterArgs) { a.MonitoringCIDR = "0.0.0.0/0" }, want: `MonitoringCIDR: "0.0.0.0/0" reaches beyond private addresses`},
		{name: "cluster: monitoring from one public address", cluster: func(a *natsnest.ClusterArgs) { a.MonitoringCIDR = "203.0.113.7/32" }, want: `MonitoringCIDR: "203.0.113.7/32" reaches beyond private addresses`},
		{name: "cluster: vswitch outside the VPC", cluster: func(a *natsnest.ClusterArgs) { a.VSwitchCIDRs = []string{"192.168.0.0/24"} }, want: `VSwitchCIDRs[0]: "192.168.0.0/24" is not inside VpcCIDR`},

		// Ports and port clashes.
		{name: "client port out of range", servers: func(a *natsnest.ServersArgs) { a.ClientPort = 70000 }, want: "ClientPort: port 70000 is outside 1..65535"},
		{name: "negative monitor port", servers: func(a *natsnest.ServersArgs) { a.MonitorPort = -1 }, want: "MonitorPort: port -1 is outside 1..65535"},
		{name: "route port clashes with client port", servers: func(a *natsnest.ServersArgs) { a.RoutePort = 4222 }, want: "RoutePort: port 4222 is already ClientPort"},
		{name: "monitor port on SSH", servers: func(a *natsnest.ServersArgs) { a.MonitorPort = 22 }, want: "MonitorPort: port 22 is SSH's"},
		{name: "cluster: monitor port clashes with route port", cluster: func(a *natsnest.ClusterArgs) { a.MonitorPort = 4248 }, want: "MonitorPort: port 4248 is already RoutePort"},
		{name: "SSH port out of range", servers: func(a *natsnest.ServersArgs) { a.SSH.Port = 65536 }, want: "SSH.Port: port 65536 is outside 1..65535"},

		// Passwords.
		{name: "short admin password", servers: func(a *natsnest.ServersArgs) { a.AdminPassword = pulumi.String("tiny-admin-pw") }, want: "AdminPassword: must be 22 to 30 characters, got 13"},
		{name: "long admin password", servers: func(a *natsnest.ServersArgs) { a.AdminPassword = pulumi.String(strings.Repeat("A", 31)) }, want: "AdminPassword: must be 22 to 30 characters, got 31"},
		{name: "short user password", servers: func(a *natsnest.ServersArgs) { a.Accounts[0].Users[0].Password = pulumi.String("pw-short") }, want: "Accounts[0].Users[0].Password: must be 12 to 72 characters, got 8"},
		{name: "user password beyond bcrypt's 72 bytes", servers: func(a *natsnest.ServersArgs) {
			a.Accounts[0].Users[0].Password = pulumi.String(strings.Repeat("p", 73))
		}, want: "Accounts[0].Users[0].Password: must be 12 to 72 characters, got 73"},
		{name: "short stack secret", servers: func(a *natsnest.ServersArgs) { a.StackSecret = pulumi.String("stack-secr") }, want: "StackSecret: must be at least 16 characters"},
		{name: "cluster: weak instance password", cluster: func(a *natsnest.ClusterArgs) { a.InstancePassword = pulumi.String("weakweakweak") }, want: "InstancePassword: must contain at least three of"},
		{name: "cluster: instance password with a space", cluster: func(a *natsnest.ClusterArgs) { a.InstancePassword = pulumi.String("Bad Pass 123") }, want: "InstancePassword: may only contain letters, digits and"},
		{name: "cluster: key pair without a usable key", cluster: func(a *natsnest.ClusterArgs) {
			a.KeyPairName, a.SSHPrivateKey = "natsnest", pulumi.String("-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key-body\n-----END OPENSSH PRIVATE KEY-----\n")
		}, want: "SSHPrivateKey: is not an unencrypted PEM private key"},
		{name: "no SSH credentials", servers: func(a *natsnest.ServersArgs) { a.SSH = natsnest.SSH{} }, want: "SSH: PrivateKey or Password is required"},

		// Names and users.
		{name: "no application user", servers: func(a *natsnest.ServersArgs) { a.Accounts = nil }, want: "Accounts: at least one application user is required (anonymous access is off)"},
		{name: "anonymous without an account", servers: func(a *natsnest.ServersArgs) { a.Accounts = nil; a.AllowAnonymous = true }, want: "Accounts: AllowAnonymous needs an account"},
		{name: "user named admin", servers: func(a *natsnest.ServersArgs) { a.Accounts[0].Users[0].Name = "admin" }, want: `Accounts[0].Users[0].Name: user "admin" is defined twice (or is the reserved admin user)`},
		{name: "user name with a space", servers: func(a *natsnest.ServersArgs) { a.Accounts[0].Users[0].Name = "app user" }, want: `Accounts[0].Users[0].Name: "app user" must be 1-64 letters`},
		{name: "account named $SYS", servers: func(a *natsnest.ServersArgs) { a.Accounts[0].Name = "$SYS" }, want: `Accounts[0].Name: "$SYS" must be 1-64 letters`},
		{name: "account twice", servers: func(a *natsnest.ServersArgs) {
			a.Accounts = append(a.Accounts, natsnest.Account{Name: "APP", Users: []natsnest.User{{Name: "b", Password: pulumi.String("b-password-1234")}}})
		}, want: `Accounts[1].Name: account "APP" is defined twice`},
		{name: "a private address that is no address", servers: func(a *natsnest.ServersArgs) { a.Hosts[1].PrivateAddress = pulumi.String("10.0.0.2; rm -rf /") },
			want: `Hosts[1].PrivateAddress: "10.0.0.2; rm -rf /" is neither an IP address nor a host name`},
		{name: "a disk serial with a newline", servers: func(a *natsnest.ServersArgs) { a.Hosts[0].DataDiskSerial = pulumi.String("d-1\nd-2") },
			want: "Hosts[0].DataDiskSerial: disk serial"},
		{name: "a host key that is no key", servers: func(a *natsnest.ServersArgs) { a.Hosts[2].HostKey = pulumi.String("ssh-ed25519 not-a-key") },
			want: "Hosts[2].HostKey: is not a public key in authorized_keys form"},
		{name: "an SSH key that is no key", servers: func(a *natsnest.ServersArgs) {
			a.SSH.PrivateKey = pulumi.String("-----BEGIN OPENSSH PRIVATE KEY-----\nnope\n")
		},
			want: "SSH.PrivateKey: is not an unencrypted PEM private key"},
		{name: "an admin password ending in a newline", servers: func(a *natsnest.ServersArgs) { a.AdminPassword = pulumi.String("Admin-Password-012345678\n") },
			want: "AdminPassword: must not contain control characters"},
		{name: "a stack secret with a tab", servers: func(a *natsnest.ServersArgs) { a.StackSecret = pulumi.String("stack-secret\t0123456789") },
			want: "StackSecret: must not contain control characters"},
		{name: "a password of 12 bytes but 4 characters", servers: func(a *natsnest.ServersArgs) { a.Accounts[0].Users[0].Password = pulumi.String("密码密码") },
			want: "Accounts[0].Users[0].Password: must be 12 to 72 characters, got 4"},
		{name: "a password bcrypt would cut", servers: func(a *natsnest.ServersArgs) {
			a.Accounts[0].Users[0].Password = pulumi.String(strings.Repeat("密", 30))
		},
			want: "Accounts[0].Users[0].Password: is 90 bytes in UTF-8: bcrypt uses only the first 72"},
		{name: "a lame duck of an hour", servers: func(a *natsnest.ServersArgs) { a.LameDuckDuration = time.Hour },
			want: "LameDuckDuration: 1h0m0s is more than 10m0s"},
		{name: "a memory store of 8 TiB", servers: func(a *natsnest.ServersArgs) { a.MaxMemoryStore = 8 << 40 },
			want: "MaxMemoryStore: 8796093022208 bytes is more than"},
		{name: "NKEY seed as a password", servers: func(a *natsnest.ServersArgs) { a.Accounts[0].Users[0].Password = pulumi.String(string(seed)) },
			want: "Accounts[0].Users[0].Password: looks like an NKEY seed", secrets: func(*testing.T) []string { return []string{string(seed)} }},
		{name: "NKEY seed as the admin password", servers: func(a *natsnest.ServersArgs) { a.AdminPassword = pulumi.String("x" + string(seed)) },
			want: "AdminPassword: must be 22 to 30 characters", secrets: func(*testing.T) []string { return []string{string(seed)} }},
		{name: "NKEY seed as an account name", servers: func(a *natsnest.ServersArgs) { a.Accounts[0].Name = string(seed) },
			want: "Accounts[0].Name: looks like an NKEY seed", secrets: func(*testing.T) []string { return []string{string(seed)} }},
		{name: "NKEY seed as a user name", servers: func(a *natsnest.ServersArgs) { a.Accounts[0].Users[0].Name = string(seed) },
			want: "Accounts[0].Users[0].Name: looks like an NKEY seed", secrets: func(*testing.T) []string { return []string{string(seed)} }},
		{name: "NKEY seed in a tag", servers: func(a *natsnest.ServersArgs) { a.Tags = []string{string(seed) + " x"} },
			want: "Tags[0]: \"<redacted NKEY seed> x\" must be", secrets: func(*testing.T) []string { return []string{string(seed)} }},
		{name: "NKEY seed instead of the public key", servers: func(a *natsnest.ServersArgs) {
			a.Accounts[0].Users = append(a.Accounts[0].Users, natsnest.User{NKey: string(seed)})
		},
			want: "Accounts[0].Users[1].NKey: looks like a seed (private key)", secrets: func(*testing.T) []string { return []string{string(seed)} }},
		{name: "NKEY that is not one", servers: func(a *natsnest.ServersArgs) {
			a.Accounts[0].Users = append(a.Accounts[0].Users, natsnest.User{NKey: "UABC"})
		}, want: `Accounts[0].Users[1].NKey: "UABC" is not a public user NKEY`},
		{name: "NKEY user with a password", servers: func(a *natsnest.ServersArgs) {
			pub, _ := seedKP.PublicKey()
			a.Accounts[0].Users = append(a.Accounts[0].Users, natsnest.User{NKey: pub, Password: pulumi.String("nkey-user-password")})
		}, want: "Accounts[0].Users[1]: an NKEY user has neither Name nor Password"},
		{name: "host name with shell syntax", servers: func(a *natsnest.ServersArgs) { a.Hosts[0].Name = "n1;reboot" }, want: `Hosts[0].Name: "n1;reboot" must be 1-63 letters`},
		{name: "host name twice", servers: func(a *natsnest.ServersArgs) { a.Hosts[2].Name = "n1" }, want: `Hosts[2].Name: server name "n1" is used twice`},
		{name: "host without private address", servers: func(a *natsnest.ServersArgs) { a.Hosts[1].PrivateAddress = nil }, want: "Hosts[1].PrivateAddress: is required"},
		{name: "device path with shell syntax", servers: func(a *natsnest.ServersArgs) {
			a.Hosts[0].DataDiskSerial = nil
			a.Hosts[0].DataDevice = "/dev/vdb; reboot"
		}, want: `Hosts[0].DataDevice: "/dev/vdb; reboot" must be a device path`},
		{name: "cluster name with a space", servers: func(a *natsnest.ServersArgs) { a.ClusterName = "C 1" }, want: `ClusterName: "C 1" must be 1-64 letters`},
		{name: "cluster: node name prefix", cluster: func(a *natsnest.ClusterArgs) { a.NodeNamePrefix = "Nats_1" }, want: `NodeNamePrefix: "Nats_1" must be 1-40 lower-case letters`},
		{name: "cluster: zone that is not one", cluster: func(a *natsnest.ClusterArgs) { a.Zones = []string{"cn hangzhou"} }, want: `Zones[0]: "cn hangzhou" is not a zone ID`},
		{name: "cluster: instance type", cluster: func(a *natsnest.ClusterArgs) { a.InstanceType = "g7.large" }, want: `InstanceType: "g7.large" is not an ECS instance type`},
		{name: "cluster: resource tag key", cluster: func(a *natsnest.ClusterArgs) { a.ResourceTags = map[string]string{"aliyun:x": "y"} }, want: `ResourceTags["aliyun:x"]: keys must not start with "aliyun"`},

		// Versions.
		{name: "version that is not a release", servers: func(a *natsnest.ServersArgs) { a.NATSVersion = "latest" }, want: `NATSVersion: "latest" must be a release such as`},
		{name: "version with shell syntax", servers: func(a *natsnest.ServersArgs) { a.NATSVersion = "2.15.2;reboot" }, want: `NATSVersion: "2.15.2;reboot" must be a release`},
		{name: "other version without its binary", servers: func(a *natsnest.ServersArgs) { a.NATSVersion = "2.14.0"; a.Binary = natsnest.Binary{} }, want: "NATSVersion: 2.14.0 is not the pinned"},

		// Durations.
		{name: "lame duck below 30s", servers: func(a *natsnest.ServersArgs) { a.LameDuckDuration = 10 * time.Second }, want: "LameDuckDuration: 10s is below nats-server's minimum of 30s"},
		{name: "grace period not shorter than lame duck", servers: func(a *natsnest.ServersArgs) { a.LameDuckGracePeriod = time.Minute }, want: "LameDuckGracePeriod: 1m0s must be at least 0 and shorter than LameDuckDuration"},
		{name: "negative grace period", servers: func(a *natsnest.ServersArgs) { a.LameDuckGracePeriod = -time.Second }, want: "LameDuckGracePeriod: -1s must be at least 0"},
		{name: "durability that is not one", servers: func(a *natsnest.ServersArgs) { a.Durability = "sometimes" }, want: `Durability: "sometimes" must be "default" or "always"`},

		// Sizes.
		{name: "servers without a file store limit", servers: func(a *natsnest.ServersArgs) { a.MaxFileStore = 0 }, want: "MaxFileStore: is required for Servers and must be positive"},
		{name: "negative memory store", servers: func(a *natsnest.ServersArgs) { a.MaxMemoryStore = -1 }, want: "MaxMemoryStore: must not be negative"},
		{name: "cluster: data disk too small", cluster: func(a *natsnest.ClusterArgs) { a.DataDiskSize = 10 }, want: "DataDiskSize: 10 GiB must be 20 to 32768"},
		{name: "cluster: system disk too big", cluster: func(a *natsnest.ClusterArgs) { a.SystemDiskSize = 5000 }, want: "SystemDiskSize: 5000 GiB must be 20 to 2048"},
		{name: "cluster: file store beyond the disk", cluster: func(a *natsnest.ClusterArgs) { a.MaxFileStore = 40 << 30 }, want: "MaxFileStore: 42949672960 bytes must leave room for the filesystem"},
		{name: "cluster: EIP bandwidth", cluster: func(a *natsnest.ClusterArgs) {
			a.PublicAccess, a.SSHCIDR, a.InternetBandwidth = true, "203.0.113.7/32", 500
		}, want: "InternetBandwidth: 500 Mbit/s must be 1 to 200"},

		// TLS material.
		{name: "TLS key of another certificate", servers: func(a *natsnest.ServersArgs) {
			a.TLS = &natsnest.TLSArgs{CA: pki.CA, Cert: pki.Cert, Key: pulumi.String(other.Key)}
		}, want: "TLS.Key: does not go with TLS.Cert"},
		{name: "TLS certificate expired", servers: func(a *natsnest.ServersArgs) {
			a.TLS = &natsnest.TLSArgs{CA: pki.CA, Cert: expired, Key: pulumi.String(expiredKey)}
		}, want: "TLS.Cert: expired on"},
		{name: "TLS certificate from another CA", servers: func(a *natsnest.ServersArgs) {
			a.TLS = &natsnest.TLSArgs{CA: other.CA, Cert: pki.Cert, Key: pulumi.String(pki.Key)}
		}, want: "TLS.Cert: does not verify against TLS.CA"},
		{name: "TLS certificate that is not PEM", servers: func(a *natsnest.ServersArgs) { a.TLS = &natsnest.TLSArgs{Cert: "MIIB...", Key: pulumi.String(pki.Key)} }, want: "TLS.Cert: holds text that is not PEM"},
		{name: "TLS client verification without a CA", servers: func(a *natsnest.ServersArgs) {
			a.TLS = &natsnest.TLSArgs{Cert: pki.Cert, Key: pulumi.String(pki.Key), VerifyClients: true}
		}, want: "TLS.CA: is required with VerifyClients"},
		{name: "TLS routes to an address the certificate does not name", servers: func(a *natsnest.ServersArgs) {
			a.TLS = pki.tls()
			a.Hosts[0].PrivateAddress = pulumi.String("10.9.9.9")
		}, want: "TLS.Cert: Hosts[0].PrivateAddress: routes dial this node at 10.9.9.9"},
		{name: "cluster: TLS on routes", cluster: func(a *natsnest.ClusterArgs) { a.TLS = pki.tls() }, want: "TLS.Routes: is not supported by Cluster"},

		// Tags.
		{name: "tag with a space", servers: func(a *natsnest.ServersArgs) { a.Tags = []string{"env prod"} }, want: `Tags[0]: "env prod" must be 1-128 letters`},
		{name: "tag with a newline", servers: func(a *natsnest.ServersArgs) { a.Tags = []string{"env\nprod"} }, want: `Tags[0]: "env\nprod" must be 1-128 letters`},
		{name: "tag twice, differing in case", servers: func(a *natsnest.ServersArgs) { a.Tags = []string{"env:prod", "ENV:prod"} }, want: `Tags[1]: "ENV:prod" is given twice`},
		{name: "tag that the zone sets", cluster: func(a *natsnest.ClusterArgs) { a.Tags = []string{"az:cn-hangzhou-i"} }, want: `Tags[0]: "az:cn-hangzhou-i": the az: tag is set from each host's zone`},
		{name: "host zone that is not one", servers: func(a *natsnest.ServersArgs) { a.Hosts[0].Zone = "zone a" }, want: `Hosts[0].Zone: "zone a" must be 1-64 letters`},
		{name: "cluster: key pair with a seed-like NKEY", cluster: func(a *natsnest.ClusterArgs) {
			a.KeyPairName, a.SSHPrivateKey, a.InstancePassword = "natsnest", pulumi.String(sshKey), nil
			a.Accounts[0].Users[0] = natsnest.User{NKey: string(seed)}
		}, want: "Accounts[0].Users[0].NKey: looks like a seed", secrets: func(*testing.T) []string { return []string{string(seed), keyMaterial(sshKey)} }},
	}
}

// argSecrets are the secrets in args: none may appear in an error message.
func argSecrets(o natsnest.ServerOptions) []string {
	s := []string{unsecretInput(o.AdminPassword), unsecretInput(o.StackSecret)}
	for _, a := range o.Accounts {
		for _, u := range a.Users {
			s = append(s, unsecretInput(u.Password))
		}
	}
	if o.TLS != nil && unsecretInput(o.TLS.Key) != "" {
		s = append(s, keyMaterial(unsecretInput(o.TLS.Key)))
	}
	return s
}

// Every invalid input fails Validate with a message that names the field
// and the rule (wrapping ErrInvalidArgs, never repeating a secret), and
// NewServers or NewCluster under mocks registers no resource and makes no
// lookup.
func TestValidateTable(t *testing.T) {
	cases := badInputs(t)
	if len(cases) < 30 {
		t.Fatalf("only %d invalid inputs", len(cases))
	}
	kinds := map[string]int{}
	for _, c := range cases {
		kinds[map[bool]string{true: "servers", false: "cluster"}[c.servers != nil]]++
		t.Run(c.name, func(t *testing.T) {
			var validate func() error
			var register func() (int, error)
			var secrets []string
			if c.servers != nil {
				a := svArgs(t, 3)
				c.servers(a)
				validate = a.Validate
				secrets = argSecrets(a.ServerOptions)
				register = func() (int, error) {
					m := &svMocks{}
					err := runWithMocks(m, func(ctx *pulumi.Context) error {
						_, err := natsnest.NewServers(ctx, "nats", a)
						return err
					})
					return len(m.byName()), err
				}
			} else {
				a := validClusterArgs()
				c.cluster(a)
				validate = a.Validate
				secrets = append(argSecrets(a.ServerOptions), unsecretInput(a.InstancePassword))
				register = func() (int, error) {
					m := newClusterMocks()
					err := runWithMocks(m, func(ctx *pulumi.Context) error {
						_, err := natsnest.NewCluster(ctx, "c", a)
						return err
					})
					return len(m.registrations()) + len(m.Calls("")), err
				}
			}
			if c.secrets != nil {
				secrets = append(secrets, c.secrets(t)...)
			}

			err := validate()
			if err == nil {
				t.Fatalf("Validate accepted it; want %q", c.want)
			}
			if !errors.Is(err, natsnest.ErrInvalidArgs) {
				t.Errorf("%v does not wrap ErrInvalidArgs", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("the error does not say %q:\n%v", c.want, err)
			}
			for _, s := range secrets {
				if len(s) >= 6 && strings.Contains(err.Error(), s) {
					t.Errorf("the error repeats a secret (%.4s…):\n%v", s, err)
				}
			}

			n, runErr := register()
			if !errors.Is(runErr, natsnest.ErrInvalidArgs) || !strings.Contains(fmt.Sprint(runErr), c.want) {
				t.Errorf("the constructor: %v", runErr)
			}
			if n != 0 {
				t.Errorf("%d resources registered or lookups made despite invalid arguments", n)
			}
		})
	}
	if kinds["servers"] < 15 || kinds["cluster"] < 15 {
		t.Errorf("cases per component: %v", kinds)
	}
}
