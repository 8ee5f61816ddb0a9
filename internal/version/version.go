// Package version pins the nats-server release that natsnest installs on nodes.
//
// The same constant decides which nats-server the local cluster runner and the
// demo build from the Go module proxy, so what is tested is what is shipped. A
// test checks that go.mod requires exactly this version.
package version

// NATSServer is the nats-server release installed on every node, without the "v".
const NATSServer = "2.15.2"

// NATSServerModule is the Go module that provides the nats-server binary.
const NATSServerModule = "github.com/nats-io/nats-server/v2"
