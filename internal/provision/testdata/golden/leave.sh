#!/bin/bash
# natsnest leave step: take this server out of the cluster: lame duck, peer-remove, wait for the rest to be healthy; drain.
# Rendered by natsnest; runs as root; safe to run again.
set -euo pipefail
umask 022
export LC_ALL=C
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
STEP='leave'
SERVICE='natsd'
DATA_MOUNT='/data'
DRAIN='0'
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

# --- drain: before the data disk is detached and the instance released ----
# natsd stops with lame duck (its leaderships move, clients reconnect
# elsewhere, the store is closed), the page cache is written out and /data
# unmounted, so that ECS's DetachDisk — allowed on a running instance —
# takes a clean filesystem with every acknowledged message on it.
drain() {
	if systemctl is-active --quiet "$SERVICE"; then
		log "stopping natsd with lame duck mode: the instance and its data disk go next"
		systemctl stop "$SERVICE"
	fi
	sync
	if mountpoint -q "$DATA_MOUNT"; then
		umount "$DATA_MOUNT" || die "could not unmount $DATA_MOUNT; in use by: $(fuser -vm "$DATA_MOUNT" 2>&1 || true)"
	fi
	log "natsd stopped, store synced, $DATA_MOUNT unmounted: the data disk may be detached"
}

# --- leave: take this server out of the cluster before its machine goes ----
# Runs from the Delete of the node's "leave" step, over SSH from the
# deploying machine (leavelocal.sh): on a scale in after the remaining nodes
# were reloaded with routes that no longer name this one, and before the
# disk is detached and the machine destroyed. $1 is the mode: "self" on the
# node itself, "peer" on another node when this one does not answer.
# stdin: "user BASE64" and "password BASE64" of the system account's admin.
# Steps, for a node of a cluster (PEERS not empty):
#   1. membership: ask every server (through any that answers) for its
#      configured routes. If every other server still routes to this one, it
#      is not leaving — the step is also deleted when the instance is
#      replaced and on destroy — and it stays in JetStream.
#   2. (self) stop natsd with lame duck (the unit's KillSignal) and disable
#      it, so it never comes back with its old routes.
#   3. peer-remove it from JetStream by server name, through another server;
#      the meta leader moves its stream replicas to the remaining servers.
#   4. wait until every remaining server answers its full health check a few
#      times in a row: the moved replicas are current, so the next node may
#      leave (the leave steps are chained) without costing a quorum.
# Then, with DRAIN=1 — a Cluster node, whose data disk is detached and
# instance released next — and on the node itself: drain (drain.sh).
MODE=${1:-self}
case $MODE in
self | peer) ;;
*) die "mode \"$MODE\" is neither self nor peer" ;;
esac
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
peers=()
if [ -n "$PEERS" ]; then read -r -a peers <<<"$PEERS"; fi

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

# leave_cluster takes this server out of the cluster when the others no
# longer route to it (steps 1-4).
leave_cluster() {
	local asked=("${peers[@]}") others=0 routing=0 name reply deadline removed answer
	if [ "$MODE" = self ]; then asked+=("$SELF_CLIENT"); fi

	# 1. Is this server leaving?
	connected=""
	if ! connect_any "${asked[@]}"; then
		warn "no server of the cluster answers; $SERVER_NAME is left as it is (remove it from JetStream by hand if it leaves: nats server raft peer-remove $SERVER_NAME)"
		return 0
	fi
	while IFS= read -r reply; do
		name=$(printf '%s' "$reply" | json_field name)
		if [ -z "$name" ] || [ "$name" = "$SERVER_NAME" ]; then continue; fi
		others=$((others + 1))
		if [[ $reply == *"\"$SELF_ROUTE\""* ]]; then routing=$((routing + 1)); fi
	done < <(nats_request "\$SYS.REQ.SERVER.PING.VARZ" '' "$ASK_SECONDS" "$((${#peers[@]} + 1))" || true)
	nats_close
	if [ "$others" -eq 0 ]; then
		warn "no other server answered through $connected; $SERVER_NAME is left as it is"
		return 0
	fi
	if [ "$routing" -eq "$others" ]; then
		log "all $others other servers still route to $SERVER_NAME ($SELF_ROUTE): it stays in the cluster"
		return 0
	fi
	log "$((others - routing)) of $others other servers no longer route to $SERVER_NAME: it leaves the cluster"

	# 2. Stop with lame duck; never start again.
	if [ "$MODE" = self ]; then
		if systemctl is-active --quiet "$SERVICE"; then
			log "stopping natsd with lame duck mode"
		fi
		systemctl disable --now --quiet "$SERVICE" || systemctl stop "$SERVICE"
		log "natsd stopped and disabled"
	else
		log "$SERVER_NAME does not answer: removing it from JetStream through this node"
	fi

	# 3. Peer-remove, through another server. Only the meta leader answers;
	# a new one may still be elected, or another removal be in flight: retry.
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
	[ -n "$removed" ] || die "could not remove $SERVER_NAME from JetStream within ${REMOVE_TIMEOUT}s; remove it by hand: nats server raft peer-remove $SERVER_NAME"

	# 4. Wait until the remaining servers are healthy, HEALTHY_ROUNDS in a row.
	local ok=0 last="" replies bad count
	deadline=$((SECONDS + HEALTHY_TIMEOUT))
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
				return 0
			fi
		else
			ok=0
		fi
		sleep 1
	done
	die "the remaining servers were not all healthy within ${HEALTHY_TIMEOUT}s after $SERVER_NAME left; last answer: ${last:-none}"
}

if [ "${#peers[@]}" -gt 0 ]; then
	leave_cluster
fi
if [ "$DRAIN" = 1 ] && [ "$MODE" = self ]; then
	drain
fi
