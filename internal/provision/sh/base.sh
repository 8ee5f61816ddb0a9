# --- base: wait for first boot, service user, directories -----------------
[ "$(id -u)" = 0 ] || die "must run as root (the SSH user needs passwordless sudo)"
# cloud-init may still be installing packages or writing users on a first
# boot; provisioning waits for it, bounded. /run/cloud-init exists only when
# cloud-init runs on this boot.
if command -v cloud-init >/dev/null 2>&1 && [ -d /run/cloud-init ]; then
	log "waiting for cloud-init to finish"
	rc=0
	timeout "$CLOUD_INIT_TIMEOUT" cloud-init status --wait >/dev/null 2>&1 || rc=$?
	case $rc in
	0) ;;
	124) die "cloud-init did not finish within ${CLOUD_INIT_TIMEOUT}s" ;;
	*) warn "cloud-init reports errors (exit $rc); continuing" ;;
	esac
fi
[ -d /run/systemd/system ] || die "systemd is not running; natsnest runs nats-server as a systemd service"
for tool in lsblk blkid mountpoint mount sha256sum base64 install cmp awk systemctl; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool is missing on this machine"
done
if ! getent group "$SERVICE_GROUP" >/dev/null; then
	groupadd --system "$SERVICE_GROUP"
	log "created group $SERVICE_GROUP"
fi
if ! getent passwd "$SERVICE_USER" >/dev/null; then
	nologin=$(command -v nologin || echo /usr/sbin/nologin)
	useradd --system --gid "$SERVICE_GROUP" --home-dir /nonexistent --no-create-home \
		--shell "$nologin" --comment "NATS server (natsnest)" "$SERVICE_USER"
	log "created user $SERVICE_USER"
fi
install -d -m 0750 -o 0 -g "$SERVICE_GROUP" "$CONFIG_DIR"
install -d -m 0700 -o 0 -g 0 "$STATE_DIR"
# The binary upload (CopyToRemote, over SFTP as the SSH user) runs before the
# binary step and cannot create directories: make its target here, owned by
# the SSH user when provisioning runs through sudo, readable by nobody else.
# It sits where only root can create entries (not /var/tmp, where another
# local user could plant a symlink first and redirect the root upload).
upload_dir_safe
install -d -m 0700 -o "${SUDO_USER:-0}" "$UPLOAD_DIR"
