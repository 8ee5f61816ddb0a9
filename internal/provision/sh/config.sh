# --- config: files from stdin, validated before they replace the old ones ---
# stdin holds one "KEY BASE64" line per file. Secrets travel only this way:
# never on the command line (visible in ps) or in the environment.
work=$(mktemp -d "$STATE_DIR/config.XXXXXX")
trap 'rm -rf "$work"' EXIT
while IFS=' ' read -r key data || [ -n "${key-}" ]; do
	case $key in
	'') continue ;;
	nats.conf | routes.conf | unit | restart-settings) ;;
	*) die "unexpected entry \"$key\" on stdin" ;;
	esac
	printf '%s' "$data" | base64 -d >"$work/$key" 2>/dev/null || die "entry $key on stdin is not base64"
	key=""
done
for key in nats.conf unit restart-settings; do
	[ -f "$work/$key" ] || die "stdin lacks $key"
done

# The installed binary (the one that will run it) must accept the config.
if [ -x "$BIN" ]; then
	out=$("$BIN" -t -c "$work/nats.conf" 2>&1) ||
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
put "$work/nats.conf" "$CONFIG_DIR/nats.conf" 0640 "$root" "$SERVICE_GROUP"
if [ -f "$work/routes.conf" ]; then
	put "$work/routes.conf" "$CONFIG_DIR/routes.conf" 0600 "$SERVICE_USER" "$SERVICE_GROUP"
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
