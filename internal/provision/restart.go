package provision

import (
	"fmt"
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
// cluster block, which changes the port); max_file_store and
// max_memory_store may only grow, and no_auth_user and system_account
// changes are mostly rejected — natsnest restarts on any change of those
// rather than risk a rejected reload. The cluster name is included because
// renaming a running cluster is not something to do in place. Users,
// passwords, accounts, server_tags, routes and no_advertise reload.
//
// The node's service step restarts when this text (or the binary or the
// unit) changed since the server was started, and otherwise reloads when
// nats.conf or routes.conf changed.
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
