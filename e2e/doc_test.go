// Package e2e is natsnest's machine tier (docs/architecture.md §5, tiers 3
// and 4): the real Pulumi engine — the Pulumi CLI and the command plugin,
// driven by the Automation API — deploys the production programs onto
// Debian machines booted with systemd-nspawn (internal/testkit/machines):
// natsnest.Servers onto machines booted by the test, natsnest.Cluster onto
// the emulated Alibaba Cloud whose instances are such machines
// (internal/testkit/cloud). The tests then check the result on the
// machines and with NATS clients.
//
// The tests run only with NATSNEST_E2E=1, as root, where systemd-nspawn
// works (`make e2e`); elsewhere they skip and say why.
package e2e
