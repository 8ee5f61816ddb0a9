# --- drain: before the data disk is detached and the instance released ----
# natsd stops with lame duck (its leaderships move, clients reconnect
# elsewhere, the store is closed), the page cache is written out and /data
# unmounted, so that ECS's DetachDisk — allowed on a running instance —
# takes a clean filesystem with every acknowledged message on it.
drain() {
	if systemctl is-active --quiet "$SERVICE"; then
		log "stopping natsd with lame duck mode: the instance and its data disk go next"
		systemctl stop "$SERVICE"
	fi
	sync
	if mountpoint -q "$DATA_MOUNT"; then
		umount "$DATA_MOUNT" || die "could not unmount $DATA_MOUNT; in use by: $(fuser -vm "$DATA_MOUNT" 2>&1 || true)"
	fi
	log "natsd stopped, store synced, $DATA_MOUNT unmounted: the data disk may be detached"
}
