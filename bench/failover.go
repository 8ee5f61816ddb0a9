package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Failover scenarios.
const (
	scenarioKill    = "kill"    // kill -9 of the stream leader's node
	scenarioRestart = "restart" // a planned restart of it
)

// Publisher settings of the failover figure: one publish at a time, each
// attempt bounded and retried after a short pause, as an application that
// must not lose a message would.
const (
	failoverAttemptTimeout = time.Second
	failoverRetryPause     = 20 * time.Millisecond
	failoverBaseline       = time.Second // steady publishing before and after
	failoverPayload        = 128
	failoverWaitFirstAck   = 30 * time.Second
)

// FailoverSample is one failover of one config in one round.
type FailoverSample struct {
	Config   string `json:"config"`
	Scenario string `json:"scenario"`
	Round    int    `json:"round"`
	// Action is what was done to the leader's node.
	Action string `json:"action"`
	// FirstAck is from the action to the first acknowledgement of a
	// publish sent after it.
	FirstAck time.Duration `json:"firstAck"`
	// Failed counts publish attempts that failed from the action until
	// one second after the node was healthy again.
	Failed int `json:"failed"`
	// LongestGap is the longest time without an acknowledgement in that
	// window (from one second before the action).
	LongestGap time.Duration `json:"longestGap"`
	// Down is from the action until the node answered the full /healthz
	// again.
	Down     time.Duration `json:"down"`
	Acked    int           `json:"acked"`
	Attempts int           `json:"attempts"`
	Err      string        `json:"err,omitempty"`
}

// FailoverResult is the failover figure.
type FailoverResult struct {
	Part
	Configs []serverConfig   `json:"configs"`
	Samples []FailoverSample `json:"samples"`
}

// pubEvent is one publish attempt.
type pubEvent struct {
	sent, done time.Time
	ok         bool
}

// failoverMetrics computes a sample's figures from the publisher's attempts
// (in the order they were made), the action's instant, and the end of the
// window.
func failoverMetrics(events []pubEvent, action, end time.Time) (firstAck time.Duration, failed int, gap time.Duration, acked int) {
	firstAck = -1
	var acks []time.Time
	for _, ev := range events {
		if ev.ok {
			acks = append(acks, ev.done)
			if !ev.done.Before(action.Add(-failoverBaseline)) && !ev.done.After(end) {
				acked++
			}
			if firstAck < 0 && !ev.sent.Before(action) {
				firstAck = ev.done.Sub(action)
			}
		} else if !ev.done.Before(action) && !ev.done.After(end) {
			failed++
		}
	}
	slices.SortFunc(acks, func(a, b time.Time) int { return a.Compare(b) })
	gap = longestGap(action.Add(-failoverBaseline), end, acks)
	return firstAck, failed, gap, acked
}

func (e *env) runFailover(ctx context.Context) (*FailoverResult, error) {
	configs := []serverConfig{seedServers, natsnestDef}
	res := &FailoverResult{Part: e.part("failover", e.runsOr(3)), Configs: configs}
	began := time.Now()
	clusters := map[string]*benchCluster{}
	defer func() {
		for _, b := range clusters {
			b.stop()
		}
	}()
	for _, cfg := range configs {
		b, err := e.startCluster(ctx, cfg, "failover-"+cfg.Key)
		if err != nil {
			return nil, err
		}
		clusters[cfg.Key] = b
	}
	type job struct {
		cfg      serverConfig
		scenario string
	}
	var jobs []job
	for _, sc := range []string{scenarioKill, scenarioRestart} {
		for _, cfg := range configs {
			jobs = append(jobs, job{cfg, sc})
		}
	}
	for round := range res.Runs {
		for _, j := range rotate(jobs, round) {
			s := failoverRun(ctx, e, clusters[j.cfg.Key], j.scenario)
			s.Round = round
			res.Samples = append(res.Samples, s)
			if s.Err != "" {
				e.logf("failover: round %d %-8s %-7s ERROR %s", round+1, j.cfg.Key, j.scenario, s.Err)
			} else {
				e.logf("failover: round %d %-8s %-7s %-22s first ack after %s, %d failed, longest gap %s, node back after %s",
					round+1, j.cfg.Key, j.scenario, s.Action, fmtDur(s.FirstAck), s.Failed, fmtDur(s.LongestGap), fmtDur(s.Down))
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	res.Elapsed = time.Since(began)
	return res, nil
}

// failoverRun creates an R3 stream on b, publishes to it continuously from a
// client connected to the leader's node, kills or restarts that node, starts
// it again and measures what the publisher saw.
func failoverRun(ctx context.Context, e *env, b *benchCluster, scenario string) (s FailoverSample) {
	s = FailoverSample{Config: b.cfg.Key, Scenario: scenario}
	fail := func(err error) FailoverSample { s.Err = err.Error(); return s }
	const stream, subject = "FAILOVER", "failover"

	// The cluster must be whole before each run.
	hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err := b.c.WaitHealthy(hctx)
	cancel()
	if err != nil {
		return fail(err)
	}
	admin, err := b.connect("failover-admin", []int{0, 1, 2})
	if err != nil {
		return fail(err)
	}
	defer admin.Close()
	ajs, err := jetstream.New(admin)
	if err != nil {
		return fail(err)
	}
	leader, err := createStream(ctx, b, ajs, stream, subject, 3)
	if err != nil {
		return fail(err)
	}
	defer deleteStream(context.WithoutCancel(ctx), ajs, stream)

	// The publisher's server is the one that goes away: the figure
	// includes the client's reconnect, the worst case.
	pub, err := b.connect("failover-publisher", b.leaderFirst(leader))
	if err != nil {
		return fail(err)
	}
	defer pub.Close()
	js, err := jetstream.New(pub)
	if err != nil {
		return fail(err)
	}
	payload := make([]byte, failoverPayload)
	if err := publishUntilAcked(ctx, js, subject, payload); err != nil {
		return fail(err)
	}

	var mu sync.Mutex
	var events []pubEvent
	firstAckAfter := make(chan struct{})
	var actionAt time.Time // set before the action, read under mu
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		signalled := false
		for {
			select {
			case <-stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, failoverAttemptTimeout)
			sent := time.Now()
			_, err := js.Publish(pctx, subject, payload, jetstream.WithRetryAttempts(0))
			done := time.Now()
			cancel()
			mu.Lock()
			events = append(events, pubEvent{sent: sent, done: done, ok: err == nil})
			after := !actionAt.IsZero() && !sent.Before(actionAt)
			mu.Unlock()
			if err == nil && after && !signalled {
				signalled = true
				close(firstAckAfter)
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(failoverRetryPause)
			}
		}
	})
	stopPublisher := func() {
		close(stop)
		wg.Wait()
	}

	sleepCtx(ctx, failoverBaseline)
	node := b.c.Nodes()[leader].Name
	t0 := time.Now()
	mu.Lock()
	actionAt = t0
	mu.Unlock()
	actx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	switch {
	case scenario == scenarioKill:
		s.Action = "kill -9 " + node
		err = b.c.Kill(leader)
		if err == nil {
			// Leave it dead until the cluster serves again, so the
			// figure is the survivors' failover, not the node's return.
			select {
			case <-firstAckAfter:
			case <-time.After(failoverWaitFirstAck):
			case <-actx.Done():
			}
		}
	case b.cfg.Seed:
		// The seed's unit has no ExecStop or KillSignal: systemctl
		// restart sends SIGTERM, and nats-server shuts down at once.
		s.Action = "SIGTERM " + node
		err = b.c.Terminate(actx, leader)
	default:
		s.Action = "lame duck (SIGUSR2) " + node
		err = b.c.LameDuck(actx, leader)
	}
	if err == nil {
		err = b.c.StartNode(actx, leader)
	}
	s.Down = time.Since(t0)
	if err != nil {
		stopPublisher()
		return fail(fmt.Errorf("%s: %w", s.Action, err))
	}
	sleepCtx(ctx, failoverBaseline)
	end := time.Now()
	stopPublisher()

	s.FirstAck, s.Failed, s.LongestGap, s.Acked = failoverMetrics(events, t0, end)
	for _, ev := range events {
		if !ev.done.Before(t0) && !ev.done.After(end) {
			s.Attempts++
		}
	}
	if s.FirstAck < 0 {
		return fail(errors.New("no publish sent after the action was acknowledged"))
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
