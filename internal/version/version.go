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

// Go is the Go toolchain release that builds the nats-server binary
// (GOTOOLCHAIN=go<Go>): the checksums below depend on it.
const Go = "1.26.8"

// NATSServerSHA256 are the SHA-256 checksums of NATSServer built by
// natsbin.Build (a module of its own with the release's own dependency
// versions, Go, -trimpath, CGO_ENABLED=0, GOAMD64=v1 / GOARM64=v8.0), per
// GOOS/GOARCH. The build is reproducible: every machine gets these bytes,
// so a deployment from another machine restarts no node. A test builds
// both again and compares.
var NATSServerSHA256 = map[string]string{
	"linux/amd64": "6e93e88bb1830b86bd22208f23ce4ce119901a2c58484922d9ff3bcf80777220",
	"linux/arm64": "6c7fc24845fe2c474f90a33bc112ed58150fa6505a91ab7e92d5b97ca36e66d6",
}
