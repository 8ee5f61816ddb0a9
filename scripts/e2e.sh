#!/usr/bin/env bash
# The machine tier (docs/architecture.md §5, tier 3), behind `make e2e`: Debian 12
# machines booted with systemd-nspawn, each in its own network namespace on
# a private bridge, and natsnest's production programs deployed onto them
# over real SSH. Needs root on Linux; installs debootstrap and
# systemd-container (iptables, for EIPs; openssh-client, for the leave steps)
# from Debian's packages when missing.
#
#   scripts/e2e.sh          run the machine tests, then list what they verified
#   scripts/e2e.sh probe    only say whether this host can run them (exit 0)
#                           or why not (exit 1); CI uses it
#
# E2E_RUN selects tests (go test -run), E2E_TIMEOUT bounds them (65m: a
# guard against a hang, not a speed target; the tier takes about 35 minutes
# on 2 cores with the host key scenarios).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
E2E_RUN=${E2E_RUN:-.}
E2E_TIMEOUT=${E2E_TIMEOUT:-65m}

# probe prints why this host cannot boot machines, or nothing.
probe() {
	if [ "$(uname -s)" != Linux ]; then
		echo "not Linux ($(uname -s)): systemd-nspawn needs Linux"
		return
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "not root: booting machines needs root (systemd-nspawn, loop devices, network namespaces)"
		return
	fi
	if ! command -v systemd-nspawn >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
		if ! command -v apt-get >/dev/null 2>&1; then
			echo "systemd-nspawn or debootstrap is missing and there is no apt-get to install them"
			return
		fi
	fi
	if ! command -v unshare >/dev/null 2>&1 || ! unshare --net --mount true 2>/dev/null; then
		echo "cannot create network and mount namespaces here (unshare --net --mount failed): a container without privileges?"
		return
	fi
	if [ ! -e /sys/fs/cgroup/cgroup.procs ] && [ ! -e /sys/fs/cgroup/systemd/cgroup.procs ] && [ ! -e /sys/fs/cgroup/unified/cgroup.procs ]; then
		echo "no cgroup file system at /sys/fs/cgroup: systemd inside the machines needs one"
		return
	fi
	if [ ! -w /sys/fs/cgroup ] && ! touch /sys/fs/cgroup/systemd/.natsnest-probe 2>/dev/null; then
		if ! mkdir /sys/fs/cgroup/natsnest-probe 2>/dev/null; then
			echo "the cgroup file system is read-only here"
			return
		fi
		rmdir /sys/fs/cgroup/natsnest-probe
	fi
	rm -f /sys/fs/cgroup/systemd/.natsnest-probe 2>/dev/null || true
}

install_tools() {
	local missing=()
	command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
	command -v systemd-nspawn >/dev/null 2>&1 || missing+=(systemd-container)
	command -v iptables >/dev/null 2>&1 || missing+=(iptables)
	# The leave steps run OpenSSH on the deploying machine, here this one.
	command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "e2e: installing ${missing[*]} from Debian's packages"
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
			apt-get update -qq >/dev/null
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
		fi
	fi
}

why=$(probe)
if [ "${1-}" = probe ]; then
	if [ -n "$why" ]; then
		echo "$why"
		exit 1
	fi
	exit 0
fi
if [ -n "$why" ]; then
	echo "make e2e cannot run here: $why" >&2
	exit 1
fi
install_tools

# The real Pulumi engine: the CLI and the command plugin, on PATH (README,
# "The machine tier"). The tier drives them; nothing here downloads them.
missing=()
command -v pulumi >/dev/null 2>&1 || missing+=("the Pulumi CLI v3.274.1 (pulumi)")
command -v pulumi-resource-command >/dev/null 2>&1 || missing+=("the command provider plugin v1.2.1 (pulumi-resource-command: pulumi plugin install resource command v1.2.1, then put its directory on PATH)")
if [ "${#missing[@]}" -gt 0 ]; then
	echo "make e2e cannot run here: missing on PATH:" >&2
	printf '  - %s\n' "${missing[@]}" >&2
	exit 1
fi

log=$(mktemp /tmp/natsnest-e2e.XXXXXX.log)
start=$(date +%s)
# e2e/ is a module of its own (README, "Lean dependencies").
echo "e2e: NATSNEST_E2E=1 $GO test -count=1 -v -timeout $E2E_TIMEOUT -run '$E2E_RUN' ./internal/testkit/machines, then in e2e/: ./... (log: $log)"
rc=0
{ NATSNEST_E2E=1 "$GO" test -count=1 -v -timeout "$E2E_TIMEOUT" -run "$E2E_RUN" ./internal/testkit/machines &&
	NATSNEST_E2E=1 "$GO" -C e2e test -count=1 -v -timeout "$E2E_TIMEOUT" -run "$E2E_RUN" ./...; } 2>&1 | tee "$log" || rc=$?
took=$(($(date +%s) - start))

echo
echo "=== e2e: what was verified, step by step"
grep -E '^\s+[a-z_]+\.go:[0-9]+: (verified|step)' "$log" | sed -E 's/^\s+[a-z_]+\.go:[0-9]+: /  /' || true
echo
grep -E '^(--- (PASS|FAIL|SKIP)|(ok|FAIL)\s)' "$log" || true
if [ "$rc" = 0 ]; then
	echo "e2e: PASS in ${took}s"
else
	echo "e2e: FAIL (exit $rc) in ${took}s; full output in $log"
fi
exit "$rc"
