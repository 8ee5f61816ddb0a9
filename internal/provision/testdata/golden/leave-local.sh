#!/bin/sh
# natsnest leave step, on the machine that runs pulumi: the leave script on the node over OpenSSH, or on another node when it does not answer.
# Rendered by natsnest; runs as a command:local:Command.
set -eu
umask 077
STEP='leave'
NEEDS_SSH='it takes nats-2 out of the cluster'
SERVER_NAME='nats-2'
SSH_USER='root'
CONNECT_TIMEOUT='20'
CONNECT_ATTEMPTS='3'
TARGETS='nats-2 198.51.100.2 22 - -
nats-1 198.51.100.1 22 - -
nats-3 198.51.100.3 22 - -'
BASTION=''
DRAIN='1'
DATA_MOUNT='/data'
REMOTE='bash -c '\''echo the leave script'\'''
# shellcheck disable=SC2016 # a literal $
URN='urn:pulumi:cluster::natsnest::natsnest:index:Cluster$natsnest:index:Servers$command:local:Command::natsnest-servers-nats-2-leave'

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

# --- leavelocal: the leave script on the node, or on another one --------
# attempt NAME ADDRESS PORT TYPE KEY MODE runs the leave script there in
# MODE. Returns 2 when the node does not answer; a refused login or a
# changed host key is a failure, not an absence.
attempt() {
	rc=0
	ssh_run "$1" "$2" "$3" "$4" "$5" "$tmp/stdin" "$REMOTE leave $6" || rc=$?
	if [ "$rc" -eq 255 ] && ! ssh_refused; then
		return 2
	fi
	return "$rc"
}

# shellcheck disable=SC2046,SC2086 # five words: name address port type key
set -- $(printf '%s\n' "$TARGETS" | sed -n 1p)
rc=0
attempt "$1" "$2" "$3" "$4" "$5" self || rc=$?
if [ "$rc" -ne 2 ]; then exit "$rc"; fi
what="natsd on it was not stopped"
if [ "$DRAIN" = 1 ]; then what="$what and $DATA_MOUNT not unmounted before its disk is detached"; fi
warn "$SERVER_NAME ($2) does not answer over SSH ($CONNECT_ATTEMPTS attempts, ${CONNECT_TIMEOUT}s each): $what"
others=$(printf '%s\n' "$TARGETS" | sed 1d)
if [ -z "$others" ]; then
	exit 0
fi
while read -r name addr port ktype key; do
	rc=0
	attempt "$name" "$addr" "$port" "$ktype" "$key" peer || rc=$?
	if [ "$rc" -ne 2 ]; then exit "$rc"; fi
	warn "$name ($addr) does not answer over SSH either"
done <<EOF
$others
EOF
die "no node of the cluster answers over SSH: $SERVER_NAME cannot be taken out of JetStream. If the whole cluster is gone, take this step out of the state and run again: pulumi state delete '$URN'"
