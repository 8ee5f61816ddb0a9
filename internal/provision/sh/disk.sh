# --- disk: find, format only if blank, mount by UUID, grow ----------------
if [ "$NO_DATA_DISK" = 1 ]; then
	warn "no data disk: the JetStream store stays on the root filesystem in $STORE_DIR"
	install -d -m 0755 "$DATA_MOUNT"
else
	if command -v udevadm >/dev/null 2>&1; then udevadm settle --timeout=30 || true; fi
	# A disk attached a moment ago may not be visible yet: wait for it.
	for ((try = 1; ; try++)); do
		rc=0
		find_data_disk || rc=$?
		if [ "$rc" = 0 ]; then break; fi
		if [ "$rc" != 2 ] || [ "$try" -ge "$DISK_WAIT_TRIES" ]; then exit 1; fi
		log "waiting for the data disk to appear ($try/$DISK_WAIT_TRIES)"
		sleep 5
	done
	dev=$DATA_DEV
	log "data disk: $dev (lsblk reports filesystem: ${DATA_FSTYPE:-none})"

	for tool in mkfs.ext4 dumpe2fs resize2fs blockdev; do
		command -v "$tool" >/dev/null 2>&1 || die "$tool is missing on this machine (packages e2fsprogs, util-linux)"
	done
	# lsblk may not know filesystems (no udev, e.g. in containers): probe
	# the device itself. Exit 2 means no signature at all.
	rc=0
	probe=$(blkid -p -o export "$dev") || rc=$?
	fs_type="" pt_type="" fs_uuid=""
	case $rc in
	0)
		while IFS='=' read -r key val; do
			case $key in
			TYPE) fs_type=$val ;;
			PTTYPE) pt_type=$val ;;
			UUID) fs_uuid=$val ;;
			esac
		done <<<"$probe"
		;;
	2) ;;
	*) die "blkid cannot probe $dev (exit $rc)" ;;
	esac
	[ -z "$pt_type" ] || die "refusing to use the disk: $dev has a $pt_type partition table"
	if [ -z "$fs_type" ]; then
		log "formatting $dev as ext4: it has no filesystem"
		mkfs.ext4 -q -m 0 -E nodiscard -L natsdata "$dev"
		fs_uuid=$(blkid -p -s UUID -o value "$dev")
		fs_type=ext4
	fi
	[ "$fs_type" = ext4 ] || die "refusing to use the disk: $dev holds $fs_type, not ext4"
	[ -n "$fs_uuid" ] || die "$dev has no filesystem UUID"

	# fstab by UUID, with nofail so a missing disk never stops the boot
	# (natsd then refuses to start: it requires the mount).
	entry="UUID=$fs_uuid $DATA_MOUNT ext4 defaults,nofail,x-systemd.device-timeout=60s 0 2"
	[ -e "$FSTAB" ] || : >"$FSTAB"
	tmp=$(mktemp "$FSTAB.natsnest.XXXXXX")
	awk -v mnt="$DATA_MOUNT" '/^[[:space:]]*#/ || $2 != mnt' "$FSTAB" >"$tmp"
	printf '%s\n' "$entry" >>"$tmp"
	if cmp -s "$tmp" "$FSTAB"; then
		rm -f "$tmp"
	else
		chmod 0644 "$tmp"
		cp -p "$FSTAB" "$FSTAB.natsnest.bak"
		mv -f "$tmp" "$FSTAB"
		log "fstab: $entry"
		if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	fi

	if mountpoint -q "$DATA_MOUNT"; then
		[ "$(mountpoint -d "$DATA_MOUNT")" = "$(mountpoint -x "$dev")" ] ||
			die "another filesystem is mounted at $DATA_MOUNT; refusing to mount $dev over it"
	else
		install -d -m 0755 "$DATA_MOUNT"
		[ -z "$(ls -A "$DATA_MOUNT")" ] ||
			die "$DATA_MOUNT is not empty and not a mount point; move its contents away first"
		mount --fstab "$FSTAB" "$DATA_MOUNT"
		log "mounted $dev at $DATA_MOUNT"
	fi

	# The disk may have grown since it was formatted (a disk resize): grow
	# the filesystem online, and only then (resize2fs needs CAP_SYS_RESOURCE).
	dev_bytes=$(blockdev --getsize64 "$dev")
	fs_info=$(dumpe2fs -h "$dev" 2>/dev/null) || die "dumpe2fs cannot read the filesystem on $dev"
	block_count=$(awk -F: '/^Block count:/ { gsub(/[[:space:]]/, "", $2); print $2 }' <<<"$fs_info")
	block_size=$(awk -F: '/^Block size:/ { gsub(/[[:space:]]/, "", $2); print $2 }' <<<"$fs_info")
	fs_bytes=$((block_count * block_size))
	if [ "$dev_bytes" -gt $((fs_bytes + 8 * 1024 * 1024)) ]; then
		out=$(resize2fs "$dev" 2>&1) || die "resize2fs $dev failed: $out"
		log "grew the filesystem on $dev from $fs_bytes bytes to the disk's $dev_bytes"
	fi
fi
install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_GROUP" "$STORE_DIR"
chown "$SERVICE_USER:$SERVICE_GROUP" "$STORE_DIR"
chmod 0750 "$STORE_DIR"
log "store directory $STORE_DIR is ready"
