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
