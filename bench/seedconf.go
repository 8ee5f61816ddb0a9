package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
)

// seedBcryptCost is the cost of the admin hash in the seed's nats.conf
// ($2a$11$…).
const seedBcryptCost = 11

// seedConfig renders the Compute Nest seed's /etc/nats/nats.conf for one
// node of a local cluster: the same keys as the seed — server_name, listen,
// http, a $SYS account with user admin, jetstream with store_dir only,
// cluster C1 with plain routes to every node — on the ports, store and
// loopback address the runner chose. So, like the seed: no client
// authentication (clients land in the global account, which gets
// JetStream), no route credentials, no store limits, no lame duck settings
// and the server's default sync_interval.
//
// It is a localcluster.Options.RenderConfig: s is the server natsnest would
// render for the node, of which only the name, addresses, store directory,
// routes and admin password are used.
func seedConfig(s natsconf.Server) (natsconf.Files, error) {
	hash, err := natsconf.HashPassword(s.System.Password, s.HashSeed, "seed\x00admin", seedBcryptCost)
	if err != nil {
		return natsconf.Files{}, fmt.Errorf("seed config: %w", err)
	}
	hp := func(port int) string { return net.JoinHostPort(s.Host, strconv.Itoa(port)) }
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("server_name=%s\n", s.Name)
	w("listen: %s\n", hp(s.ClientPort))
	w("http: %s\n", hp(s.MonitorPort))
	w("accounts {\n  $SYS {\n    users = [\n      { user: \"admin\",\n        pass: \"%s\"\n      }\n    ]\n  }\n}\n\n", hash)
	// Quoted, unlike the seed's /data/nats-storage: a local path may hold
	// characters an unquoted value cannot.
	w("jetstream {\n   store_dir=%q\n}\n", s.JetStream.StoreDir)
	if c := s.Cluster; c != nil {
		w("\ncluster {\n  name: %s\n  listen: %s\n  routes = [\n\n", c.Name, hp(c.Port))
		for _, r := range c.Routes {
			w("      nats-route://%s\n", net.JoinHostPort(r.Host, strconv.Itoa(r.Port)))
		}
		w("  ]\n}\n")
	}
	return natsconf.Files{Config: b.String()}, nil
}
