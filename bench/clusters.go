package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/localcluster"
)

// A serverConfig is one way of configuring the nodes that the figures
// compare.
type serverConfig struct {
	Key   string // in results.json
	Label string // in BENCHMARKS.md
	// Seed runs the seed's own nats.conf (seedConfig) instead of natsnest's.
	Seed       bool
	Durability string // localcluster.Options.Durability
}

var (
	seedServers = serverConfig{Key: "seed", Label: "seed's nats.conf (default sync)", Seed: true}
	natsnestDef = serverConfig{Key: "natsnest", Label: "natsnest, default durability"}
	natsnestAlw = serverConfig{Key: "always", Label: "natsnest, durability always", Durability: natsconf.SyncAlways}
)

// benchCluster is a local 3-node cluster running one serverConfig.
type benchCluster struct {
	cfg serverConfig
	c   *localcluster.Cluster
	dir string
}

// startCluster starts a 3-node cluster of cfg with its nodes' files (and
// JetStream stores) in <e.storeRoot>/<name>.
func (e *env) startCluster(ctx context.Context, cfg serverConfig, name string) (*benchCluster, error) {
	dir := filepath.Join(e.storeRoot, name)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	o := localcluster.Options{
		Nodes:        3,
		Dir:          dir,
		Durability:   cfg.Durability,
		ServerBinary: e.serverBin,
		Logf:         e.vlogf,
	}
	if cfg.Seed {
		o.RenderConfig = seedConfig
	}
	c, err := localcluster.Start(ctx, o)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting the %s cluster: %w", cfg.Key, err)
	}
	return &benchCluster{cfg: cfg, c: c, dir: dir}, nil
}

func (b *benchCluster) stop() {
	b.c.Stop()
	os.RemoveAll(b.dir)
}

// connect connects to the given nodes, in this order (no randomizing), as
// the application user, or without credentials on the seed's config.
func (b *benchCluster) connect(name string, nodes []int, extra ...nats.Option) (*nats.Conn, error) {
	var urls []string
	all := b.c.Nodes()
	for _, i := range nodes {
		urls = append(urls, all[i].ClientURL)
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.DontRandomize(),
		nats.Timeout(2 * time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond),
		nats.ReconnectJitter(20*time.Millisecond, 20*time.Millisecond),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	}
	if !b.cfg.Seed {
		app := b.c.App()
		opts = append(opts, nats.UserInfo(app.User, app.Password))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("%s: connecting to %v: %w", b.cfg.Key, urls, err)
	}
	return nc, nil
}

// leaderFirst returns every node index with leader first.
func (b *benchCluster) leaderFirst(leader int) []int {
	order := []int{leader}
	for _, n := range b.c.Nodes() {
		if n.Index != leader {
			order = append(order, n.Index)
		}
	}
	return order
}

// createStream creates a file-backed stream on subject and waits until it
// has a leader, whose node index it returns.
func createStream(ctx context.Context, b *benchCluster, js jetstream.JetStream, name, subject string, replicas int) (int, error) {
	cfg := jetstream.StreamConfig{
		Name:     name,
		Subjects: []string{subject},
		Storage:  jetstream.FileStorage,
		Replicas: replicas,
		// Below the runner's max_file_store of 1 GiB, so a long run
		// discards old messages instead of failing.
		MaxBytes: 512 << 20,
		Discard:  jetstream.DiscardOld,
	}
	var lastErr error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err := js.CreateOrUpdateStream(cctx, cfg)
		if err == nil {
			var info *jetstream.StreamInfo
			info, err = s.Info(cctx)
			if err == nil && info.Cluster != nil && info.Cluster.Leader != "" {
				cancel()
				if i, ok := b.c.NodeIndex(info.Cluster.Leader); ok {
					return i, nil
				}
				return 0, fmt.Errorf("stream %s: leader %q is no node of the cluster", name, info.Cluster.Leader)
			}
			if err == nil {
				err = errors.New("no leader yet")
			}
		}
		cancel()
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("stream %s (R%d) on the %s cluster: %w (last: %v)", name, replicas, b.cfg.Key, ctx.Err(), lastErr)
}

// deleteStream deletes a stream, retrying while the cluster settles.
func deleteStream(ctx context.Context, js jetstream.JetStream, name string) error {
	var err error
	for range 20 {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = js.DeleteStream(cctx, name)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrStreamNotFound) || ctx.Err() != nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("deleting stream %s: %w", name, err)
}

// publishUntilAcked publishes until one publish is acknowledged: a new
// stream's leader can refuse the first ones.
func publishUntilAcked(ctx context.Context, js jetstream.JetStream, subject string, data []byte) error {
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = js.Publish(pctx, subject, data)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no publish to %s was acknowledged: %w", subject, errors.Join(err, ctx.Err()))
}

// rotate returns xs rotated left by k, so each round measures the configs
// in a different order and drift of the machine spreads over all of them.
func rotate[T any](xs []T, k int) []T {
	if len(xs) == 0 {
		return nil
	}
	k %= len(xs)
	return slices.Concat(xs[k:], xs[:k])
}
