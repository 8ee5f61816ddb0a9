# --- hostkey: install natsnest's SSH host key -----------------------------
# Runs over SSH from the hostkey-pin step (hostkeypin.sh) on a node that
# does not present natsnest's host key yet: once on a node deployed before
# natsnest pinned host keys, or when the key is rotated. stdin: the private
# key (OpenSSH format), which must be PUBLIC_KEY's. The key replaces the
# Ed25519 host key, sshd -t must accept the result (else it is rolled
# back), and a running sshd is reloaded: sessions already open, this one
# included, stay; no reboot, nothing else restarts.
key=$(cat)
[ -n "$key" ] || die "no host key on stdin"
target=$SSHD_DIR/ssh_host_ed25519_key
new=$(mktemp "$SSHD_DIR/.natsnest-hostkey.XXXXXX")
trap 'rm -f "$new"' EXIT
chmod 0600 "$new"
printf '%s\n' "$key" >"$new"
got=$(ssh-keygen -y -f "$new" 2>/dev/null | awk '{ print $1 " " $2 }') || true
[ "$got" = "$PUBLIC_KEY" ] || die "the key on stdin is not the private half of $PUBLIC_KEY"
if [ -f "$target" ] && cmp -s "$new" "$target"; then
	log "host key already installed ($target)"
	exit 0
fi
for f in "$target" "$target.pub"; do
	if [ -f "$f" ]; then cp -p "$f" "$f.natsnest-old"; fi
done
mv -f "$new" "$target"
printf '%s root@%s\n' "$PUBLIC_KEY" "$(hostname)" >"$target.pub"
chmod 0644 "$target.pub"
if ! out=$(sshd -t 2>&1); then
	for f in "$target" "$target.pub"; do
		if [ -f "$f.natsnest-old" ]; then mv -f "$f.natsnest-old" "$f"; fi
	done
	die "sshd rejects the new host key, which was rolled back: $out"
fi
rm -f "$target.natsnest-old" "$target.pub.natsnest-old"
for unit in ssh.service sshd.service; do
	systemctl try-reload-or-restart "$unit" >/dev/null 2>&1 || true
done
log "host key installed ($target), sshd reloaded"
