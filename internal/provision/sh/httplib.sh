# --- lib: monitoring endpoint ------------------------------------------------
# http_get PATH prints the body of http://127.0.0.1:MONITOR_PORT/PATH and
# succeeds only on HTTP 200. It speaks HTTP/1.0 over bash's /dev/tcp, so it
# needs neither curl nor wget (minimal images have neither). With HTTPS
# monitoring (MONITOR_TLS=1) it needs curl: the server's own certificate is
# not checked, as the request goes over loopback to the server itself and
# the certificate need not name 127.0.0.1.
http_get() (
	if [ "${MONITOR_TLS:-0}" = 1 ]; then
		command -v curl >/dev/null 2>&1 || { echo "curl is needed for HTTPS monitoring and is missing"; exit 1; }
		out=$(curl -sS --insecure --max-time 10 -w '\n%{http_code}' "https://127.0.0.1:$MONITOR_PORT$1" 2>&1) || exit 1
		printf '%s\n' "${out%$'\n'*}"
		[ "${out##*$'\n'}" = 200 ]
		exit
	fi
	{ exec 3<>"/dev/tcp/127.0.0.1/$MONITOR_PORT"; } 2>/dev/null || exit 1
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$1" >&3
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
