#!/bin/bash
# natsnest binary step: install nats-server v2.15.2, checksum verified, atomically.
# Rendered by natsnest; runs as root; safe to run again.
set -euo pipefail
umask 022
export LC_ALL=C
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
STEP='binary'
VERSION='2.15.2'
ARCH='amd64'
SHA256='0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'
SOURCE='upload'
STAGED='/var/lib/natsnest-upload/nats-server-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'
URL_SHOWN=''
ARCHIVE='0'
BIN='/usr/local/bin/nats-server'
UPLOAD_DIR='/var/lib/natsnest-upload'

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

# --- binary: verify, then install atomically --------------------------------
case $(uname -m) in
x86_64 | amd64) machine=amd64 ;;
aarch64 | arm64) machine=arm64 ;;
*) machine=$(uname -m) ;;
esac
[ "$machine" = "$ARCH" ] || die "this machine is $machine, the nats-server binary is for $ARCH: set Binary.Arch"

sha256_of() {
	local sum
	sum=$(sha256sum <"$1") || return 1
	printf '%s' "${sum%% *}"
}

upload_dir_safe
install -d -m 0700 "$UPLOAD_DIR"
work=$(mktemp -d "$UPLOAD_DIR/work.XXXXXX")
new="$BIN.natsnest-new"
trap 'rm -rf "$work" "$new"' EXIT

# A download's URL comes on stdin ("url BASE64"), never on a command line: a
# presigned URL's signature is a credential. Messages show URL_SHOWN, the
# URL without its query.
URL=""
if [ "$SOURCE" = url ]; then
	while IFS=' ' read -r key data || [ -n "${key-}" ]; do
		case $key in
		'') ;;
		url) URL=$(printf '%s' "$data" | base64 -d) || die "url on stdin is not base64" ;;
		*) die "unexpected entry \"$key\" on stdin" ;;
		esac
		key=""
	done
	[ -n "$URL" ] || die "stdin lacks the download URL"
fi

if [ "$SOURCE" = upload ]; then
	[ -f "$STAGED" ] || die "the uploaded binary $STAGED is missing; the installed nats-server is unchanged"
	src=$STAGED
else
	if command -v curl >/dev/null 2>&1; then
		# The URL reaches curl and wget on their stdin, not their arguments.
		curl -fsSL --retry 3 --connect-timeout 30 -o "$work/download" -K - <<<"url = \"$URL\"" ||
			die "download of $URL_SHOWN failed; the installed nats-server is unchanged"
	elif command -v wget >/dev/null 2>&1; then
		wget -q -T 30 -t 3 -O "$work/download" -i - <<<"$URL" ||
			die "download of $URL_SHOWN failed; the installed nats-server is unchanged"
	else
		die "neither curl nor wget is installed: install one, or let natsnest upload the binary"
	fi
	got=$(sha256_of "$work/download")
	[ "$got" = "$SHA256" ] ||
		die "checksum mismatch for $URL_SHOWN: got sha256 $got, want $SHA256; the installed nats-server is unchanged"
	log "downloaded $URL_SHOWN, sha256 verified"
	if [ "$ARCHIVE" = 1 ]; then
		mkdir "$work/x"
		tar -xzf "$work/download" -C "$work/x" --no-same-owner ||
			die "$URL_SHOWN is not a .tar.gz archive; the installed nats-server is unchanged"
		src="$work/x/nats-server-v$VERSION-linux-$ARCH/nats-server"
		if [ ! -f "$src" ]; then
			mapfile -t found < <(find "$work/x" -type f -name nats-server)
			[ "${#found[@]}" = 1 ] ||
				die "the archive from $URL_SHOWN holds ${#found[@]} files named nats-server, not one; the installed nats-server is unchanged"
			src=${found[0]}
		fi
	else
		src="$work/download"
	fi
fi

# Copy into place beside the target (root-owned, same filesystem), check the
# copy itself, then rename over the old binary: a running server keeps its
# file, and any failure above or here leaves the installed binary as it was.
install -m 0755 -o 0 -g 0 "$src" "$new"
if [ "$SOURCE" = upload ]; then
	got=$(sha256_of "$new")
	[ "$got" = "$SHA256" ] ||
		die "checksum mismatch for the uploaded binary: got sha256 $got, want $SHA256; the installed nats-server is unchanged"
fi
out=$("$new" --version 2>&1) ||
	die "the new nats-server does not run on this $machine machine ($out); the installed one is unchanged"
case $out in
*"v$VERSION") ;;
*) die "the new binary reports \"$out\", not v$VERSION; the installed nats-server is unchanged" ;;
esac
if [ -f "$BIN" ] && cmp -s "$new" "$BIN"; then
	log "nats-server v$VERSION is already installed"
else
	mv -f "$new" "$BIN"
	log "installed nats-server v$VERSION at $BIN"
fi
if [ "$SOURCE" = upload ]; then
	# Earlier uploads are no longer needed; the current one stays, so this
	# step can run again without a new upload.
	find "$UPLOAD_DIR" -maxdepth 1 -type f -name 'nats-server-*' ! -path "$STAGED" -delete
fi
