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
