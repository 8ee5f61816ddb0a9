# --- service: start, restart, reload or nothing, then health --------------
# What the running server was started with is recorded as two fingerprints:
# "restart" over the binary, the unit and the settings a reload cannot apply,
# "reload" over nats.conf and routes.conf. Only a change restarts; a second
# run on an unchanged node does nothing.
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
	# First start (or a server that is down): the other nodes may be
	# starting too, so JetStream has no meta leader yet and the full
	# /healthz would wait for one forever. The server itself being up is enough.
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
printf 'restart=%s\nreload=%s\n' "$restart_fp" "$reload_fp" >"$STATE_DIR/applied.new"
if [ -f "$STATE_DIR/restart-settings" ]; then
	cp -f "$STATE_DIR/restart-settings" "$STATE_DIR/applied-settings.new"
	mv -f "$STATE_DIR/applied-settings.new" "$STATE_DIR/applied-settings"
fi
mv -f "$STATE_DIR/applied.new" "$STATE_DIR/applied"
log "natsd $action, main pid $(systemctl show --property MainPID --value "$SERVICE")"
