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
