package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cell is one stream shape the throughput figure measures.
type Cell struct {
	Replicas int `json:"replicas"`
	Payload  int `json:"payload"` // bytes
}

func (c Cell) String() string { return fmt.Sprintf("R%d, %s", c.Replicas, sizeLabel(c.Payload)) }

var throughputCells = []Cell{{1, 128}, {1, 16 << 10}, {3, 128}, {3, 16 << 10}}

// TputSample is one measurement of one config on one cell in one round.
type TputSample struct {
	Config string `json:"config"`
	Cell
	Round int `json:"round"`
	// Async publishing: acknowledged messages per second from the first
	// publish to the last acknowledgement.
	MsgsPerSec float64 `json:"msgsPerSec"`
	Acked      int64   `json:"acked"`
	Failed     int64   `json:"failed"`
	// Synchronous publishing: the time from Publish to its ack.
	P50        time.Duration `json:"p50"`
	P99        time.Duration `json:"p99"`
	LatSamples int           `json:"latSamples"`
	Err        string        `json:"err,omitempty"`
}

// ThroughputResult is the throughput and latency figure.
type ThroughputResult struct {
	Part
	Configs        []serverConfig           `json:"configs"`
	Cells          []Cell                   `json:"cells"`
	Window         time.Duration            `json:"window"`
	LatencyWindow  time.Duration            `json:"latencyWindow"`
	LatencyMax     int                      `json:"latencyMax"`
	MaxPending     int                      `json:"maxPending"`
	StoreFS        string                   `json:"storeFS"`
	ClusterStartup map[string]time.Duration `json:"clusterStartup"`
	Samples        []TputSample             `json:"samples"`
}

type tputOptions struct {
	window, latWindow time.Duration
	latMax, pending   int
}

func (e *env) runThroughput(ctx context.Context) (*ThroughputResult, error) {
	o := tputOptions{window: e.window, latWindow: e.latWindow, latMax: 2000, pending: 256}
	configs := []serverConfig{seedServers, natsnestDef, natsnestAlw}
	res := &ThroughputResult{
		Part:           e.part("throughput", e.runsOr(3)),
		Configs:        configs,
		Cells:          throughputCells,
		Window:         o.window,
		LatencyWindow:  o.latWindow,
		LatencyMax:     o.latMax,
		MaxPending:     o.pending,
		StoreFS:        e.storeFS,
		ClusterStartup: map[string]time.Duration{},
	}
	began := time.Now()

	// All three clusters run at once, idle but for the one being
	// measured, so every round measures every config side by side.
	clusters := map[string]*benchCluster{}
	defer func() {
		for _, b := range clusters {
			b.stop()
		}
	}()
	for _, cfg := range configs {
		t0 := time.Now()
		b, err := e.startCluster(ctx, cfg, "tput-"+cfg.Key)
		if err != nil {
			return nil, err
		}
		clusters[cfg.Key] = b
		res.ClusterStartup[cfg.Key] = time.Since(t0)
		e.logf("throughput: %s cluster up in %s", cfg.Key, time.Since(t0).Round(time.Millisecond))
	}

	for round := range res.Runs {
		for ci, cell := range throughputCells {
			for _, cfg := range rotate(configs, round+ci) {
				s := measureCell(ctx, clusters[cfg.Key], cell, o)
				s.Round = round
				res.Samples = append(res.Samples, s)
				if s.Err != "" {
					e.logf("throughput: round %d %-8s %s: ERROR %s", round+1, cfg.Key, cell, s.Err)
				} else {
					e.logf("throughput: round %d %-8s %-12s %9.0f msg/s (%d acked, %d failed)  p50 %s p99 %s (%d sync)",
						round+1, cfg.Key, cell, s.MsgsPerSec, s.Acked, s.Failed, fmtDur(s.P50), fmtDur(s.P99), s.LatSamples)
				}
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
			}
		}
	}
	res.Elapsed = time.Since(began)
	return res, nil
}

// measureCell creates a fresh stream of the cell's shape on b, connects a
// publisher to the node of the stream's leader, measures synchronous
// latency and then asynchronous throughput, and deletes the stream.
func measureCell(ctx context.Context, b *benchCluster, cell Cell, o tputOptions) (s TputSample) {
	s = TputSample{Config: b.cfg.Key, Cell: cell}
	fail := func(err error) TputSample { s.Err = err.Error(); return s }
	const stream, subject = "BENCH", "bench"

	admin, err := b.connect("bench-admin", []int{0, 1, 2})
	if err != nil {
		return fail(err)
	}
	defer admin.Close()
	ajs, err := jetstream.New(admin)
	if err != nil {
		return fail(err)
	}
	leader, err := createStream(ctx, b, ajs, stream, subject, cell.Replicas)
	if err != nil {
		return fail(err)
	}
	defer deleteStream(context.WithoutCancel(ctx), ajs, stream)

	// The publisher talks to the leader's node: the same path for every
	// config, whichever node the stream landed on.
	pub, err := b.connect("bench-publisher", []int{leader}, nats.ReconnectBufSize(-1))
	if err != nil {
		return fail(err)
	}
	defer pub.Close()
	var acked, failed atomic.Int64
	var lastAck atomic.Int64
	js, err := jetstream.New(pub,
		jetstream.WithPublishAsyncMaxPending(o.pending),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) {
			acked.Add(1)
			lastAck.Store(time.Now().UnixNano())
		}),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }),
	)
	if err != nil {
		return fail(err)
	}
	payload := make([]byte, cell.Payload)
	rand.Read(payload)
	if err := publishUntilAcked(ctx, js, subject, payload); err != nil {
		return fail(err)
	}

	// Latency: synchronous publishes, one at a time.
	var lats []time.Duration
	end := time.Now().Add(o.latWindow)
	for len(lats) < o.latMax && time.Now().Before(end) {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		t0 := time.Now()
		_, err := js.Publish(pctx, subject, payload)
		d := time.Since(t0)
		cancel()
		if err != nil {
			return fail(fmt.Errorf("synchronous publish: %w", err))
		}
		lats = append(lats, d)
	}
	s.LatSamples = len(lats)
	s.P50, s.P99 = percentile(lats, 50), percentile(lats, 99)

	// Throughput: asynchronous publishes with at most o.pending awaiting
	// their acks, for o.window, then wait for the last acks.
	start := time.Now()
	end = start.Add(o.window)
	for time.Now().Before(end) {
		if _, err := js.PublishAsync(subject, payload); err != nil {
			// Stalled: o.pending acks outstanding for the stall wait.
			// Not a lost message; try again.
			if ctx.Err() != nil {
				return fail(ctx.Err())
			}
			continue
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		return fail(fmt.Errorf("%d async publishes still unacknowledged after 60s", js.PublishAsyncPending()))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	s.Acked, s.Failed = acked.Load(), failed.Load()
	if s.Acked > 0 {
		s.MsgsPerSec = float64(s.Acked) / time.Unix(0, lastAck.Load()).Sub(start).Seconds()
	}
	return s
}

func sizeLabel(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
