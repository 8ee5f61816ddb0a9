#!/bin/bash
# natsnest leave step: take this server out of the cluster: lame duck, peer-remove, wait for the rest to be healthy.
# Rendered by natsnest; runs as root; safe to run again.
set -euo pipefail
umask 022
export LC_ALL=C
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
STEP='leave'
SERVICE='natsd'
SERVER_NAME='n2'
SELF_CLIENT='127.0.0.1:4222'
SELF_ROUTE='10.0.0.2:4248'
PEERS='10.0.0.1:4222 10.0.0.3:4222'
REMOVE_TIMEOUT='300'
HEALTHY_TIMEOUT='600'
HEALTHY_ROUNDS='3'
ASK_SECONDS='2'

# --- lib: messages -------------------------------------------------------
log() { printf 'natsnest %s: %s\n' "$STEP" "$*"; }
warn() { printf 'natsnest %s: warning: %s\n' "$STEP" "$*" >&2; }
die() {
	printf 'natsnest %s: error: %s\n' "$STEP" "$*" >&2
	exit 1
}

# --- lib: a minimal NATS client ---------------------------------------------
# Speaks the NATS text protocol over bash's /dev/tcp on fd 3, so a node needs
# no nats CLI: log in as one user, send a request, collect the replies. Only
# plain TCP: a server that requires TLS from clients is refused with a
# message. NATS_USER and NATS_PASS are the credentials (from stdin).

# json_string S prints S as a JSON string. Control characters are refused.
json_string() {
	local s=$1
	case $s in *[[:cntrl:]]*) return 1 ;; esac
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

# nats_line reads one protocol line from fd 3 into $line, without its CR,
# waiting up to SECONDS (default 10). A read that times out keeps what it
# read so far in $nats_partial, so a line split across two reads is whole.
nats_partial=""
nats_line() {
	local part rc
	IFS= read -r -t "${1:-10}" part <&3
	rc=$?
	if [ "$rc" -ne 0 ]; then
		nats_partial+=$part
		return "$rc"
	fi
	line=$nats_partial$part
	line=${line%$'\r'}
	nats_partial=""
}

# nats_open ADDR connects to the server at ADDR (host:port, [v6]:port) and
# logs in; it fails when the server does not answer, requires TLS or
# refuses the credentials.
nats_open() {
	local addr=$1 host port user pass line
	host=${addr%:*} port=${addr##*:}
	host=${host#[} host=${host%]}
	nats_close
	{ exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
	nats_partial=""
	if ! nats_line 5 || [[ $line != INFO* ]]; then
		nats_close
		return 1
	fi
	if [[ $line == *'"tls_required":true'* ]]; then
		warn "$addr requires TLS from clients, which this script cannot speak"
		nats_close
		return 1
	fi
	if ! user=$(json_string "$NATS_USER") || ! pass=$(json_string "$NATS_PASS"); then
		die "the credentials hold control characters"
	fi
	printf 'CONNECT {"verbose":false,"pedantic":false,"user":%s,"pass":%s,"name":"natsnest %s","lang":"bash","version":"1","protocol":1,"headers":false,"no_responders":false}\r\nPING\r\n' \
		"$user" "$pass" "$STEP" >&3
	while nats_line 5; do
		case $line in
		PONG) return 0 ;;
		-ERR*)
			warn "$addr: $line"
			break
			;;
		esac
	done
	nats_close
	return 1
}

# nats_close closes the connection. (An exec with only redirections applies
# them to the whole script: "exec 3>&- 2>/dev/null" would silence every
# later error.)
nats_close() { exec 3>&-; }

# nats_request SUBJECT PAYLOAD SECONDS [MAX] publishes PAYLOAD to SUBJECT with
# a fresh reply subject and prints every reply, one a line, until MAX replies
# (0: no limit) or SECONDS have passed. It fails only when the connection
# does, not when nobody answers.
nats_request() {
	local subject=$1 payload=$2 wait=$3 max=${4:-0} inbox n=0 deadline line rc
	inbox="_INBOX.natsnest.$RANDOM$RANDOM$RANDOM"
	printf 'SUB %s 1\r\nPUB %s %s %d\r\n%s\r\n' "$inbox" "$subject" "$inbox" "${#payload}" "$payload" >&3 || return 1
	deadline=$((SECONDS + wait))
	while [ "$SECONDS" -lt "$deadline" ]; do
		rc=0
		nats_line 1 || rc=$?
		# Status above 128: a timeout; anything else: the connection is gone.
		if [ "$rc" -gt 128 ]; then continue; fi
		if [ "$rc" -ne 0 ]; then return 1; fi
		case $line in
		PING) printf 'PONG\r\n' >&3 ;;
		MSG\ *)
			nats_line 10 || return 1
			printf '%s\n' "$line"
			n=$((n + 1))
			if [ "$max" -gt 0 ] && [ "$n" -ge "$max" ]; then break; fi
			;;
		-ERR*)
			warn "$line"
			return 1
			;;
		esac
	done
	printf 'UNSUB 1\r\n' >&3 || return 1
}

# json_field NAME prints the first string value of "NAME" in the JSON on stdin.
json_field() { { grep -o "\"$1\":\"[^\"]*\"" || true; } | head -n 1 | sed 's/^[^:]*:"\(.*\)"$/\1/'; }

# --- leave: take this server out of the cluster before its machine goes ----
# Runs as the Delete of the node's "leave" command, so on a scale in, after
# the remaining nodes were reloaded with routes that no longer name this one
# and before the machine is destroyed. stdin: "user BASE64" and "password
# BASE64" of the system account's admin. Steps:
#   1. membership: ask every server (through any that answers) for its
#      configured routes. If every other server still routes to this one, it
#      is not leaving — pulumi-command also runs Delete when the command is
#      replaced (a new SSH key, a new address) — and nothing is touched.
#   2. stop natsd with lame duck (the unit's KillSignal) and disable it, so
#      it never comes back with its old routes.
#   3. peer-remove it from JetStream by server name, through another server;
#      the meta leader moves its stream replicas to the remaining servers.
#   4. wait until every remaining server answers its full health check a few
#      times in a row: the moved replicas are current, so the next node may
#      leave (the leave commands are chained) without costing a quorum.
NATS_USER="" NATS_PASS=""
while IFS=' ' read -r key data || [ -n "${key-}" ]; do
	case $key in
	'') ;;
	user) NATS_USER=$(printf '%s' "$data" | base64 -d) || die "user on stdin is not base64" ;;
	password) NATS_PASS=$(printf '%s' "$data" | base64 -d) || die "password on stdin is not base64" ;;
	*) die "unexpected entry \"$key\" on stdin" ;;
	esac
	key=""
done
if [ -z "$NATS_USER" ] || [ -z "$NATS_PASS" ]; then die "stdin lacks the admin's user and password"; fi
read -r -a peers <<<"$PEERS"

# connect_any ADDR... logs in to the first server that answers.
connect_any() {
	local addr
	for addr in "$@"; do
		if nats_open "$addr"; then
			connected=$addr
			return 0
		fi
	done
	return 1
}

# 1. Is this server leaving?
connected=""
if ! connect_any "${peers[@]}" "$SELF_CLIENT"; then
	warn "no server of the cluster answers; $SERVER_NAME is left as it is (remove it from JetStream by hand if it leaves: nats server raft peer-remove $SERVER_NAME)"
	exit 0
fi
others=0 routing=0
while IFS= read -r reply; do
	name=$(printf '%s' "$reply" | json_field name)
	if [ -z "$name" ] || [ "$name" = "$SERVER_NAME" ]; then continue; fi
	others=$((others + 1))
	if [[ $reply == *"\"$SELF_ROUTE\""* ]]; then routing=$((routing + 1)); fi
done < <(nats_request "\$SYS.REQ.SERVER.PING.VARZ" '' "$ASK_SECONDS" "$((${#peers[@]} + 1))" || true)
nats_close
if [ "$others" -eq 0 ]; then
	warn "no other server answered through $connected; $SERVER_NAME is left as it is"
	exit 0
fi
if [ "$routing" -eq "$others" ]; then
	log "all $others other servers still route to $SERVER_NAME ($SELF_ROUTE): it stays in the cluster; nothing to do"
	exit 0
fi
log "$((others - routing)) of $others other servers no longer route to $SERVER_NAME: it leaves the cluster"

# 2. Stop with lame duck; never start again.
if systemctl is-active --quiet "$SERVICE"; then
	log "stopping natsd with lame duck mode"
fi
systemctl disable --now --quiet "$SERVICE" || systemctl stop "$SERVICE"
log "natsd stopped and disabled"

# 3. Peer-remove, through another server. Only the meta leader answers; a
# new one may still be elected, or another removal be in flight: retry.
deadline=$((SECONDS + REMOVE_TIMEOUT))
removed=""
while [ "$SECONDS" -lt "$deadline" ]; do
	if connect_any "${peers[@]}"; then
		answer=$(nats_request "\$JS.API.SERVER.REMOVE" "{\"peer\":$(json_string "$SERVER_NAME")}" 10 1 || true)
		nats_close
		case $answer in
		*'"success":true'*)
			removed=1
			log "$SERVER_NAME removed from JetStream (through $connected)"
			break
			;;
		*'"err_code":10044'*)
			removed=1
			log "$SERVER_NAME is no longer a JetStream peer"
			break
			;;
		'') log "no answer from the meta leader yet; retrying" ;;
		*) log "peer-remove not done yet: $answer" ;;
		esac
	fi
	sleep 2
done
[ -n "$removed" ] || die "could not remove $SERVER_NAME from JetStream within ${REMOVE_TIMEOUT}s (natsd on it is stopped); remove it by hand: nats server raft peer-remove $SERVER_NAME"

# 4. Wait until the remaining servers are healthy, HEALTHY_ROUNDS in a row.
deadline=$((SECONDS + HEALTHY_TIMEOUT))
ok=0 last=""
while [ "$SECONDS" -lt "$deadline" ]; do
	replies="" bad=0 count=0
	if connect_any "${peers[@]}"; then
		replies=$(nats_request "\$SYS.REQ.SERVER.PING.HEALTHZ" '' "$ASK_SECONDS" "${#peers[@]}" || true)
		nats_close
	fi
	while IFS= read -r reply; do
		[ -n "$reply" ] || continue
		count=$((count + 1))
		if [[ $reply != *'"status":"ok"'* ]]; then
			bad=$((bad + 1))
			last=$reply
		fi
	done <<<"$replies"
	if [ "$count" -gt 0 ] && [ "$bad" -eq 0 ]; then
		ok=$((ok + 1))
		if [ "$ok" -ge "$HEALTHY_ROUNDS" ]; then
			log "all $count remaining servers are healthy"
			exit 0
		fi
	else
		ok=0
	fi
	sleep 1
done
die "the remaining servers were not all healthy within ${HEALTHY_TIMEOUT}s after $SERVER_NAME left; last answer: ${last:-none}"
