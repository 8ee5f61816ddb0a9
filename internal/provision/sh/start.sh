# --- start: the first start, on every node at once -------------------------
# A node's first start does not wait for the others: the start steps of all
# nodes run in parallel, and JetStream elects its meta leader once enough of
# them are up. So the wait is for the server itself (/healthz with
# js-server-only), not for the meta leader. A running server is left alone:
# changes to it are the service step's, which rolls them one node at a time.
systemctl enable --quiet "$SERVICE"
if systemctl is-active --quiet "$SERVICE"; then
	log "natsd is running (main pid $(systemctl show --property MainPID --value "$SERVICE")); the service step applies any change"
	exit 0
fi
systemctl reset-failed "$SERVICE" 2>/dev/null || true
systemctl enable --now --quiet "$SERVICE"
wait_healthz "?js-server-only=true" "$START_TIMEOUT"
record_applied
log "natsd started, main pid $(systemctl show --property MainPID --value "$SERVICE")"
