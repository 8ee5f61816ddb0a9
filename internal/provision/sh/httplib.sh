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
