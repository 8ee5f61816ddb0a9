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
