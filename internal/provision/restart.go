package provision

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
)

// RestartSettings lists, one "key=value" per line, the settings of s that a
// configuration reload (SIGHUP) cannot apply in the pinned nats-server, so
// that a change to any of them needs a restart. It holds no secret.
//
// From server/reload.go (diffOptions) of nats-server v2.15.2: server_name,
// the client and monitoring listeners, lame duck settings, sync_interval
// and store_dir are rejected ("config reload not supported"); the cluster
// listener's host and port are rejected (so is adding or removing the
// cluster block, which changes the port); no_auth_user and system_account
// changes are mostly rejected — natsnest restarts on any change of those
// rather than risk a rejected reload. The cluster name is included because
// renaming a running cluster is not something to do in place. Users,
// passwords, NKEYs, accounts, server_tags, routes, no_advertise and TLS
// blocks (tls {} sets only reloadable options) reload.
//
// JetStream's max_file_store and max_memory_store are in the list but are
// special (see NeedsRestart): a reload raises a limit that was set — the
// server logs "Reloaded: JetStream max_file_store = …" and enforces the new
// one at once — while lowering one, or setting or unsetting it, is
// rejected ("config reload not supported for decreasing jetstream max
// memory and store"), so raising reloads and anything else restarts.
//
// The node's service step restarts when this text (or the binary or the
// unit) changed since the server was started in a way NeedsRestart says a
// reload cannot apply, and otherwise reloads when nats.conf or routes.conf
// changed.
func RestartSettings(s natsconf.Server) string {
	var b strings.Builder
	w := func(k string, v any) { fmt.Fprintf(&b, "%s=%q\n", k, fmt.Sprint(v)) }
	w("server_name", s.Name)
	w("host", s.Host)
	w("client_port", s.ClientPort)
	w("monitor_port", s.MonitorPort)
	if s.MonitorTLS {
		// http and https monitoring do not reload into each other. Absent
		// when off, so nodes deployed before it existed see no change.
		w("monitor_tls", true)
	}
	w("lame_duck_duration", s.LameDuckDuration)
	w("lame_duck_grace_period", s.LameDuckGracePeriod)
	w("system_account", s.System.Name)
	w("no_auth_user", s.NoAuthUser)
	w("jetstream.store_dir", s.JetStream.StoreDir)
	w("jetstream.max_file_store", s.JetStream.MaxFileStore)
	w("jetstream.max_memory_store", s.JetStream.MaxMemoryStore)
	w("jetstream.sync_interval", s.JetStream.SyncInterval)
	if c := s.Cluster; c != nil {
		w("cluster.name", c.Name)
		w("cluster.host", c.Host)
		w("cluster.port", c.Port)
	} else {
		w("cluster", "none")
	}
	return b.String()
}

// storeLimitKeys are the restart settings a reload can raise.
var storeLimitKeys = []string{"jetstream.max_file_store", "jetstream.max_memory_store"}

// NeedsRestart reports whether a server running with the restart settings
// applied (RestartSettings' text) must restart to run with next, or whether
// a reload applies next. Any difference needs a restart, except store
// limits that were set and grow. The service step makes the same decision
// in bash (service.sh); a test runs both on the same cases.
func NeedsRestart(applied, next string) bool {
	if applied == next {
		return false
	}
	a, aRest := splitLimits(applied)
	n, nRest := splitLimits(next)
	if aRest != nRest {
		return true
	}
	for _, k := range storeLimitKeys {
		if a[k] == n[k] {
			continue
		}
		old, err1 := strconv.ParseInt(a[k], 10, 64)
		cur, err2 := strconv.ParseInt(n[k], 10, 64)
		if err1 != nil || err2 != nil || old <= 0 || cur <= old {
			return true
		}
	}
	return false
}

// splitLimits separates the store limits' values from the other lines.
func splitLimits(settings string) (map[string]string, string) {
	limits := map[string]string{}
	var rest strings.Builder
	for _, line := range strings.SplitAfter(settings, "\n") {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		if slices.Contains(storeLimitKeys, k) {
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			limits[k] = v
			continue
		}
		rest.WriteString(line)
	}
	return limits, rest.String()
}
