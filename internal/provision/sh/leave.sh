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
