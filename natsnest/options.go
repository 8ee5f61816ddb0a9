// Package natsnest deploys NATS JetStream clusters: on Alibaba Cloud ECS with
// Cluster, or onto machines that already exist with Servers. Both share one
// provisioning path over SSH and the server settings in ServerOptions.
package natsnest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
	"github.com/natsnest/pulumi-natsnest/internal/version"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ErrInvalidArgs wraps every validation error of ClusterArgs and ServersArgs.
var ErrInvalidArgs = errors.New("natsnest: invalid arguments")

// Durability settings: when JetStream fsyncs what it acknowledged.
const (
	// DurabilityDefault keeps nats-server's default: writes are acknowledged
	// before fsync and flushed every 2 minutes. A power loss on a majority of
	// nodes can lose acknowledged messages.
	DurabilityDefault = "default"
	// DurabilityAlways fsyncs every write before acknowledging it
	// (sync_interval: always). Slower; see BENCHMARKS.md.
	DurabilityAlways = "always"
)

// Sizes in bytes, for MaxFileStore and MaxMemoryStore: 10 * natsnest.GiB.
const (
	KiB int64 = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

// Defaults of ServerOptions, applied by (ServerOptions).withDefaults.
const (
	DefaultClusterName    = natsconf.DefaultClusterName
	DefaultClientPort     = natsconf.DefaultClientPort
	DefaultRoutePort      = natsconf.DefaultRoutePort
	DefaultMonitorPort    = natsconf.DefaultMonitorPort
	DefaultAppAccount     = "APP"
	DefaultMaxMemoryStore = int64(1) << 30
	// MaxMemoryStoreLimit bounds MaxMemoryStore: 4 TiB.
	MaxMemoryStoreLimit = 4 * TiB
	// MaxLameDuckDuration bounds LameDuckDuration.
	MaxLameDuckDuration        = 10 * time.Minute
	DefaultLameDuckDuration    = natsconf.DefaultLameDuckDuration
	DefaultLameDuckGracePeriod = natsconf.DefaultLameDuckGracePeriod
	DefaultDurability          = DurabilityDefault
	// DefaultNATSVersion is the nats-server release natsnest installs, the
	// same one its tests and demo run.
	DefaultNATSVersion = version.NATSServer
	// StoreDir is where JetStream keeps its data: on the data disk at /data.
	StoreDir = "/data/nats-storage"
)

// User is an application user: Name with Password, or an NKEY.
type User struct {
	// Name and Password log in with a password: the name 1-64 letters,
	// digits, '_', '.', '@' or '-', the password 12 to 72 characters and
	// not guessable (not one character repeated, not a common password or
	// a keyboard run, enough different characters). The nodes hold only
	// its bcrypt hash. A secret: pulumi.String, cfg.RequireSecret, or
	// another resource's output.
	Name     string
	Password pulumi.StringInput
	// NKey is the public NKEY ("U…") of a user who signs in with the
	// matching seed, which natsnest never sees (the seed stays with the
	// client). Not with Name and Password.
	NKey string
}

// Account is an application account; its users share its streams.
type Account struct {
	// Name of the account. Defaults to "APP".
	Name string
	// JetStream enables JetStream for the account. Defaults to true.
	JetStream *bool
	Users     []User
}

// ServerOptions are the settings every node runs with, the same for Cluster and Servers.
type ServerOptions struct {
	// NATSVersion is the nats-server release to install, e.g. "2.15.2".
	// Defaults to DefaultNATSVersion.
	NATSVersion string
	// ClusterName is the cluster block's name. Defaults to "C1".
	ClusterName string
	// AdminPassword is the password of user "admin" in the system account
	// $SYS: 22 to 30 characters, as in Compute Nest's form, and not
	// guessable (as User.Password). A secret. Required.
	AdminPassword pulumi.StringInput
	// StackSecret is a per-stack secret of at least 16 characters and
	// MinStackSecretBits of entropy. bcrypt salts and the route password
	// are derived from it, so identical inputs render identical configs. A
	// secret. Required; keep it with `pulumi config set --secret`.
	StackSecret pulumi.StringInput
	// Accounts are the application accounts. At least one user is required.
	Accounts []Account
	// MaxFileStore caps JetStream's file store, in bytes. Cluster defaults it to
	// 90% of the data disk; Servers requires it.
	MaxFileStore int64
	// MaxMemoryStore caps JetStream's memory store, in bytes, at most
	// MaxMemoryStoreLimit (4 TiB). Defaults to 1 GiB.
	MaxMemoryStore int64
	// Durability is DurabilityDefault or DurabilityAlways. Defaults to DurabilityDefault.
	Durability string
	// ClientPort, RoutePort, MonitorPort default to 4222, 4248 and 8222.
	ClientPort, RoutePort, MonitorPort int
	// LameDuckDuration is how long a stopping server takes to move its
	// clients away (30s to MaxLameDuckDuration, 10m). Defaults to 30s.
	LameDuckDuration time.Duration
	// LameDuckGracePeriod is the wait before lame duck mode starts closing
	// clients. Defaults to 10s.
	LameDuckGracePeriod time.Duration
	// Tags are added to every node's server_tags, e.g. "env:prod".
	Tags []string

	// AllowAnonymous lets clients without credentials in, as a user of
	// Accounts[0] (nats-server's no_auth_user) that natsnest adds for them.
	//
	// WARNING: this restores the seed's behaviour: anyone who reaches the
	// client port can publish, subscribe and use JetStream in that
	// account. Keep AllowedClientCIDRs narrow if you set it. Defaults to
	// false: every client needs a user's credentials.
	AllowAnonymous bool
	// TLS, when set, requires TLS from every client, and optionally on
	// routes and for monitoring. Defaults to nil: no TLS.
	TLS *TLSArgs
}

// withDefaults returns a copy of o with every default applied; the one place defaults are set.
func (o ServerOptions) withDefaults() ServerOptions {
	if o.NATSVersion == "" {
		o.NATSVersion = DefaultNATSVersion
	}
	if o.ClusterName == "" {
		o.ClusterName = DefaultClusterName
	}
	if o.MaxMemoryStore == 0 {
		o.MaxMemoryStore = DefaultMaxMemoryStore
	}
	if o.Durability == "" {
		o.Durability = DefaultDurability
	}
	if o.ClientPort == 0 {
		o.ClientPort = DefaultClientPort
	}
	if o.RoutePort == 0 {
		o.RoutePort = DefaultRoutePort
	}
	if o.MonitorPort == 0 {
		o.MonitorPort = DefaultMonitorPort
	}
	if o.LameDuckDuration == 0 {
		o.LameDuckDuration = DefaultLameDuckDuration
	}
	if o.LameDuckGracePeriod == 0 {
		o.LameDuckGracePeriod = DefaultLameDuckGracePeriod
	}
	accounts := make([]Account, len(o.Accounts))
	for i, a := range o.Accounts {
		if a.Name == "" {
			a.Name = DefaultAppAccount
		}
		if a.JetStream == nil {
			on := true
			a.JetStream = &on
		}
		a.Users = append([]User(nil), a.Users...)
		accounts[i] = a
	}
	o.Accounts = accounts
	o.Tags = append([]string(nil), o.Tags...)
	if o.TLS != nil {
		t := *o.TLS
		o.TLS = &t
	}
	return o
}

var (
	versionRE     = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)
	clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	userNameRE    = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)
	accountNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	tagRE         = regexp.MustCompile(`^[A-Za-z0-9_.:/=-]{1,128}$`)
)

// problems collects validation errors, each naming its field and the rule.
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%w: %s: %s", ErrInvalidArgs, field, redactSecrets(fmt.Sprintf(format, args...))))
}

// hasControl says whether s holds a control character, or is not UTF-8.
func hasControl(s string) bool {
	return !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0
}

// nkeySeedRE finds NKEY seeds (private keys: S, the key type, base32), and
// credsBlockRE the blocks of a .creds file, wherever a value was pasted.
var (
	nkeySeedRE   = regexp.MustCompile(`S[UAONCPX][A-Z2-7]{56}`)
	credsBlockRE = regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*(NKEY SEED|JWT)-----.*?(------END [A-Z ]*(NKEY SEED|JWT)------|$)`)
)

// redactSecrets replaces every NKEY seed and .creds block in an error
// message: a value pasted into the wrong field must not reach a log.
func redactSecrets(msg string) string {
	msg = credsBlockRE.ReplaceAllString(msg, "<redacted .creds block>")
	return nkeySeedRE.ReplaceAllString(msg, "<redacted NKEY seed>")
}

// looksLikeSeed says whether s is, or contains, an NKEY seed or a .creds
// block: never a password.
func looksLikeSeed(s string) bool {
	return nkeySeedRE.MatchString(s) || credsBlockRE.MatchString(s)
}

func (p problems) err() error { return errors.Join(p...) }

// validate reports every problem of o (with defaults applied) into p.
func (o ServerOptions) validate(p *problems) {
	if !versionRE.MatchString(o.NATSVersion) {
		p.add("NATSVersion", "%q must be a release such as %q", o.NATSVersion, DefaultNATSVersion)
	}
	if !clusterNameRE.MatchString(o.ClusterName) {
		p.add("ClusterName", "%q must be 1-64 letters, digits, '_' or '-'", o.ClusterName)
	}
	// Secrets given as outputs are checked once known (secrets.go).
	if isEmpty(o.AdminPassword) {
		p.add("AdminPassword", "is required: the password of the system account's admin user")
	} else if pw, ok := known(o.AdminPassword); ok {
		if n := utf8.RuneCountInString(pw); n < 22 || n > 30 {
			p.add("AdminPassword", "must be 22 to 30 characters, got %d", n)
		}
		checkPassword(p, "AdminPassword", pw, "")
	}
	if isEmpty(o.StackSecret) {
		p.add("StackSecret", "is required: it derives bcrypt salts and the route password")
	} else if s, ok := known(o.StackSecret); ok {
		checkStackSecret(p, s)
	}
	users, accounts := map[string]bool{natsconf.DefaultAdminUser: true}, map[string]bool{}
	nkeyUsers := map[string]bool{}
	nUsers := 0
	for i, a := range o.Accounts {
		f := fmt.Sprintf("Accounts[%d]", i)
		if looksLikeSeed(a.Name) {
			p.add(f+".Name", "looks like an NKEY seed (a private key), which nats.conf would hold in plain text")
		} else if !accountNameRE.MatchString(a.Name) {
			p.add(f+".Name", "%q must be 1-64 letters, digits, '_' or '-'", a.Name)
		} else if accounts[a.Name] {
			p.add(f+".Name", "account %q is defined twice", a.Name)
		}
		accounts[a.Name] = true
		for j, u := range a.Users {
			nUsers++
			uf := fmt.Sprintf("%s.Users[%d]", f, j)
			if u.NKey != "" {
				if u.Name != "" || isSet(u.Password) {
					p.add(uf, "an NKEY user has neither Name nor Password: set NKey, or Name and Password")
				}
				validateUserNKey(p, uf+".NKey", u.NKey)
				if nkeyUsers[u.NKey] {
					p.add(uf+".NKey", "NKEY is given twice")
				}
				nkeyUsers[u.NKey] = true
				continue
			}
			if looksLikeSeed(u.Name) {
				p.add(uf+".Name", "looks like an NKEY seed (a private key), which nats.conf would hold in plain text: for NKEY users set NKey to the public key")
			} else if !userNameRE.MatchString(u.Name) {
				p.add(uf+".Name", "%q must be 1-64 letters, digits, '_', '.', '@' or '-'", u.Name)
			} else if users[u.Name] {
				p.add(uf+".Name", "user %q is defined twice (or is the reserved admin user)", u.Name)
			}
			users[u.Name] = true
			if isEmpty(u.Password) {
				p.add(uf+".Password", "is required for a user with a Name (or set NKey for an NKEY user)")
			} else if pw, ok := known(u.Password); ok {
				if n := utf8.RuneCountInString(pw); n < 12 || n > 72 {
					p.add(uf+".Password", "must be 12 to 72 characters, got %d", n)
				} else if len(pw) > 72 {
					p.add(uf+".Password", "is %d bytes in UTF-8: bcrypt uses only the first 72", len(pw))
				}
				checkPassword(p, uf+".Password", pw, ": for NKEY users set NKey to the public key")
			}
		}
	}
	switch {
	case o.AllowAnonymous && len(o.Accounts) == 0:
		p.add("Accounts", "AllowAnonymous needs an account for anonymous clients: they land in Accounts[0]")
	case !o.AllowAnonymous && nUsers == 0:
		p.add("Accounts", "at least one application user is required (anonymous access is off)")
	}
	validateTLS(p, o.TLS)
	if o.MaxFileStore < 0 {
		p.add("MaxFileStore", "must not be negative")
	}
	if o.MaxMemoryStore < 0 {
		p.add("MaxMemoryStore", "must not be negative")
	} else if o.MaxMemoryStore > MaxMemoryStoreLimit {
		p.add("MaxMemoryStore", "%d bytes is more than %d (4 TiB), more memory than any machine natsnest targets has", o.MaxMemoryStore, MaxMemoryStoreLimit)
	}
	if o.Durability != DurabilityDefault && o.Durability != DurabilityAlways {
		p.add("Durability", "%q must be %q or %q", o.Durability, DurabilityDefault, DurabilityAlways)
	}
	ports := map[int]string{}
	for _, pt := range []struct {
		field string
		port  int
	}{{"ClientPort", o.ClientPort}, {"RoutePort", o.RoutePort}, {"MonitorPort", o.MonitorPort}} {
		if pt.port < 1 || pt.port > 65535 {
			p.add(pt.field, "port %d is outside 1..65535", pt.port)
		} else if other, ok := ports[pt.port]; ok {
			p.add(pt.field, "port %d is already %s", pt.port, other)
		} else if pt.port == 22 {
			p.add(pt.field, "port 22 is SSH's, which provisioning uses")
		}
		ports[pt.port] = pt.field
	}
	if o.LameDuckDuration < 30*time.Second {
		p.add("LameDuckDuration", "%s is below nats-server's minimum of 30s", o.LameDuckDuration)
	} else if o.LameDuckDuration > MaxLameDuckDuration {
		p.add("LameDuckDuration", "%s is more than %s: every restart of a rolling change waits for it, node after node", o.LameDuckDuration, MaxLameDuckDuration)
	}
	if o.LameDuckGracePeriod < 0 || o.LameDuckGracePeriod >= o.LameDuckDuration {
		p.add("LameDuckGracePeriod", "%s must be at least 0 and shorter than LameDuckDuration", o.LameDuckGracePeriod)
	}
	tags := map[string]bool{}
	for i, t := range o.Tags {
		f := fmt.Sprintf("Tags[%d]", i)
		lt := strings.ToLower(t)
		switch {
		case !tagRE.MatchString(t):
			p.add(f, "%q must be 1-128 letters, digits or _.:/=-", t)
		case tags[lt]:
			// nats-server lower-cases tags, and the renderer refuses the
			// duplicate; say so before anything is deployed.
			p.add(f, "%q is given twice (tags are case-insensitive)", t)
		case strings.HasPrefix(lt, "az:"):
			p.add(f, "%q: the az: tag is set from each host's zone (Host.Zone, ClusterArgs.Zones)", t)
		}
		tags[lt] = true
	}
}
