#!/bin/bash
# natsnest disk step: find the data disk, format it only if blank, mount it, grow it.
# Rendered by natsnest; runs as root; safe to run again.
set -euo pipefail
umask 022
export LC_ALL=C
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
STEP='disk'
DATA_SERIAL='d-bp1hf7y6oek8nqs1amd4'
DATA_DEVICE=''
NO_DATA_DISK='0'
DISK_WAIT_TRIES='24'
DATA_MOUNT='/data'
STORE_DIR='/data/nats-storage'
FSTAB='/etc/fstab'
SERVICE_USER='nats'
SERVICE_GROUP='nats'

# --- lib: messages -------------------------------------------------------
log() { printf 'natsnest %s: %s\n' "$STEP" "$*"; }
warn() { printf 'natsnest %s: warning: %s\n' "$STEP" "$*" >&2; }
die() {
	printf 'natsnest %s: error: %s\n' "$STEP" "$*" >&2
	exit 1
}

# --- lib: data disk discovery ---------------------------------------------
# find_data_disk is the shell twin of provision.FindDataDisk (same rule; the
# Go tests run both on the same lsblk output). It reads
# `lsblk -P` (KEY="value" pairs, unsafe bytes as \xHH) and chooses the disk
# by DATA_SERIAL, else DATA_DEVICE, else the only candidate. On success it
# sets DATA_DEV and DATA_FSTYPE; otherwise it prints why and returns
# 2 (not found), 3 (ambiguous) or 4 (unsafe).
norm_serial() {
	local s=$1
	s=${s#"${s%%[![:space:]]*}"}
	s=${s%"${s##*[![:space:]]}"}
	printf '%s' "${s#d-}"
}

serial_matches() {
	local d w
	d=$(norm_serial "$1")
	w=$(norm_serial "$2")
	if [ -z "$d" ] || [ -z "$w" ]; then return 1; fi
	if [ "$d" = "$w" ]; then return 0; fi
	[ "${#w}" -gt 20 ] && [ "$d" = "${w:0:20}" ]
}

disk_fail() {
	printf 'natsnest %s: error: %s\n' "$STEP" "$2" >&2
	return "$1"
}

find_data_disk() {
	local out line rest val i n want dev chosen=-1 mounted=-1 disks="" found=""
	local re='^([A-Z:_-]+)="([^"]*)"[[:space:]]*(.*)$'
	local -a name=() type=() size=() serial=() fstype=() mnt=() cand=()
	local -A f=() kids=()
	DATA_DEV="" DATA_FSTYPE=""
	out=$(lsblk -P -b -o NAME,TYPE,SIZE,SERIAL,FSTYPE,UUID,MOUNTPOINT,PKNAME) || {
		disk_fail 1 "lsblk failed"
		return
	}
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		f=()
		rest=$line
		while [[ $rest =~ $re ]]; do
			printf -v val '%b' "${BASH_REMATCH[2]}"
			f[${BASH_REMATCH[1]}]=$val
			rest=${BASH_REMATCH[3]}
		done
		[ -n "${f[NAME]-}" ] || continue
		name+=("${f[NAME]}")
		type+=("${f[TYPE]-}")
		size+=("${f[SIZE]:-0}")
		serial+=("${f[SERIAL]-}")
		fstype+=("${f[FSTYPE]-}")
		mnt+=("${f[MOUNTPOINT]-}")
		if [ -n "${f[PKNAME]-}" ]; then
			kids[${f[PKNAME]}]="${kids[${f[PKNAME]}]-} ${f[NAME]}"
		fi
		case ${f[TYPE]-} in disk | loop) disks+=" ${f[NAME]}" ;; esac
	done <<<"$out"
	[ -n "$disks" ] || disks=" none"

	want=$(norm_serial "${DATA_SERIAL-}")
	if [ -n "$want" ]; then
		n=0
		for i in "${!name[@]}"; do
			if [ "${type[i]}" = disk ] && serial_matches "${serial[i]}" "$DATA_SERIAL"; then
				if [ "$chosen" -lt 0 ]; then chosen=$i; fi
				found+=" ${name[i]}"
				n=$((n + 1))
			fi
		done
		if [ "$n" = 0 ]; then
			disk_fail 2 "no data disk found: no disk has serial $DATA_SERIAL (disks:$disks)"
			return
		fi
		if [ "$n" -gt 1 ]; then
			disk_fail 3 "more than one disk could be the data disk: serial $DATA_SERIAL matches$found"
			return
		fi
	elif [ -n "${DATA_DEVICE-}" ]; then
		dev=$DATA_DEVICE
		if [ -L "$dev" ]; then dev=$(readlink -f -- "$dev"); fi
		dev=${dev#/dev/}
		for i in "${!name[@]}"; do
			if [ "${name[i]}" = "$dev" ] && { [ "${type[i]}" = disk ] || [ "${type[i]}" = loop ]; }; then
				chosen=$i
				break
			fi
		done
		if [ "$chosen" -lt 0 ]; then
			disk_fail 2 "no data disk found: no disk or loop device $DATA_DEVICE (disks:$disks)"
			return
		fi
	else
		for i in "${!name[@]}"; do
			[ "${type[i]}" = disk ] || continue
			[ "${size[i]}" -gt 0 ] || continue
			case ${name[i]} in zram* | ram*) continue ;; esac
			[ -z "${kids[${name[i]}]-}" ] || continue
			[ -z "${mnt[i]}" ] || [ "${mnt[i]}" = "$DATA_MOUNT" ] || continue
			[ -z "${fstype[i]}" ] || [ "${fstype[i]}" = ext4 ] || continue
			cand+=("$i")
			if [ "${mnt[i]}" = "$DATA_MOUNT" ]; then mounted=$i; fi
		done
		if [ "$mounted" -ge 0 ]; then
			chosen=$mounted
		elif [ "${#cand[@]}" = 1 ]; then
			chosen=${cand[0]}
		elif [ "${#cand[@]}" = 0 ]; then
			disk_fail 2 "no data disk found: no unpartitioned, unmounted disk besides the system disk (disks:$disks); attach one or name it by serial or device"
			return
		else
			for i in "${cand[@]}"; do found+=" ${name[i]}"; done
			disk_fail 3 "more than one disk could be the data disk:$found; name it by serial or device"
			return
		fi
	fi
	i=$chosen
	if [ -n "${kids[${name[i]}]-}" ]; then
		disk_fail 4 "refusing to use the disk: ${name[i]} has partitions or holders (${kids[${name[i]}]# }); natsnest never touches a partitioned disk"
		return
	fi
	if [ -n "${mnt[i]}" ] && [ "${mnt[i]}" != "$DATA_MOUNT" ]; then
		disk_fail 4 "refusing to use the disk: ${name[i]} is mounted at ${mnt[i]}"
		return
	fi
	if [ -n "${fstype[i]}" ] && [ "${fstype[i]}" != ext4 ]; then
		disk_fail 4 "refusing to use the disk: ${name[i]} holds ${fstype[i]}, not ext4; natsnest neither formats nor mounts it"
		return
	fi
	DATA_DEV=/dev/${name[i]}
	DATA_FSTYPE=${fstype[i]}
	return 0
}

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
