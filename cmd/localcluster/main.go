// Command localcluster runs a local NATS JetStream cluster of real
// nats-server processes — the pinned release, configured by natsnest's
// renderer — for trying things with the nats CLI, until Ctrl-C.
//
//	go run ./cmd/localcluster            # 3 nodes in a temporary directory
//	go run ./cmd/localcluster -nodes 1   # a single server, no cluster block
//	go run ./cmd/localcluster -dir ./tmp/cluster -durability always
//	go run ./cmd/localcluster -accounts accounts.json -max-file-store 10737418240 -apply assets.json
//
// -accounts replaces the application account with a user's own, and
// -max-file-store sets the store size, as a deployment has them; -apply then
// applies a file of stream and consumer declarations (jsassets.Assets as
// JSON, the settings natsnest.NewAssets takes) as the first JetStream
// account's first user, with the code the natsnest provider plugin runs —
// so a declaration is tried before it is deployed.
//
// It prints the client URLs, the credentials of the application user and of
// the system account's admin, and nats CLI command lines to paste. Ctrl-C (or
// SIGTERM) kills the nodes and removes their files, unless -dir was given.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/localcluster"
	"github.com/natsnest/pulumi-natsnest/internal/version"
	"github.com/natsnest/pulumi-natsnest/jsassets"
)

func main() {
	nodes := flag.Int("nodes", 3, "number of nats-server nodes (1 or more)")
	dir := flag.String("dir", "", "directory for the nodes' files, kept on exit (default: a temporary directory, removed on exit)")
	durability := flag.String("durability", "", `"always" to fsync every write before acknowledging it (default: the server's 2m sync interval)`)
	accountsFile := flag.String("accounts", "", `JSON file of accounts replacing the application account: [{"name": "ORDERS", "jetstream": true, "users": [{"name": "orders", "password": "…"}]}]`)
	maxFileStore := flag.Int64("max-file-store", 0, "JetStream file store size in bytes (default 1 GiB)")
	assetsFile := flag.String("apply", "", `JSON file of streams and consumers to apply once the cluster is up: {"streams": [{"name": …}], "consumers": [{"stream": …, "name": …}]}`)
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %s\n", strings.Join(flag.Args(), " "))
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	accounts, err := readAccounts(*accountsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	assets, err := readAssets(*assetsFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}

	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	c, err := localcluster.Start(ctx, localcluster.Options{
		Nodes:        *nodes,
		Dir:          *dir,
		Durability:   *durability,
		Logf:         logf,
		Accounts:     accounts,
		MaxFileStore: *maxFileStore,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if assets != nil {
		if err := apply(ctx, c, *assets); err != nil {
			fmt.Fprintln(os.Stderr, err)
			_ = c.Stop()
			os.Exit(1)
		}
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
	w("application user:  %s / %s   (account %s, JetStream enabled)", app.User, app.Password, c.AppAccount())
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

// readAccounts reads -accounts: "" is none (the default APP account).
func readAccounts(path string) ([]natsconf.Account, error) {
	if path == "" {
		return nil, nil
	}
	var in []struct {
		Name      string `json:"name"`
		JetStream bool   `json:"jetstream"`
		Users     []struct {
			Name     string `json:"name"`
			Password string `json:"password"`
		} `json:"users"`
	}
	if err := decodeFile(path, &in); err != nil {
		return nil, fmt.Errorf("-accounts: %w", err)
	}
	var out []natsconf.Account
	for _, a := range in {
		acc := natsconf.Account{Name: a.Name, JetStream: a.JetStream}
		for _, u := range a.Users {
			acc.Users = append(acc.Users, natsconf.User{Name: u.Name, Password: u.Password})
		}
		out = append(out, acc)
	}
	return out, nil
}

// readAssets reads and validates -apply: every problem at once.
func readAssets(path string) (*jsassets.Assets, error) {
	if path == "" {
		return nil, nil
	}
	var a jsassets.Assets
	if err := decodeFile(path, &a); err != nil {
		return nil, fmt.Errorf("-apply: %w", err)
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("-apply %s:\n%w", path, err)
	}
	return &a, nil
}

// decodeFile reads JSON, refusing fields it does not know: a misspelt
// setting must not be dropped silently.
func decodeFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// apply applies the declarations as the application user and prints what
// it did to each.
func apply(ctx context.Context, c *localcluster.Cluster, a jsassets.Assets) error {
	app := c.App()
	nc, err := nats.Connect(c.ClientURL(), nats.UserInfo(app.User, app.Password))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	results, err := jsassets.Apply(ctx, js, a, false)
	for _, r := range results {
		fmt.Printf("%s %s: %s\n", r.Kind, r.Name, r.Outcome)
	}
	if err != nil {
		return fmt.Errorf("-apply: %w", err)
	}
	return nil
}
