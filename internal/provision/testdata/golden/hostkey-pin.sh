#!/bin/sh
# natsnest hostkey-pin step, on the machine that runs pulumi: make the node present natsnest's SSH host key before any other step connects.
# Rendered by natsnest; runs as a command:local:Command.
set -eu
umask 077
STEP='hostkey-pin'
NEEDS_SSH='it checks that nats-2 presents natsnest'\''s host key'
SERVER_NAME='nats-2'
SSH_USER='root'
ADDRESS='198.51.100.2'
PORT='22'
PINNED='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'
BIRTH='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB6vQ2SO9m4x2GsWG4hO0bGv0QH3b3c4oKq4yJ0x9QkP'
INSTANCE_ID='i-bp1hf7y6oek8nqs1amd4'
ORIGIN='i-bp1hf7y6oek8nqs1amd4'
CONNECT_TIMEOUT='20'
CONNECT_ATTEMPTS='3'
WAIT='300'
BASTION=''
REMOTE='bash -c '\''echo the hostkey script'\'''

# --- sshlocal: OpenSSH from the machine that runs pulumi -----------------
# Shared by the steps that run OpenSSH locally (leave, hostkey-pin).
# Credentials come in the environment (secrets in the state), never on a
# command line: key files in a private directory, passwords through askpass
# programs that print them from the environment. The step's stdin is kept
# in $tmp/stdin.
# shellcheck disable=SC2317 # a library: not every step calls each function
log() { printf 'natsnest %s: %s\n' "$STEP" "$*"; }
warn() { printf 'natsnest %s: warning: %s\n' "$STEP" "$*" >&2; }
die() {
	printf 'natsnest %s: error: %s\n' "$STEP" "$*" >&2
	exit 1
}

command -v ssh >/dev/null 2>&1 || die "ssh (OpenSSH 8.4 or later) is needed on the machine that runs pulumi: $NEEDS_SSH"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/natsnest-$STEP.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/stdin"

# shellcheck disable=SC2016 # expanded by the askpass program, not here
printf '#!/bin/sh\nprintf "%%s\\n" "${NATSNEST_SSH_PASSWORD:-}"\n' >"$tmp/askpass"
# shellcheck disable=SC2016
printf '#!/bin/sh\nprintf "%%s\\n" "${NATSNEST_BASTION_PASSWORD:-${NATSNEST_SSH_PASSWORD:-}}"\n' >"$tmp/askpass-bastion"
chmod 700 "$tmp/askpass" "$tmp/askpass-bastion"
auth="-o PreferredAuthentications=password,keyboard-interactive -o PubkeyAuthentication=no"
if [ -n "${NATSNEST_SSH_KEY:-}" ]; then
	printf '%s\n' "$NATSNEST_SSH_KEY" >"$tmp/id"
	auth="-i $tmp/id -o IdentitiesOnly=yes -o PreferredAuthentications=publickey"
	# Both given: the key first, then the password, as the other steps do.
	if [ -n "${NATSNEST_SSH_PASSWORD:-}" ]; then auth="$auth,password,keyboard-interactive"; fi
fi
bauth=$auth
if [ -n "${NATSNEST_BASTION_KEY:-}" ]; then
	printf '%s\n' "$NATSNEST_BASTION_KEY" >"$tmp/id-bastion"
	bauth="-i $tmp/id-bastion -o IdentitiesOnly=yes -o PreferredAuthentications=publickey"
elif [ -n "${NATSNEST_BASTION_PASSWORD:-}" ]; then
	bauth="-o PreferredAuthentications=password,keyboard-interactive -o PubkeyAuthentication=no"
fi

# known_hosts FILE ADDRESS PORT TYPE KEY writes the pinned host key and
# prints the StrictHostKeyChecking value: yes with a key, no without one
# (TYPE and KEY "-": whatever key answers, as the one migration of a node
# deployed before natsnest pinned host keys does).
known_hosts() {
	if [ "$4" = - ]; then
		: >"$1"
		echo no
		return
	fi
	if [ "$3" = 22 ]; then h=$2; else h="[$2]:$3"; fi
	printf '%s %s %s\n' "$h" "$4" "$5" >"$1"
	echo yes
}

bounds="-o ConnectTimeout=$CONNECT_TIMEOUT -o ConnectionAttempts=$CONNECT_ATTEMPTS -o ServerAliveInterval=10 -o ServerAliveCountMax=3"
proxy=""
if [ -n "$BASTION" ]; then
	# shellcheck disable=SC2086 # five words: host port user type key
	set -- $BASTION
	bcheck=$(known_hosts "$tmp/known-bastion" "$1" "$2" "$4" "$5")
	proxy="env SSH_ASKPASS=$tmp/askpass-bastion SSH_ASKPASS_REQUIRE=force ssh -F /dev/null -T $bounds -o StrictHostKeyChecking=$bcheck -o UserKnownHostsFile=$tmp/known-bastion -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR -o NumberOfPasswordPrompts=1 $bauth -p $2 -l $3 -W %h:%p $1"
fi

# ssh_run NAME ADDRESS PORT TYPE KEY INPUT COMMAND runs COMMAND there with
# INPUT (a file) on its stdin, checking the host key TYPE KEY before it logs
# in. Its stderr also lands in $tmp/err. Returns ssh's status.
ssh_run() {
	check=$(known_hosts "$tmp/known-$1" "$2" "$3" "$4" "$5")
	rc=0
	# shellcheck disable=SC2086 # $auth and $bounds are lists of options
	SSH_ASKPASS="$tmp/askpass" SSH_ASKPASS_REQUIRE=force ssh -F /dev/null -T $bounds \
		-o StrictHostKeyChecking="$check" -o UserKnownHostsFile="$tmp/known-$1" -o GlobalKnownHostsFile=/dev/null \
		-o LogLevel=ERROR -o NumberOfPasswordPrompts=1 $auth ${proxy:+-o "ProxyCommand=$proxy"} \
		-p "$3" -l "$SSH_USER" "$2" "$7" <"$6" 2>"$tmp/err" || rc=$?
	cat "$tmp/err" >&2
	return "$rc"
}

# ssh_refused succeeds when the last ssh_run was turned away — its login
# refused or the host key not the one pinned — rather than not answering.
ssh_refused() {
	grep -qiE 'permission denied|host key verification failed|remote host identification has changed|too many authentication failures|no matching host key type' "$tmp/err"
}

# ssh_wrong_key succeeds when the last ssh_run met another host key than
# the pinned one: refused before logging in, nothing sent.
# shellcheck disable=SC2317
ssh_wrong_key() {
	grep -qiE 'host key verification failed|remote host identification has changed|no matching host key type' "$tmp/err"
}

# --- hostkeypin: the node presents natsnest's host key before anything else
# Runs before every other step on the node. Each step after it pins
# PINNED, so this one makes sure the node presents it:
#   1. SSH pinned to PINNED, waiting up to WAIT seconds for a node that is
#      still booting. It answers with PINNED: done (the usual case: an
#      instance created with natsnest's key in its user_data).
#   2. Else a key natsnest gave it before — the one this step installed
#      last (its previous stdout), the one in the instance's user_data
#      (BIRTH): pinned to it, natsnest's current key is installed
#      (hostkey.sh; a rotation, or an instance replaced with older
#      user_data).
#   3. Else, only when ORIGIN names this instance — set by the
#      hostkey-migrate step alone, whose create runs once, for an instance
#      created before natsnest pinned host keys; the pin step leaves it
#      empty — the key it presents now is trusted this once, as earlier
#      versions trusted it on every connection, and natsnest's key is
#      installed.
#   4. Else it refuses: the host key check fails before SSH logs in, so no
#      password, key or other secret was sent.
# Every install is checked by a pinned connection. The last line on stdout
# names the key installed; the next run reads it (PULUMI_COMMAND_STDOUT).
fingerprint() {
	printf '%s %s\n' "$1" "$2" >"$tmp/fp.pub"
	ssh-keygen -lf "$tmp/fp.pub" 2>/dev/null | awk '{ print $2 }'
}
# shellcheck disable=SC2086 # two words: type key
set -- $PINNED
ptype=$1 pkey=$2 pfp=$(fingerprint "$1" "$2")
: >"$tmp/none"

# installed says so and ends the step, after a pinned connection proves it.
installed() {
	rc=0
	ssh_run "$SERVER_NAME" "$ADDRESS" "$PORT" "$ptype" "$pkey" "$tmp/none" true || rc=$?
	[ "$rc" -eq 0 ] || die "$SERVER_NAME ($ADDRESS) does not present natsnest's host key $pfp after it was installed (ssh status $rc)"
	log "$SERVER_NAME ($ADDRESS) presents natsnest's host key $pfp: $1"
	echo "installed $ptype $pkey"
	exit 0
}

deadline=$(($(date +%s) + WAIT))
while :; do
	rc=0
	ssh_run "$SERVER_NAME" "$ADDRESS" "$PORT" "$ptype" "$pkey" "$tmp/none" true || rc=$?
	if [ "$rc" -eq 0 ]; then
		log "$SERVER_NAME ($ADDRESS) presents natsnest's host key $pfp"
		echo "installed $ptype $pkey"
		exit 0
	fi
	if [ "$rc" -eq 255 ] && ! ssh_refused && [ "$(date +%s)" -lt "$deadline" ]; then
		sleep 5
		continue
	fi
	break
done
if ! ssh_wrong_key; then
	if [ "$rc" -eq 255 ] && ! ssh_refused; then
		die "$SERVER_NAME ($ADDRESS) does not answer over SSH within ${WAIT}s"
	fi
	die "$SERVER_NAME ($ADDRESS) refused the login (ssh status $rc)"
fi

previous=$(printf '%s\n' "${PULUMI_COMMAND_STDOUT:-}" | sed -n 's/^installed \([^ ]*\) \([^ ]*\)$/\1 \2/p' | tail -n 1)
for known in "$previous" "$BIRTH"; do
	case $known in '' | "- -" | "$PINNED") continue ;; esac
	# shellcheck disable=SC2086 # two words: type key
	set -- $known
	rc=0
	ssh_run "$SERVER_NAME" "$ADDRESS" "$PORT" "$1" "$2" "$tmp/stdin" "$REMOTE" || rc=$?
	if [ "$rc" -eq 0 ]; then
		installed "installed over a connection pinned to the key natsnest gave it before ($(fingerprint "$1" "$2"))"
	fi
	ssh_wrong_key || die "$SERVER_NAME ($ADDRESS): installing natsnest's host key failed (ssh status $rc)"
done

if [ -n "$ORIGIN" ] && [ "$ORIGIN" = "$INSTANCE_ID" ] && [ -z "$previous" ]; then
	warn "$SERVER_NAME ($ADDRESS): instance $INSTANCE_ID was created before natsnest pinned host keys; trusting the host key it presents now once, as earlier versions did on every connection, to install natsnest's"
	rc=0
	ssh_run "$SERVER_NAME" "$ADDRESS" "$PORT" - - "$tmp/stdin" "$REMOTE" || rc=$?
	[ "$rc" -eq 0 ] || die "$SERVER_NAME ($ADDRESS): installing natsnest's host key failed (ssh status $rc)"
	was=$(ssh-keygen -lf "$tmp/known-$SERVER_NAME" 2>/dev/null | awk '{ print $2 }' | paste -sd, -)
	installed "migrated: it presented ${was:-a key} (trusted once) before"
fi
die "$SERVER_NAME ($ADDRESS) presents a host key that is not natsnest's $pfp (nor one natsnest gave it before): refused before logging in, nothing was sent. If the machine at $ADDRESS is yours and was rebuilt, see SECURITY.md, \"Host keys\""
