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
