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
