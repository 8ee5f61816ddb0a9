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
