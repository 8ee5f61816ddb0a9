#!/bin/bash
# natsnest config step: write the configuration and the unit from stdin.
# Rendered by natsnest; runs as root; safe to run again.
set -euo pipefail
umask 022
export LC_ALL=C
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
STEP='config'
CONFIG_DIR='/etc/nats'
UNIT_PATH='/etc/systemd/system/natsd.service'
STATE_DIR='/var/lib/natsnest'
BIN='/usr/local/bin/nats-server'
SERVICE_GROUP='nats'

# --- lib: messages -------------------------------------------------------
log() { printf 'natsnest %s: %s\n' "$STEP" "$*"; }
warn() { printf 'natsnest %s: warning: %s\n' "$STEP" "$*" >&2; }
die() {
	printf 'natsnest %s: error: %s\n' "$STEP" "$*" >&2
	exit 1
}

# --- payload: the config step's files from stdin, into $work ---------------
# stdin holds one "KEY BASE64" line per file. Secrets travel only this way:
# never on the command line (visible in ps) or in the environment. Only the
# known keys are accepted, each decoded into $work, a fresh directory under
# $STATE_DIR that is removed on exit.
work=$(mktemp -d "$STATE_DIR/config.XXXXXX")
trap 'rm -rf "$work"' EXIT
while IFS=' ' read -r key data || [ -n "${key-}" ]; do
	case $key in
	'') continue ;;
	nats.conf | routes.conf | unit | restart-settings | tls-cert | tls-key | tls-ca) ;;
	*) die "unexpected entry \"$key\" on stdin" ;;
	esac
	printf '%s' "$data" | base64 -d >"$work/$key" 2>/dev/null || die "entry $key on stdin is not base64"
	key=""
done
for key in nats.conf unit restart-settings; do
	[ -f "$work/$key" ] || die "stdin lacks $key"
done

# --- config: the files from stdin, validated before they replace the old ones
# TLS: the certificate and its key come together; the CA only with them.
# They are staged under the names nats.conf gives them in $CONFIG_DIR/tls.
if [ -f "$work/tls-cert" ] || [ -f "$work/tls-key" ] || [ -f "$work/tls-ca" ]; then
	if [ ! -f "$work/tls-cert" ] || [ ! -f "$work/tls-key" ]; then
		die "stdin has TLS files but lacks tls-cert or tls-key"
	fi
	mkdir -m 0700 "$work/tls"
	mv "$work/tls-cert" "$work/tls/cert.pem"
	mv "$work/tls-key" "$work/tls/key.pem"
	if [ -f "$work/tls-ca" ]; then mv "$work/tls-ca" "$work/tls/ca.pem"; fi
fi

# The installed binary (the one that will run it) must accept the config.
# nats.conf names the TLS files by their final paths, which may not exist
# yet or hold the old ones: the check reads a copy that names the staged files.
if [ -x "$BIN" ]; then
	conf=$(<"$work/nats.conf")
	final="\"$CONFIG_DIR/tls/" staged="\"$work/tls/"
	printf '%s\n' "${conf//"$final"/"$staged"}" >"$work/nats.check.conf"
	out=$("$BIN" -t -c "$work/nats.check.conf" 2>&1) ||
		die "nats-server rejects the new configuration, which was not installed: $out"
fi

changed=""
# put SRC DST MODE OWNER GROUP installs SRC as DST when content or
# permissions differ, atomically, and records DST in $changed.
put() {
	local src=$1 dst=$2 mode=$3 owner=$4 group=$5
	if [ -f "$dst" ] && cmp -s "$src" "$dst" &&
		[ "$(stat -c '%a %U %G' "$dst")" = "${mode#0} $owner $group" ]; then
		return 0
	fi
	install -m "$mode" -o "$owner" -g "$group" "$src" "$dst.natsnest-new" || die "cannot write $dst"
	mv -f "$dst.natsnest-new" "$dst" || die "cannot write $dst"
	changed+=" $dst"
}
root=$(id -un 0)
rootgroup=$(getent group 0 | cut -d: -f1)
# The TLS files are in place before the nats.conf that names them. Secret
# files (the private key, nats.conf with its hashes, routes.conf with the
# route password) are root:SERVICE_GROUP 0640: natsd reads them and cannot
# change them.
tls_dir=$CONFIG_DIR/tls
if [ -d "$work/tls" ]; then
	install -d -m 0750 -o 0 -g "$SERVICE_GROUP" "$tls_dir"
	put "$work/tls/cert.pem" "$tls_dir/cert.pem" 0644 "$root" "$rootgroup"
	put "$work/tls/key.pem" "$tls_dir/key.pem" 0640 "$root" "$SERVICE_GROUP"
	if [ -f "$work/tls/ca.pem" ]; then
		put "$work/tls/ca.pem" "$tls_dir/ca.pem" 0644 "$root" "$rootgroup"
	elif [ -e "$tls_dir/ca.pem" ]; then
		rm -f "$tls_dir/ca.pem"
		changed+=" $tls_dir/ca.pem(removed)"
	fi
fi
put "$work/nats.conf" "$CONFIG_DIR/nats.conf" 0640 "$root" "$SERVICE_GROUP"
if [ ! -d "$work/tls" ] && [ -e "$tls_dir" ]; then
	rm -rf "$tls_dir"
	changed+=" $tls_dir(removed)"
fi
if [ -f "$work/routes.conf" ]; then
	put "$work/routes.conf" "$CONFIG_DIR/routes.conf" 0640 "$root" "$SERVICE_GROUP"
elif [ -e "$CONFIG_DIR/routes.conf" ]; then
	rm -f "$CONFIG_DIR/routes.conf"
	changed+=" $CONFIG_DIR/routes.conf(removed)"
fi
put "$work/restart-settings" "$STATE_DIR/restart-settings" 0644 "$root" "$rootgroup"
unit_before=$changed
put "$work/unit" "$UNIT_PATH" 0644 "$root" "$rootgroup"
if [ "$changed" != "$unit_before" ]; then systemctl daemon-reload; fi
if [ -n "$changed" ]; then
	log "changed:$changed"
else
	log "configuration unchanged"
fi
