// Command localcluster runs a local NATS JetStream cluster of real
// nats-server processes — the pinned release, configured by natsnest's
// renderer — for trying things with the nats CLI, until Ctrl-C.
//
//	go run ./cmd/localcluster            # 3 nodes in a temporary directory
//	go run ./cmd/localcluster -nodes 1   # a single server, no cluster block
//	go run ./cmd/localcluster -dir ./tmp/cluster -durability always
//
// It prints the client URLs, the credentials of the application user and of
// the system account's admin, and nats CLI command lines to paste. Ctrl-C (or
// SIGTERM) kills the nodes and removes their files, unless -dir was given.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/localcluster"
	"github.com/natsnest/pulumi-natsnest/internal/version"
)

func main() {
	nodes := flag.Int("nodes", 3, "number of nats-server nodes (1 or more)")
	dir := flag.String("dir", "", "directory for the nodes' files, kept on exit (default: a temporary directory, removed on exit)")
	durability := flag.String("durability", "", `"always" to fsync every write before acknowledging it (default: the server's 2m sync interval)`)
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %s\n", strings.Join(flag.Args(), " "))
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	c, err := localcluster.Start(ctx, localcluster.Options{
		Nodes:      *nodes,
		Dir:        *dir,
		Durability: *durability,
		Logf:       logf,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	printUsage(c, *dir != "")

	<-ctx.Done()
	stop()
	fmt.Fprintln(os.Stderr, "\nstopping the nodes…")
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *dir != "" {
		fmt.Fprintf(os.Stderr, "nodes stopped; their files are kept in %s\n", *dir)
	} else {
		fmt.Fprintln(os.Stderr, "nodes stopped and their files removed")
	}
}

func printUsage(c *localcluster.Cluster, keepFiles bool) {
	nodes := c.Nodes()
	app, admin := c.App(), c.Admin()
	urls := c.ClientURL()
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	w("")
	w("Local NATS JetStream cluster: %d node(s) of nats-server v%s", len(nodes), version.NATSServer)
	w("files (configs, logs, stores): %s", filepath.Dir(filepath.Dir(nodes[0].ConfigPath)))
	w("")
	for _, n := range nodes {
		w("  %-4s %s   monitoring %s", n.Name, n.ClientURL, n.MonitorURL)
	}
	w("")
	w("client URLs:       %s", urls)
	w("application user:  %s / %s   (account APP, JetStream enabled)", app.User, app.Password)
	w("system admin:      %s / %s   (account $SYS)", admin.User, admin.Password)
	w("")
	w("With the nats CLI (pinned in go.mod; use plain `nats` if you have it installed):")
	w("")
	w("  go tool -modfile=tools/go.mod nats context save local --server %s --user %s --password %s --select", urls, app.User, app.Password)
	w("  go tool -modfile=tools/go.mod nats stream ls")
	w("  go tool -modfile=tools/go.mod nats --server %s --user %s --password %s server ls", urls, admin.User, admin.Password)
	w("")
	if keepFiles {
		w("Press Ctrl-C to stop the nodes (their files are kept).")
	} else {
		w("Press Ctrl-C to stop the nodes and remove their files.")
	}
	fmt.Print(b.String())
}
