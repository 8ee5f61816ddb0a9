#!/bin/bash
# natsnest base step: wait for first boot, create the service user and directories, keys-only SSH.
# Rendered by natsnest; runs as root; safe to run again.
set -euo pipefail
umask 022
export LC_ALL=C
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
STEP='base'
SERVICE_USER='nats'
SERVICE_GROUP='nats'
CONFIG_DIR='/etc/nats'
STATE_DIR='/var/lib/natsnest'
UPLOAD_DIR='/var/lib/natsnest-upload'
CLOUD_INIT_TIMEOUT='1200'
KEYS_ONLY='1'
SSHD_CONFIG='/etc/ssh/sshd_config'
SSHD_DIR='/etc/ssh'
SSHD_DROPIN='00-natsnest.conf'

# --- lib: messages -------------------------------------------------------
log() { printf 'natsnest %s: %s\n' "$STEP" "$*"; }
warn() { printf 'natsnest %s: warning: %s\n' "$STEP" "$*" >&2; }
die() {
	printf 'natsnest %s: error: %s\n' "$STEP" "$*" >&2
	exit 1
}

# --- uploaddir: where an uploaded binary is staged -----------------------
# upload_dir_safe refuses an upload directory that another local user could
# have planted: a symbolic link, one owned by someone else, or one inside a
# directory that users other than root may write to.
upload_dir_safe() {
	local dir=${UPLOAD_DIR:?} parent want owner mode
	parent=$(dirname "$dir")
	if [ -L "$dir" ]; then die "$dir is a symbolic link: refusing to stage the binary through it"; fi
	read -r owner mode < <(stat -L -c '%u %a' "$parent") || die "cannot stat $parent"
	if [ "$owner" != 0 ] || (((8#$mode & 8#022) != 0)); then
		die "$parent is writable by users other than root (owner uid $owner, mode $mode): the upload directory cannot be kept safe there"
	fi
	if [ -e "$dir" ]; then
		want=$(id -u "${SUDO_USER:-root}")
		if [ "$(stat -c '%u' "$dir")" != "$want" ]; then
			die "$dir belongs to uid $(stat -c '%u' "$dir"), not to the provisioning user: refusing to stage the binary through it"
		fi
	fi
}

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

# --- base: SSH logins with keys only --------------------------------------
# Provisioning logs in with a key, so password logins are switched off:
# PasswordAuthentication, and keyboard-interactive, through which PAM asks
# for the same password. sshd keeps the FIRST value it reads for a keyword,
# and reads sshd_config.d/*.conf in name order at the Include line (the
# first line of Debian 12's sshd_config), so the drop-in is named to sort
# before the others, e.g. cloud images' 50-cloud-init.conf, which often
# says "PasswordAuthentication yes". Without that Include, a marked block
# goes at the top of sshd_config. Either way `sshd -T` must then report
# the setting in effect for root and for the provisioning user, Match blocks
# applied, or the step fails; a config sshd rejects is rolled back before
# sshd is reloaded.
#
# A Match block (say "Match User root" with "PasswordAuthentication yes")
# overrides the global settings for the connections it matches, and when
# several matching blocks set a keyword, the first one wins. The drop-in
# therefore ends with a "Match all" block of its own: read at the Include,
# before any block of sshd_config, it comes first. (A Match block in an
# included file ends with that file: what follows the Include in
# sshd_config stays global.)
sshd_dropin_body() {
	printf '# Rendered by natsnest: provisioning logs in with a key; no passwords over SSH.\n'
	printf 'PasswordAuthentication no\n'
	printf '%s no\n' "$1"
	printf '# First among the Match blocks, so that none turns passwords back on.\n'
	printf 'Match all\n'
	printf '\tPasswordAuthentication no\n'
	printf '\t%s no\n' "$1"
}
# sshd_block_body is the same for a block at the top of sshd_config, where a
# Match block would swallow the rest of the file: global settings only, and
# the check below finds any Match block that overrides them.
sshd_block_body() {
	printf 'PasswordAuthentication no\n'
	printf '%s no\n' "$1"
}
sshd_block_begin="# natsnest: begin (logins with keys only)"
sshd_block_end="# natsnest: end"
# sshd_includes_dropins succeeds when sshd_config includes sshd_config.d/*.conf.
sshd_includes_dropins() {
	awk -v abs="$SSHD_DIR/sshd_config.d/*.conf" '
		tolower($1) == "include" { for (i = 2; i <= NF; i++) if ($i == abs || $i == "sshd_config.d/*.conf") found = 1 }
		END { exit !found }' "$SSHD_CONFIG"
}
# sshd_strip_block prints sshd_config without natsnest's block.
sshd_strip_block() {
	awk -v b="$sshd_block_begin" -v e="$sshd_block_end" '
		$0 == b { skip = 1; next }
		skip && $0 == e { skip = 0; next }
		!skip' "$SSHD_CONFIG"
}
# sshd_write FILE CONTENT replaces FILE when CONTENT differs, keeping a
# backup in FILE.natsnest-old for the rollback; it says whether it wrote.
sshd_write() {
	local file=$1 content=$2
	if [ -f "$file" ] && [ "$(cat "$file")" = "$content" ]; then return 1; fi
	if [ -f "$file" ]; then cp -p "$file" "$file.natsnest-old"; fi
	printf '%s\n' "$content" >"$file.natsnest-new"
	chmod 0644 "$file.natsnest-new"
	mv -f "$file.natsnest-new" "$file"
	return 0
}

# sshd_setting KEYWORD [USER] prints the value sshd -T reports for KEYWORD
# (lower case) — for a connection of USER, Match blocks applied, when USER
# is given — or nothing when sshd cannot say.
sshd_setting() {
	local dump args=(-T -f "$SSHD_CONFIG")
	if [ -n "${2:-}" ]; then args+=(-C "user=$2,host=localhost,addr=127.0.0.1"); fi
	dump=$(sshd "${args[@]}" 2>/dev/null) || return 0
	awk -v k="$1" '$1 == k { print $2; exit }' <<<"$dump"
}

if [ "$KEYS_ONLY" = 1 ]; then
	command -v sshd >/dev/null 2>&1 || die "sshd is not installed here, yet provisioning logs in over SSH"
	[ -f "$SSHD_CONFIG" ] || die "$SSHD_CONFIG is missing"
	# OpenSSH before 8.7 knows keyboard-interactive by its older name.
	kbd=KbdInteractiveAuthentication
	if [ -z "$(sshd_setting kbdinteractiveauthentication)" ]; then
		kbd=ChallengeResponseAuthentication
	fi
	sshd_changed=()
	if sshd_includes_dropins; then
		install -d -m 0755 "$SSHD_DIR/sshd_config.d"
		target=$SSHD_DIR/sshd_config.d/$SSHD_DROPIN
		if sshd_write "$target" "$(sshd_dropin_body "$kbd")"; then sshd_changed+=("$target"); fi
		# A block from a time without the Include goes.
		if grep -qxF "$sshd_block_begin" "$SSHD_CONFIG" && sshd_write "$SSHD_CONFIG" "$(sshd_strip_block)"; then
			sshd_changed+=("$SSHD_CONFIG")
		fi
	else
		target=$SSHD_CONFIG
		block=$(printf '%s\n%s\n%s' "$sshd_block_begin" "$(sshd_block_body "$kbd")" "$sshd_block_end")
		if sshd_write "$SSHD_CONFIG" "$block"$'\n'"$(sshd_strip_block)"; then
			sshd_changed+=("$SSHD_CONFIG")
		fi
	fi
	if [ "${#sshd_changed[@]}" -gt 0 ]; then
		if ! out=$(sshd -t -f "$SSHD_CONFIG" 2>&1); then
			for f in "${sshd_changed[@]}"; do
				if [ -f "$f.natsnest-old" ]; then mv -f "$f.natsnest-old" "$f"; else rm -f "$f"; fi
			done
			die "sshd rejects the configuration with password logins off, which was rolled back: $out"
		fi
		for f in "${sshd_changed[@]}"; do rm -f "$f.natsnest-old"; done
	fi
	# For root and for the user provisioning logs in as: a Match block
	# that matches them applies to their connections only.
	for user in root ${SUDO_USER:+"$SUDO_USER"}; do
		for keyword in passwordauthentication "${kbd,,}"; do
			effective=$(sshd_setting "$keyword" "$user")
			if [ "$effective" != no ]; then
				die "password logins are still on for $user (sshd -T -C user=$user: $keyword ${effective:-unknown}) after writing $target: an earlier setting or a Match block in $SSHD_CONFIG wins; remove it, or keep password logins with SSH.KeepPasswordLogin"
			fi
		done
	done
	if [ "${#sshd_changed[@]}" -gt 0 ]; then
		# Reload only a running sshd (socket-activated ones read the config
		# per connection). Sessions already open, this one included, stay.
		for unit in ssh.service sshd.service; do
			systemctl try-reload-or-restart "$unit" >/dev/null 2>&1 || true
		done
		log "password logins over SSH are off ($target)"
	else
		log "password logins over SSH are off (unchanged)"
	fi
fi
log "ready"
