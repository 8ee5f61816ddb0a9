// Package natsconf renders one node's nats-server configuration from a typed
// model. Rendering is pure and deterministic: the same Server gives the same
// bytes, so a second `pulumi up` sees no diff and restarts nothing.
//
// Plaintext passwords given in the model never appear in nats.conf: user and
// admin passwords are rendered as bcrypt hashes with salts derived from
// Server.HashSeed. The one secret a server must read in plaintext — the route
// password it dials other nodes with — is rendered into a separate file
// (RoutesFile), which provisioning writes with mode 0600.
package natsconf

import "time"

// File names, relative to the directory of nats.conf.
const (
	ConfigFile = "nats.conf"
	RoutesFile = "routes.conf"
)

// Defaults applied by callers that build a Server (see ClusterConfigs and the
// natsnest package). The renderer itself renders what it is given.
const (
	DefaultClientPort          = 4222
	DefaultRoutePort           = 4248
	DefaultMonitorPort         = 8222
	DefaultClusterName         = "C1"
	DefaultSystemAccount       = "$SYS"
	DefaultAdminUser           = "admin"
	DefaultRouteUser           = "route"
	DefaultLameDuckDuration    = 30 * time.Second
	DefaultLameDuckGracePeriod = 10 * time.Second
	DefaultSyncInterval        = "2m"
	// SyncAlways fsyncs every write before it is acknowledged.
	SyncAlways = "always"
)

// Server is one node's configuration.
type Server struct {
	// Name is server_name: unique and stable for the node's whole life, as
	// JetStream identifies peers by it.
	Name string
	// Host is the address the client, route and monitoring listeners bind to.
	Host string
	// ClientPort is the client listener's port.
	ClientPort int
	// MonitorPort is the HTTP monitoring port (healthz, varz); 0 disables it.
	MonitorPort int
	// MonitorHost is the address monitoring binds to when set, Host when
	// not: monitoring has no authentication, so a node serves it on its
	// private address only.
	MonitorHost string
	// Tags are rendered as server_tags, for example "az:cn-hangzhou-i".
	Tags []string
	// LameDuckDuration is how long a stopping server spreads client
	// disconnects over; nats-server requires at least 30s.
	LameDuckDuration time.Duration
	// LameDuckGracePeriod is how long a stopping server waits before it
	// starts closing client connections.
	LameDuckGracePeriod time.Duration

	// TLS, when set, requires TLS from every client.
	TLS *TLS
	// MonitorTLS serves monitoring over HTTPS with the client TLS
	// certificate instead of plain HTTP. Requires TLS.
	MonitorTLS bool

	// System is the system account for operators.
	System SystemAccount
	// Accounts are the application accounts.
	Accounts []Account
	// NoAuthUser, when set, lets clients without credentials in as that user
	// (nats-server's no_auth_user). Empty means anonymous clients are refused.
	NoAuthUser string

	JetStream JetStream
	// Cluster is nil for a single node: a lone server must not carry a
	// cluster block.
	Cluster *Cluster

	// HashSeed is the per-stack secret from which bcrypt salts are derived,
	// so that the same passwords render the same hashes.
	HashSeed string
	// BcryptCost is the bcrypt work factor; 0 means DefaultBcryptCost.
	BcryptCost int
}

// SystemAccount is the account nats-server uses for its own traffic
// ($SYS.>), with the operator's user.
type SystemAccount struct {
	Name     string // e.g. "$SYS"
	User     string // e.g. "admin"
	Password string // plaintext; rendered as a bcrypt hash
}

// Account is an application account.
type Account struct {
	Name      string
	JetStream bool
	Users     []User
}

// User is a user with a password, rendered as a bcrypt hash, or with an NKEY.
type User struct {
	Name     string
	Password string
	// NKey is the user's public NKEY ("U…"); the client signs with the
	// matching seed, which never reaches the server. Excludes Name and Password.
	NKey string
}

// JetStream is the jetstream block.
type JetStream struct {
	StoreDir string
	// MaxFileStore and MaxMemoryStore are in bytes; 0 leaves the server's default.
	MaxFileStore   int64
	MaxMemoryStore int64
	// SyncInterval is SyncAlways or a Go duration such as "2m".
	SyncInterval string
}

// Cluster is the cluster block of a node in a cluster of several nodes.
type Cluster struct {
	Name string
	// Host and Port are the route listener.
	Host string
	Port int
	// Routes are every node's route address, this node's own included
	// (nats-server ignores a route to itself).
	Routes []Route
	// User and Password authenticate routes, in both directions.
	User     string
	Password string
	// TLS, when set, is required on every route.
	TLS *TLS
	// NoAdvertise stops servers from telling clients about other servers'
	// addresses; used with public access, where private addresses are
	// unreachable for clients.
	NoAdvertise bool
}

// TLS is a listener's TLS: paths of PEM files that provisioning writes on the
// node (the private key with mode 0600).
type TLS struct {
	CertFile string
	KeyFile  string
	// CAFile verifies peers' certificates; required with Verify and on routes.
	CAFile string
	// Verify requires and verifies a certificate from every peer.
	Verify bool
}

// Route is one node's route listener.
type Route struct {
	Host string
	Port int
}

// Files is what RenderServerConfig produces: nats.conf and, for clusters, the
// routes file it includes, which holds the route password in plaintext.
type Files struct {
	Config string
	// Routes is empty for a single node.
	Routes string
}
