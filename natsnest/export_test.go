package natsnest

// Unexported identifiers natsnest_test's tests use.
var AnonymousNKey = anonymousNKey
var BcryptCost = &bcryptCost
var BuildNATSServer = &buildNATSServer
var CheckInstancePassword = checkInstancePassword
var CheckStackSecret = checkStackSecret
var CidrSlug = cidrSlug
var EntropyBits = entropyBits
var FirstUser = firstUser
var Guessable = guessable
var InstanceArch = instanceArch
var TestNewServers = &newServers
var NthSubnet = nthSubnet

type Problems = problems

var RenderNodeFiles = renderNodeFiles
var RoutePassword = routePassword
var UnavailableZones = unavailableZones
var UnderMocks = &underMocks
var ValidateTLS = validateTLS
var Warn = &warn

// ClusterWithDefaults and ServersWithDefaults are the arguments with every
// default applied.
func ClusterWithDefaults(a ClusterArgs) ClusterArgs { return a.withDefaults() }
func ServersWithDefaults(a ServersArgs) ServersArgs { return a.withDefaults() }

// Err is the problems as one error.
func (p problems) Err() error { return p.err() }
