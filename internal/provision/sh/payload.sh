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
