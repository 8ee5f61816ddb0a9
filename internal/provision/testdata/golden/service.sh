#!/bin/bash
# natsnest service step: start, restart or reload natsd as needed, then wait for /healthz.
# Rendered by natsnest; runs as root; safe to run again.
set -euo pipefail
umask 022
export LC_ALL=C
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
STEP='service'
SERVICE='natsd'
BIN='/usr/local/bin/nats-server'
UNIT_PATH='/etc/systemd/system/natsd.service'
CONFIG_DIR='/etc/nats'
STATE_DIR='/var/lib/natsnest'
MONITOR_PORT='8222'
MONITOR_TLS='0'
START_TIMEOUT='120'
ROLL_TIMEOUT='600'
RELOAD_TIMEOUT='20'

# --- lib: messages -------------------------------------------------------
log() { printf 'natsnest %s: %s\n' "$STEP" "$*"; }
warn() { printf 'natsnest %s: warning: %s\n' "$STEP" "$*" >&2; }
die() {
	printf 'natsnest %s: error: %s\n' "$STEP" "$*" >&2
	exit 1
}

# --- lib: monitoring endpoint ------------------------------------------------
# monitor_hosts prints where natsd serves monitoring: the address of
# nats.conf's http: (or https:) line — a node's private address unless
# monitoring is on every address — then 127.0.0.1, for a server that still
# runs with an older nats.conf.
monitor_hosts() {
	local h=""
	if [ -r "$CONFIG_DIR/nats.conf" ]; then
		h=$(sed -n -E 's/^https?: "(.*):[0-9]+"$/\1/p' "$CONFIG_DIR/nats.conf" | head -n 1)
	fi
	h=${h#[}
	h=${h%]}
	case $h in '' | 0.0.0.0 | :: | 127.0.0.1) ;; *) printf '%s\n' "$h" ;; esac
	printf '127.0.0.1\n'
}

# http_get PATH prints the body of http://HOST:MONITOR_PORT/PATH, HOST the
# first of monitor_hosts that accepts the connection, and succeeds only on
# HTTP 200. It speaks HTTP/1.0 over bash's /dev/tcp, so it needs neither
# curl nor wget (minimal images have neither). With HTTPS monitoring
# (MONITOR_TLS=1) it needs curl: the server's own certificate is not
# checked, as the request goes to the server itself on this machine.
http_get() (
	for host in $(monitor_hosts); do
		if [ "${MONITOR_TLS:-0}" = 1 ]; then
			command -v curl >/dev/null 2>&1 || { echo "curl is needed for HTTPS monitoring and is missing"; exit 1; }
			url_host=$host
			if [[ $host == *:* ]]; then url_host="[$host]"; fi
			rc=0
			out=$(curl -sS --insecure --max-time 10 -w '\n%{http_code}' "https://$url_host:$MONITOR_PORT$1" 2>&1) || rc=$?
			# 7: nothing listens there; try the next address.
			if [ "$rc" = 7 ]; then continue; fi
			if [ "$rc" != 0 ]; then printf '%s\n' "$out"; exit 1; fi
			printf '%s\n' "${out%$'\n'*}"
			[ "${out##*$'\n'}" = 200 ]
			exit
		fi
		{ exec 3<>"/dev/tcp/$host/$MONITOR_PORT"; } 2>/dev/null || continue
		printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1" "$host" >&3
		IFS= read -r -t 10 status <&3 || exit 1
		while IFS= read -r -t 10 line <&3; do
			if [ -z "$line" ] || [ "$line" = $'\r' ]; then break; fi
		done
		body=""
		while IFS= read -r -t 10 line <&3 || [ -n "$line" ]; do
			body+=$line$'\n'
			line=""
		done
		printf '%s' "$body"
		case $status in "HTTP/1."?" 200"*) exit 0 ;; esac
		exit 1
	done
	echo "nothing answers on the monitoring port $MONITOR_PORT ($(monitor_hosts | paste -sd' '))"
	exit 1
)

# wait_healthz QUERY SECONDS waits until /healthz?QUERY answers 200, or
# prints the last answer and the service's journal and fails.
wait_healthz() {
	local query=$1 limit=$2 deadline body=""
	deadline=$((SECONDS + limit))
	while :; do
		if body=$(http_get "/healthz$query"); then
			log "natsd answers /healthz$query"
			return 0
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then break; fi
		sleep 2
	done
	warn "natsd did not answer /healthz$query within ${limit}s; last answer: ${body:-none}"
	journalctl -u "$SERVICE" -n 50 --no-pager >&2 || true
	die "natsd is not healthy"
}

# config_load_time prints when the running server last loaded its
# configuration (from /varz), or nothing when it cannot tell.
config_load_time() {
	http_get /varz | sed -n 's/^[[:space:]]*"config_load_time":[[:space:]]*"\([^"]*\)".*/\1/p' || true
}

# --- lib: what the running server was started with ------------------------
# It is recorded as two fingerprints: "restart" over the binary, the unit and
# the settings a reload cannot apply, "reload" over nats.conf and routes.conf.
# The start step records them when it starts natsd; the service step compares
# them with the files now on disk to decide what a change needs.
fingerprint() {
	local f
	for f in "$@"; do
		if [ -f "$f" ]; then sha256sum <"$f"; else printf 'absent\n'; fi
	done | sha256sum | cut -d' ' -f1
}
restart_fp=$(fingerprint "$BIN" "$UNIT_PATH" "$STATE_DIR/restart-settings")
reload_fp=$(fingerprint "$CONFIG_DIR/nats.conf" "$CONFIG_DIR/routes.conf")
# A new TLS certificate or key is applied by a reload too (nats.conf names
# only their paths). Nodes without TLS keep the fingerprint they had.
if [ -d "$CONFIG_DIR/tls" ]; then
	reload_fp=$(fingerprint "$CONFIG_DIR/nats.conf" "$CONFIG_DIR/routes.conf" \
		"$CONFIG_DIR/tls/cert.pem" "$CONFIG_DIR/tls/key.pem" "$CONFIG_DIR/tls/ca.pem")
fi
# record_applied notes the files on disk as what natsd now runs with.
record_applied() {
	printf 'restart=%s\nreload=%s\n' "$restart_fp" "$reload_fp" >"$STATE_DIR/applied.new"
	if [ -f "$STATE_DIR/restart-settings" ]; then
		cp -f "$STATE_DIR/restart-settings" "$STATE_DIR/applied-settings.new"
		mv -f "$STATE_DIR/applied-settings.new" "$STATE_DIR/applied-settings"
	fi
	mv -f "$STATE_DIR/applied.new" "$STATE_DIR/applied"
}

# --- service: restart, reload or nothing, then health, one node at a time --
# The service steps run one node after the other: each compares the
# fingerprints of the files on disk with those natsd was started with and
# restarts or reloads only for a change. natsnest runs it as an update, when
# the binary or the rendered files changed, not on a first deployment (the
# start step starts natsd then). A second run on an unchanged node does
# nothing.

# What natsd runs with, as the start step or an earlier run recorded it.
applied_restart="" applied_reload=""
if [ -f "$STATE_DIR/applied" ]; then
	while IFS='=' read -r key val; do
		case $key in
		restart) applied_restart=$val ;;
		reload) applied_reload=$val ;;
		esac
	done <"$STATE_DIR/applied"
fi

# The store limits are the restart settings a reload can raise. Raised
# limits alone do not restart: the server applies them on a reload. Lowered,
# set or unset ones do (provision.NeedsRestart is the same rule in Go).
limit_lines='^jetstream\.max_\(file\|memory\)_store='
limit() { sed -n "s/^jetstream\.$2=\"\([0-9]*\)\"\$/\1/p" "$1"; }
only_limits_raised() {
	local applied=$STATE_DIR/applied-settings next=$STATE_DIR/restart-settings key old new
	[ -f "$applied" ] && [ -f "$next" ] || return 1
	# The binary and the unit are as the server runs them...
	[ "$(fingerprint "$BIN" "$UNIT_PATH" "$applied")" = "$applied_restart" ] || return 1
	# ...and so is every setting but the limits...
	[ "$(grep -v "$limit_lines" "$applied" || true)" = "$(grep -v "$limit_lines" "$next" || true)" ] || return 1
	# ...and each limit is what it was, or was set and grew.
	for key in max_file_store max_memory_store; do
		old=$(limit "$applied" "$key") new=$(limit "$next" "$key")
		if [ "$old" = "$new" ]; then continue; fi
		if [ -z "$old" ] || [ -z "$new" ] || [ "$old" -le 0 ] || [ "$new" -le "$old" ]; then return 1; fi
	done
}

systemctl enable --quiet "$SERVICE"
if ! systemctl is-active --quiet "$SERVICE"; then
	# A server that is down (it stopped after the start step started it):
	# the other nodes may be down too, so JetStream may have no meta leader
	# and the full /healthz would wait for one forever. The server itself
	# being up is enough.
	action=started
	systemctl reset-failed "$SERVICE" 2>/dev/null || true
	systemctl enable --now --quiet "$SERVICE"
	wait_healthz "?js-server-only=true" "$START_TIMEOUT"
elif [ "$restart_fp" != "$applied_restart" ] && ! only_limits_raised; then
	# Rolling: the next node's service step waits for this one, and this one
	# counts as back only when its streams and consumers are current.
	action=restarted
	systemctl restart "$SERVICE"
	wait_healthz "" "$ROLL_TIMEOUT"
elif [ "$reload_fp" != "$applied_reload" ]; then
	action=reloaded
	before=$(config_load_time)
	systemctl reload "$SERVICE"
	# A rejected reload reports nothing back; the server keeps its old
	# config_load_time. Then restart, which applies the configuration.
	reloaded=""
	for ((i = 0; i < RELOAD_TIMEOUT; i++)); do
		now=$(config_load_time)
		if [ -n "$now" ] && [ "$now" != "$before" ]; then
			reloaded=1
			break
		fi
		sleep 1
	done
	if [ -z "$reloaded" ]; then
		warn "natsd did not apply the reload (see its log below); restarting instead"
		journalctl -u "$SERVICE" -n 20 --no-pager >&2 || true
		action="restarted (reload rejected)"
		systemctl restart "$SERVICE"
		wait_healthz "" "$ROLL_TIMEOUT"
	else
		wait_healthz "?js-server-only=true" "$START_TIMEOUT"
	fi
else
	action=unchanged
	wait_healthz "?js-server-only=true" "$START_TIMEOUT"
fi
record_applied
log "natsd $action, main pid $(systemctl show --property MainPID --value "$SERVICE")"
