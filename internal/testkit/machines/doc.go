// Package machines is the test fixture of the machine tier (docs/architecture.md §5,
// tier 3): real Debian 12 machines booted with `systemd-nspawn --boot`, each
// with systemd, sshd, its own network namespace and address on a private
// bridge, its own machine-id and host name, and a data disk that is a real
// block device (a loop device) where the kernel allows it.
//
// The root file system is built once with debootstrap and cached (see
// RootfsDir); every machine boots an overlay of it, so a fleet of four boots
// in seconds. Everything a fleet creates — containers, overlay mounts, loop
// devices, veths, the bridge, network namespaces, cgroups — is removed by
// t.Cleanup, also when the test fails, and New removes what a crashed
// earlier run left behind before it creates anything.
//
// The fixture needs root, Linux and systemd-nspawn; Require says plainly why
// a test is skipped when it cannot run, and skips unless NATSNEST_E2E=1, so
// `go test ./...` never boots machines.
//
// Traffic stays on the fixture's own bridge: machines get no default route,
// and the only host address on the bridge is the fixture's HTTP server.
package machines
