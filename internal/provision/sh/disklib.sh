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
