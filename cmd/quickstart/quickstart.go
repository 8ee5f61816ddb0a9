package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/localcluster"
	"github.com/natsnest/pulumi-natsnest/jsassets"
)

// walkthroughAssets is the seed's stream and consumer as declared for
// natsnest.NewAssets.
var walkthroughAssets = jsassets.Walkthrough()

// The names and numbers of the seed's walkthrough.
var (
	streamName   = walkthroughAssets.Streams[0].Name
	subject      = walkthroughAssets.Streams[0].Subjects[0]
	consumerName = walkthroughAssets.Consumers[0].Name
)

const (
	consumer2Name = "foo_consumer2"

	nodes = 3
	// firstBatch is what the seed publishes before anyone consumes;
	// secondBatch is published while the old stream leader is dead.
	firstBatch  = 1000
	secondBatch = 100
	total       = firstBatch + secondBatch

	// pubBatch is how many asynchronous publishes are in flight before
	// their acknowledgements are awaited.
	pubBatch = 100
	// fetchBatch is what each consuming instance pulls at a time. Small
	// batches, pulled by two instances at once, are what makes the server
	// share the messages between them.
	fetchBatch = 10
	// work is the time each instance "spends" on a message, as a real
	// consumer would; without it one instance could drain 1000 messages
	// before the other has sent its first pull.
	work = time.Millisecond
)

// Bounds: a hung step fails instead of hanging the demo.
const (
	// startTimeout covers building nats-server from the Go module proxy
	// on the first run.
	startTimeout = 5 * time.Minute
	stepTimeout  = 30 * time.Second
	// requestTimeout bounds one request (stream info, one publish) inside
	// a step, so polling loops retry instead of waiting on a dead server.
	requestTimeout = 2 * time.Second
	// createTimeout bounds one attempt to create a stream or consumer,
	// which waits for its raft group to elect a leader.
	createTimeout = 10 * time.Second
	pollInterval  = 100 * time.Millisecond

	// logTailLines is how much of each node's log a failed step shows.
	logTailLines = 15
)

// walkthrough is the state the steps hand on to each other.
type walkthrough struct {
	out io.Writer

	cluster *localcluster.Cluster
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	conns   []*nats.Conn

	// published maps each acknowledged stream sequence to its
	// publication number.
	published  map[uint64]int
	acked      int
	duplicates int
	lastPubErr error

	// killed is the index of the node step 6 killed, -1 if none.
	killed     int
	killedName string
}

type step struct {
	title   string
	timeout time.Duration
	run     func(ctx context.Context) error
}

// run performs the walkthrough, writing the report to out. It returns an
// error if any step failed; the cluster is stopped before it returns.
func run(ctx context.Context, out io.Writer) (err error) {
	// The runner logs from its own goroutines too.
	out = &lockedWriter{w: out}
	w := &walkthrough{out: out, killed: -1, published: map[uint64]int{}}
	steps := []step{
		{fmt.Sprintf("Start a local %d-node cluster and connect as the application user", nodes), startTimeout, w.start},
		{"Create stream " + streamName + " with the seed's settings", stepTimeout, w.createStream},
		{fmt.Sprintf("Publish %d messages to %s, each acknowledged by the stream", firstBatch, subject), stepTimeout, w.publishFirst},
		{"Create durable pull consumer " + consumerName, stepTimeout, w.createConsumer},
		{"Two instances consume " + consumerName + " at the same time and share the messages", stepTimeout, w.shareConsumer},
		{"Kill -9 the stream leader: a new leader is elected and the stream still serves", stepTimeout, w.killLeader},
		{"New durable consumer " + consumer2Name + " reads from sequence 1", stepTimeout, w.readFromStart},
		{"Start the killed node again: all replicas current with the same last sequence", stepTimeout, w.restartNode},
	}

	began := time.Now()
	fmt.Fprintf(out, "natsnest quickstart: the Compute Nest NATS walkthrough on a local %d-node cluster\n", nodes)
	defer func() {
		// Also on panic and on Ctrl-C: never leave nats-server processes behind.
		if cerr := w.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if err == nil {
			fmt.Fprintf(out, "\nquickstart: all %d steps passed in %s\n", len(steps), since(began))
		}
	}()

	for i, s := range steps {
		fmt.Fprintf(out, "\n[%d/%d] %s\n", i+1, len(steps), s.title)
		sctx, cancel := context.WithTimeout(ctx, s.timeout)
		t0 := time.Now()
		serr := s.run(sctx)
		if serr == nil && ctx.Err() != nil {
			serr = ctx.Err()
		}
		if serr != nil {
			switch {
			case ctx.Err() != nil:
				serr = fmt.Errorf("interrupted: %w", serr)
			case sctx.Err() != nil:
				serr = fmt.Errorf("step did not finish within %s: %w", s.timeout, serr)
			}
		}
		cancel()
		if serr != nil {
			fmt.Fprintf(out, "      FAIL (%s): %v\n", since(t0), serr)
			if ctx.Err() == nil {
				w.printLogTails()
			}
			fmt.Fprintf(out, "\nquickstart: step %d of %d failed\n", i+1, len(steps))
			return fmt.Errorf("step %d (%s): %w", i+1, s.title, serr)
		}
		fmt.Fprintf(out, "      OK (%s)\n", since(t0))
	}
	return nil
}

// runnerLog prints what the local cluster runner does (building nats-server
// on the first run, starting and killing processes) in the running step.
func (w *walkthrough) runnerLog(format string, args ...any) {
	fmt.Fprintf(w.out, "      · "+strings.TrimRight(format, "\n")+"\n", args...)
}

// factf reports one observed fact of the running step.
func (w *walkthrough) factf(format string, args ...any) {
	fmt.Fprintf(w.out, "      "+format+"\n", args...)
}

// printLogTails shows the end of every node's log after a failed step,
// before Stop removes the files.
func (w *walkthrough) printLogTails() {
	if w.cluster == nil {
		return
	}
	for _, n := range w.cluster.Nodes() {
		path := filepath.Join(filepath.Dir(n.ConfigPath), "nats.log")
		b, err := os.ReadFile(path)
		if err != nil {
			w.factf("(%s's log: %v)", n.Name, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		lines = lines[max(0, len(lines)-logTailLines):]
		fmt.Fprintf(w.out, "\n      last %d lines of %s's log (%s):\n", len(lines), n.Name, path)
		for _, l := range lines {
			fmt.Fprintf(w.out, "        %s\n", l)
		}
	}
}

// close drops every connection and stops the cluster.
func (w *walkthrough) close() error {
	for _, nc := range w.conns {
		nc.Close()
	}
	w.conns = nil
	if w.cluster == nil {
		return nil
	}
	fmt.Fprintf(w.out, "\nCleanup\n")
	err := w.cluster.Stop()
	w.cluster = nil
	if err != nil {
		w.factf("FAIL stopping the local cluster: %v", err)
		return fmt.Errorf("stopping the local cluster: %w", err)
	}
	w.factf("local cluster stopped and its files removed")
	return nil
}

// connect opens a connection as the application user to any node, and keeps
// reconnecting, quickly, when its server dies.
func (w *walkthrough) connect(name string) (*nats.Conn, error) {
	app := w.cluster.App()
	nc, err := nats.Connect(w.cluster.ClientURL(),
		nats.Name(name),
		nats.UserInfo(app.User, app.Password),
		nats.Timeout(requestTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
		nats.ReconnectJitter(50*time.Millisecond, 50*time.Millisecond),
		// A connection whose server is killed must not print to stderr
		// in the middle of the report.
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	)
	if err != nil {
		return nil, fmt.Errorf("connecting %s as %q: %w", name, app.User, err)
	}
	w.conns = append(w.conns, nc)
	return nc, nil
}

// Step 1.
func (w *walkthrough) start(ctx context.Context) error {
	t0 := time.Now()
	c, err := localcluster.Start(ctx, localcluster.Options{Nodes: nodes, Logf: w.runnerLog})
	if err != nil {
		return fmt.Errorf("starting the local cluster: %w", err)
	}
	w.cluster = c
	w.factf("%d nodes healthy after %s:", len(c.Nodes()), since(t0))
	for _, n := range c.Nodes() {
		w.factf("  %-10s client %s  monitor %s", n.Name, n.ClientURL, n.MonitorURL)
	}
	w.factf("client URLs: %s", c.ClientURL())

	nc, err := w.connect("quickstart")
	if err != nil {
		return err
	}
	w.nc = nc
	w.factf("connected as %q to %s (server %s, cluster %s)",
		c.App().User, nc.ConnectedUrl(), nc.ConnectedServerName(), nc.ConnectedClusterName())

	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(pubBatch),
		jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		return err
	}
	w.js = js
	ai, err := retry(ctx, requestTimeout, func(rctx context.Context) (*jetstream.AccountInfo, error) { return js.AccountInfo(rctx) })
	if err != nil {
		return fmt.Errorf("JetStream account info: %w", err)
	}
	w.factf("JetStream is enabled for the application account: %d streams, %d consumers, file storage limit %s",
		ai.Streams, ai.Consumers, limit(ai.Limits.MaxStore))
	return nil
}

// Step 2.
func (w *walkthrough) createStream(ctx context.Context) error {
	// Exactly what the seed answers to `nats stream add my_stream`: the
	// very value a stack program declares with natsnest.NewAssets, applied
	// here without Pulumi by the code the provider plugin runs.
	decl := walkthroughAssets.Streams[0]
	if _, err := retry(ctx, createTimeout, func(rctx context.Context) (jsassets.Result, error) {
		return jsassets.ApplyStream(rctx, w.js, decl, false)
	}); err != nil {
		return fmt.Errorf("applying %s: %w", streamName, err)
	}
	s, err := w.js.Stream(ctx, streamName)
	if err != nil {
		return err
	}
	w.stream = s
	info, err := w.streamInfo(ctx, nil)
	if err != nil {
		return err
	}
	got := info.Config
	w.factf("stream %s created %s; settings as stored by the server:", got.Name, info.Created.Local().Format(time.DateTime))
	checks := []struct {
		name      string
		got, want any
	}{
		{"Subjects", strings.Join(got.Subjects, ","), subject},
		{"Storage", got.Storage, jetstream.FileStorage},
		{"Replicas", got.Replicas, 3},
		{"Retention", got.Retention, jetstream.LimitsPolicy},
		{"Acknowledgements", !got.NoAck, true},
		{"Discard Policy", policyName(got.Discard.String(), "Discard"), "Old"},
		{"Duplicate Window", got.Duplicates, 2 * time.Minute},
		{"Allows Msg Delete", !got.DenyDelete, true},
		{"Allows Purge", !got.DenyPurge, true},
		{"Allows Rollups", got.AllowRollup, false},
		{"Maximum Messages", limit(got.MaxMsgs), limit(-1)},
		{"Maximum Per Subject", limit(got.MaxMsgsPerSubject), limit(-1)},
		{"Maximum Bytes", limit(got.MaxBytes), limit(-1)},
		{"Maximum Age", ageLimit(got.MaxAge), ageLimit(0)},
		{"Maximum Message Size", limit(int64(got.MaxMsgSize)), limit(-1)},
		{"Maximum Consumers", limit(int64(got.MaxConsumers)), limit(-1)},
	}
	var bad []string
	for _, c := range checks {
		g, want := fmt.Sprint(c.got), fmt.Sprint(c.want)
		verdict := "as asked"
		if g != want {
			verdict = "WRONG, want " + want
			bad = append(bad, c.name)
		}
		w.factf("  %-21s %-20s %s", c.name+":", g, verdict)
	}
	w.printCluster(info.Cluster)
	if len(bad) > 0 {
		return fmt.Errorf("the server stored other settings than asked for: %s", strings.Join(bad, ", "))
	}
	return nil
}

// Step 3.
func (w *walkthrough) publishFirst(ctx context.Context) error {
	t0 := time.Now()
	// #1 alone and synchronously: the first publish to a new stream can
	// find that its leader's interest in foo has not reached the server
	// this client is connected to yet; retried, it lands as sequence 1.
	ack, failed, err := w.publish(ctx, 1)
	if err != nil {
		return err
	}
	if err := w.record(ack, 1); err != nil {
		return err
	}
	if failed > 0 {
		w.factf("publication #1 needed %d retries (the new stream's leader was not reachable yet)", failed)
	}

	retried := 0
	futures := make([]jetstream.PubAckFuture, 0, pubBatch)
	for first := 2; first <= firstBatch; first += pubBatch {
		futures = futures[:0]
		for n := first; n < first+pubBatch && n <= firstBatch; n++ {
			f, err := w.js.PublishAsync(subject, payload(n), jetstream.WithMsgID(msgID(n)))
			if err != nil {
				return fmt.Errorf("publishing #%d: %w", n, err)
			}
			futures = append(futures, f)
		}
		for i, f := range futures {
			n := first + i
			var ack *jetstream.PubAck
			select {
			case ack = <-f.Ok():
			case err := <-f.Err():
				// Publish it again with the same message ID: if the
				// first try was stored after all, the stream answers
				// with that sequence, flagged as a duplicate.
				var rerr error
				if ack, _, rerr = w.publish(ctx, n); rerr != nil {
					return fmt.Errorf("publication #%d not acknowledged (%v), nor when published again: %w", n, err, rerr)
				}
				retried++
			case <-ctx.Done():
				return fmt.Errorf("waiting for the acknowledgement of #%d: %w", n, ctx.Err())
			}
			if err := w.record(ack, n); err != nil {
				return err
			}
		}
	}
	d := time.Since(t0)
	w.factf("payloads: %q ... %q", "publication #1 @ <RFC3339 time>", fmt.Sprintf("publication #%d @ <RFC3339 time>", firstBatch))
	w.factf("acknowledged: %d of %d by stream %s, %s (%s, %.0f msgs/s)",
		w.acked, firstBatch, streamName, w.sequenceSummary(1, firstBatch), d.Round(time.Millisecond), float64(w.acked)/d.Seconds())
	if retried > 0 {
		w.factf("%d asynchronous publishes were not acknowledged at first and were published again", retried)
	}
	if err := w.checkAcked(1, firstBatch); err != nil {
		return err
	}

	info, err := w.streamInfo(ctx, nil)
	if err != nil {
		return err
	}
	st := info.State
	w.factf("stream state: %d messages, %d bytes, first seq %d, last seq %d", st.Msgs, st.Bytes, st.FirstSeq, st.LastSeq)
	if st.Msgs != firstBatch || st.FirstSeq != 1 || st.LastSeq != firstBatch {
		return fmt.Errorf("stream holds %d messages, sequences %d..%d; want %d, 1..%d", st.Msgs, st.FirstSeq, st.LastSeq, firstBatch, firstBatch)
	}
	return nil
}

// publish publishes publication #n and waits for its acknowledgement,
// trying again until ctx ends. The message ID makes a retry safe: if an
// attempt was stored but its acknowledgement lost, the stream answers the
// next one as a duplicate with the original sequence.
func (w *walkthrough) publish(ctx context.Context, n int) (ack *jetstream.PubAck, failed int, err error) {
	data := payload(n)
	for {
		pctx, cancel := context.WithTimeout(ctx, requestTimeout)
		ack, err := w.js.Publish(pctx, subject, data, jetstream.WithMsgID(msgID(n)))
		cancel()
		if err == nil {
			return ack, failed, nil
		}
		failed++
		w.lastPubErr = err
		select {
		case <-ctx.Done():
			return nil, failed, fmt.Errorf("publication #%d: %d attempts failed, the last with: %w", n, failed, err)
		case <-time.After(pollInterval):
		}
	}
}

// record checks and remembers the acknowledgement of publication #n.
func (w *walkthrough) record(ack *jetstream.PubAck, n int) error {
	if ack.Stream != streamName {
		return fmt.Errorf("publication #%d acknowledged by stream %q, want %s", n, ack.Stream, streamName)
	}
	if ack.Sequence == 0 {
		return fmt.Errorf("publication #%d acknowledged without a sequence", n)
	}
	if prev, ok := w.published[ack.Sequence]; ok && prev != n {
		return fmt.Errorf("publications #%d and #%d were both acknowledged with sequence %d", prev, n, ack.Sequence)
	}
	if ack.Duplicate {
		w.duplicates++
	}
	w.published[ack.Sequence] = n
	w.acked++
	return nil
}

// checkAcked checks that publications #from..#to were acknowledged with
// exactly the sequences from..to.
func (w *walkthrough) checkAcked(from, to int) error {
	seen := map[int]bool{}
	for seq := uint64(from); seq <= uint64(to); seq++ {
		n, ok := w.published[seq]
		if !ok {
			return fmt.Errorf("no publication was acknowledged with sequence %d", seq)
		}
		seen[n] = true
	}
	for n := from; n <= to; n++ {
		if !seen[n] {
			return fmt.Errorf("publication #%d was not acknowledged with a sequence in %d..%d", n, from, to)
		}
	}
	return nil
}

// sequenceSummary says which sequences publications #from..#to got.
func (w *walkthrough) sequenceSummary(from, to int) string {
	moved := 0
	for seq := uint64(from); seq <= uint64(to); seq++ {
		if n, ok := w.published[seq]; ok && n != int(seq) {
			moved++
		}
	}
	s := fmt.Sprintf("sequences %d..%d", from, to)
	if moved == 0 {
		s += " in publish order"
	} else {
		s += fmt.Sprintf(", %d of them out of publish order after retries", moved)
	}
	if w.duplicates > 0 {
		s += fmt.Sprintf(", %d retries answered as duplicates", w.duplicates)
	} else {
		s += ", no duplicates"
	}
	return s
}

// wantPayload checks that the message at stream sequence seq is the
// publication that was acknowledged with that sequence.
func (w *walkthrough) wantPayload(m jetstream.Msg, seq uint64) error {
	n, ok := w.published[seq]
	if !ok {
		return fmt.Errorf("stream seq %d holds %q, which no acknowledgement announced", seq, m.Data())
	}
	if !strings.HasPrefix(string(m.Data()), fmt.Sprintf("publication #%d @ ", n)) {
		return fmt.Errorf("stream seq %d holds %q, want publication #%d", seq, m.Data(), n)
	}
	return nil
}

// Step 4.
func (w *walkthrough) createConsumer(ctx context.Context) error {
	decl := walkthroughAssets.Consumers[0]
	if _, err := retry(ctx, createTimeout, func(rctx context.Context) (jsassets.Result, error) {
		return jsassets.ApplyConsumer(rctx, w.js, decl, false)
	}); err != nil {
		return fmt.Errorf("applying %s: %w", consumerName, err)
	}
	cons, err := w.js.Consumer(ctx, streamName, consumerName)
	if err != nil {
		return err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return err
	}
	if err := w.printConsumer(info); err != nil {
		return err
	}
	if info.NumPending != firstBatch || info.Delivered.Stream != 0 {
		return fmt.Errorf("%s has %d unprocessed messages and delivered up to %d; want %d and 0",
			consumerName, info.NumPending, info.Delivered.Stream, firstBatch)
	}
	return nil
}

// createDurable creates a durable pull consumer of my_stream as the seed's
// `nats consumer add` answers do: foo_consumer's declaration under another
// name.
func (w *walkthrough) createDurable(ctx context.Context, name string) (jetstream.Consumer, error) {
	decl := walkthroughAssets.Consumers[0]
	decl.Name = name
	cfg := decl.ConsumerConfig()
	return retry(ctx, createTimeout, func(rctx context.Context) (jetstream.Consumer, error) {
		return w.stream.CreateConsumer(rctx, cfg)
	})
}

func (w *walkthrough) printConsumer(info *jetstream.ConsumerInfo) error {
	cfg := info.Config
	w.factf("consumer %s > %s:", info.Stream, info.Name)
	w.factf("  Durable Name:        %s", cfg.Durable)
	w.factf("  Pull Mode:           %v", cfg.DeliverSubject == "")
	w.factf("  Deliver Policy:      %s", policyName(cfg.DeliverPolicy.String(), ""))
	w.factf("  Ack Policy:          %s", policyName(cfg.AckPolicy.String(), "Ack"))
	w.factf("  Ack Wait:            %s", cfg.AckWait)
	w.factf("  Replay Policy:       %s", policyName(cfg.ReplayPolicy.String(), ""))
	w.factf("  Max Ack Pending:     %d", cfg.MaxAckPending)
	w.factf("  Max Waiting Pulls:   %d", cfg.MaxWaiting)
	w.factf("  Unprocessed:         %d messages", info.NumPending)
	w.printCluster(info.Cluster)
	var bad []string
	if cfg.Durable != info.Name {
		bad = append(bad, "not durable")
	}
	if cfg.DeliverSubject != "" {
		bad = append(bad, "not a pull consumer")
	}
	if cfg.DeliverPolicy != jetstream.DeliverAllPolicy {
		bad = append(bad, "deliver policy "+cfg.DeliverPolicy.String())
	}
	if cfg.AckPolicy != jetstream.AckExplicitPolicy {
		bad = append(bad, "ack policy "+cfg.AckPolicy.String())
	}
	if cfg.ReplayPolicy != jetstream.ReplayInstantPolicy {
		bad = append(bad, "replay policy "+cfg.ReplayPolicy.String())
	}
	if len(bad) > 0 {
		return fmt.Errorf("consumer %s stored as: %s", info.Name, strings.Join(bad, ", "))
	}
	return nil
}

// instance is one of two consumers of foo_consumer, each with its own
// connection, as two processes of an application would be.
type instance struct {
	name string
	cons jetstream.Consumer
	got  int
	// redelivered counts messages this instance saw more than once.
	redelivered int
	pullRetries int
}

// Step 5.
func (w *walkthrough) shareConsumer(ctx context.Context) error {
	var insts []*instance
	for _, name := range []string{"A", "B"} {
		nc, err := w.connect("quickstart instance " + name)
		if err != nil {
			return err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		cons, err := retry(ctx, requestTimeout, func(rctx context.Context) (jetstream.Consumer, error) {
			return js.Consumer(rctx, streamName, consumerName)
		})
		if err != nil {
			return fmt.Errorf("instance %s binding %s: %w", name, consumerName, err)
		}
		insts = append(insts, &instance{name: name, cons: cons})
		w.factf("instance %s: own connection to %s, bound to %s", name, nc.ConnectedServerName(), consumerName)
	}

	var (
		mu sync.Mutex
		// deliveredTo[seq] lists the instances that got stream sequence seq.
		deliveredTo = map[uint64][]string{}
		// order is the instance of each delivery, in arrival order.
		order    []string
		orderSq  []uint64
		distinct atomic.Int64
	)
	record := func(in *instance, seq uint64) {
		mu.Lock()
		defer mu.Unlock()
		in.got++
		if slices.Contains(deliveredTo[seq], in.name) {
			in.redelivered++
		} else if len(deliveredTo[seq]) == 0 {
			distinct.Add(1)
		}
		deliveredTo[seq] = append(deliveredTo[seq], in.name)
		order = append(order, in.name)
		orderSq = append(orderSq, seq)
	}

	t0 := time.Now()
	startGate := make(chan struct{})
	errs := make(chan error, len(insts))
	for _, in := range insts {
		go func() {
			<-startGate
			errs <- consume(ctx, in, func() bool { return distinct.Load() >= firstBatch }, record)
		}()
	}
	close(startGate)
	var cerr error
	for range insts {
		cerr = errors.Join(cerr, <-errs)
	}
	d := time.Since(t0)
	if cerr != nil {
		return cerr
	}

	a, b := insts[0], insts[1]
	w.factf("instance A: %d, instance B: %d (fetching %d at a time, %s of work per message, %s)",
		a.got, b.got, fetchBatch, work, d.Round(time.Millisecond))
	w.factf("first deliveries: %s", runs(order, orderSq, 8))
	if n := a.pullRetries + b.pullRetries; n > 0 {
		w.factf("%d pull requests sent again: no responder yet", n)
	}

	var both, missing []uint64
	for seq := uint64(1); seq <= firstBatch; seq++ {
		to := deliveredTo[seq]
		switch {
		case len(to) == 0:
			missing = append(missing, seq)
		case slices.Contains(to, "A") && slices.Contains(to, "B"):
			both = append(both, seq)
		}
	}
	extra := 0
	for seq := range deliveredTo {
		if seq < 1 || seq > firstBatch {
			extra++
		}
	}
	w.factf("delivered to both instances: %d; redelivered to the same instance: %d; distinct sequences: %d, missing from 1..%d: %d, outside it: %d",
		len(both), a.redelivered+b.redelivered, len(deliveredTo), firstBatch, len(missing), extra)
	switch {
	case a.got == 0 || b.got == 0:
		return fmt.Errorf("one instance got every message (A %d, B %d): the consumer was not shared", a.got, b.got)
	case len(both) > 0:
		return fmt.Errorf("%d sequences were delivered to both instances, first %v", len(both), both[:min(len(both), 5)])
	case len(missing) > 0 || extra > 0:
		return fmt.Errorf("deliveries are not exactly sequences 1..%d: %d missing, %d outside", firstBatch, len(missing), extra)
	}

	// Every message was acknowledged: ask the server, not the client.
	info, err := poll(ctx, requestTimeout, func(rctx context.Context) (*jetstream.ConsumerInfo, bool, error) {
		info, err := a.cons.Info(rctx)
		if err != nil {
			return nil, false, err
		}
		return info, info.AckFloor.Stream == firstBatch && info.NumAckPending == 0 && info.NumPending == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s to record every acknowledgement: %w", consumerName, err)
	}
	w.factf("%s on the server: delivered up to stream seq %d, ack floor %d, %d awaiting ack, %d unprocessed, %d redelivered",
		consumerName, info.Delivered.Stream, info.AckFloor.Stream, info.NumAckPending, info.NumPending, info.NumRedelivered)
	return nil
}

// consume pulls small batches from in's consumer and acknowledges every
// message until done reports that all messages were seen.
func consume(ctx context.Context, in *instance, done func() bool, record func(*instance, uint64)) error {
	for !done() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("instance %s: %w", in.name, err)
		}
		batch, err := in.cons.Fetch(fetchBatch, jetstream.FetchMaxWait(time.Second))
		if err == nil {
			for msg := range batch.Messages() {
				md, err := msg.Metadata()
				if err != nil {
					return fmt.Errorf("instance %s: %w", in.name, err)
				}
				record(in, md.Sequence.Stream)
				time.Sleep(work)
				if err := msg.Ack(); err != nil {
					return fmt.Errorf("instance %s acknowledging stream seq %d: %w", in.name, md.Sequence.Stream, err)
				}
			}
			err = batch.Error()
		}
		if errors.Is(err, nats.ErrNoResponders) {
			// See fetchAll: the pull is sent again.
			in.pullRetries++
			time.Sleep(pollInterval)
			continue
		}
		if err != nil {
			return fmt.Errorf("instance %s fetching: %w", in.name, err)
		}
	}
	return nil
}

// Step 6.
func (w *walkthrough) killLeader(ctx context.Context) error {
	info, err := w.streamInfo(ctx, nil)
	if err != nil {
		return err
	}
	old := leaderOf(info)
	if old == "" {
		return fmt.Errorf("%s has no leader", streamName)
	}
	i, ok := w.cluster.NodeIndex(old)
	if !ok {
		return fmt.Errorf("stream leader %q is not a node of the local cluster", old)
	}
	onLeader := w.nc.ConnectedServerName() == old
	oldMeta := w.metaLeader(ctx)
	w.factf("stream leader: %s (node %d); JetStream meta leader: %s; the demo's connection is on %s",
		old, i, oldMeta, w.nc.ConnectedServerName())

	t0 := time.Now()
	if err := w.cluster.Kill(i); err != nil {
		return fmt.Errorf("killing %s: %w", old, err)
	}
	w.killed, w.killedName = i, old

	info, err = w.streamInfo(ctx, func(si *jetstream.StreamInfo) bool {
		l := leaderOf(si)
		return l != "" && l != old
	})
	if err != nil {
		return fmt.Errorf("waiting for a new leader of %s: %w", streamName, err)
	}
	election := time.Since(t0)
	w.factf("new stream leader: %s, seen %s after the kill (informational)", leaderOf(info), election.Round(time.Millisecond))
	w.printCluster(info.Cluster)

	// Creating consumers needs the meta leader; only it answers account
	// info, so a successful answer means one is in place.
	if _, err := retry(ctx, requestTimeout, func(rctx context.Context) (*jetstream.AccountInfo, error) { return w.js.AccountInfo(rctx) }); err != nil {
		return fmt.Errorf("waiting for a JetStream meta leader: %w", err)
	}
	if meta := w.metaLeader(ctx); meta != oldMeta {
		w.factf("JetStream meta leader: %s (was %s), answering %s after the kill", meta, oldMeta, since(t0))
	} else {
		w.factf("JetStream meta leader: still %s", meta)
	}

	// Publish while the cluster runs on two nodes, one message at a time,
	// each retried until acknowledged (see publish).
	t1 := time.Now()
	failures, dups0 := 0, w.duplicates
	w.lastPubErr = nil
	for n := firstBatch + 1; n <= total; n++ {
		ack, failed, err := w.publish(ctx, n)
		failures += failed
		if err != nil {
			return err
		}
		if err := w.record(ack, n); err != nil {
			return err
		}
	}
	w.factf("published #%d..#%d in %s: %d acknowledged, %s; %d failed attempts retried",
		firstBatch+1, total, since(t1), secondBatch, w.sequenceSummary(firstBatch+1, total), failures)
	if w.lastPubErr != nil {
		w.factf("  last transient publish error: %v (%d retries answered as duplicates)", w.lastPubErr, w.duplicates-dups0)
	}
	if err := w.checkAcked(firstBatch+1, total); err != nil {
		return err
	}
	if onLeader {
		w.factf("the demo's connection was on the killed node and reconnected to %s (%d reconnects)",
			w.nc.ConnectedServerName(), w.nc.Stats().Reconnects)
	}

	// Read them back through a new consumer. A named ephemeral one: the
	// server removes it when unused, and creating it again is idempotent.
	rb, err := retry(ctx, createTimeout, func(rctx context.Context) (jetstream.Consumer, error) {
		return w.stream.CreateConsumer(rctx, jetstream.ConsumerConfig{
			Name:              "quickstart_readback",
			DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:       firstBatch + 1,
			AckPolicy:         jetstream.AckExplicitPolicy,
			InactiveThreshold: time.Minute,
		})
	})
	if err != nil {
		return fmt.Errorf("creating an ephemeral consumer: %w", err)
	}
	next := uint64(firstBatch + 1)
	var last string
	retries, err := fetchAll(ctx, rb, secondBatch, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		if md.Sequence.Stream != next {
			return fmt.Errorf("ephemeral consumer delivered stream seq %d, want %d", md.Sequence.Stream, next)
		}
		if err := w.wantPayload(m, next); err != nil {
			return err
		}
		last = string(m.Data())
		next++
		return nil
	})
	if err != nil {
		return err
	}
	w.factf("read back %d messages, seqs %d..%d, through an ephemeral consumer led by %s%s; last: %q",
		secondBatch, firstBatch+1, total, consumerLeader(rb), pullRetries(retries), last)

	info, err = w.streamInfo(ctx, nil)
	if err != nil {
		return err
	}
	w.factf("stream state: %d messages, last seq %d, leader %s", info.State.Msgs, info.State.LastSeq, leaderOf(info))
	if info.State.Msgs != total || info.State.LastSeq != total {
		return fmt.Errorf("stream holds %d messages up to seq %d, want %d", info.State.Msgs, info.State.LastSeq, total)
	}
	return nil
}

// Step 7.
func (w *walkthrough) readFromStart(ctx context.Context) error {
	t0 := time.Now()
	cons, err := w.createDurable(ctx, consumer2Name)
	if err != nil {
		return fmt.Errorf("creating %s while %s is down: %w", consumer2Name, w.killedName, err)
	}
	if d := time.Since(t0); d > time.Second {
		w.factf("created in %s, while %s is down (its raft group elected a leader with one of three peers missing)", since(t0), w.killedName)
	} else {
		w.factf("created in %s, while %s is down", since(t0), w.killedName)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return err
	}
	if err := w.printConsumer(info); err != nil {
		return err
	}

	t1 := time.Now()
	next := uint64(1)
	var lastPayload string
	retries, err := fetchAll(ctx, cons, total, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		if md.Sequence.Stream != next {
			return fmt.Errorf("%s delivered stream seq %d, want %d", consumer2Name, md.Sequence.Stream, next)
		}
		if err := w.wantPayload(m, next); err != nil {
			return err
		}
		if next == 1 {
			w.factf("first message: stream seq %d, consumer seq %d, delivered %d time(s): %q",
				md.Sequence.Stream, md.Sequence.Consumer, md.NumDelivered, m.Data())
		}
		lastPayload = string(m.Data())
		next++
		return nil
	})
	if err != nil {
		return err
	}
	w.factf("read and acknowledged all %d messages in order, stream seqs 1..%d, in %s%s; last: %q", total, total, since(t1), pullRetries(retries), lastPayload)

	info, err = poll(ctx, requestTimeout, func(rctx context.Context) (*jetstream.ConsumerInfo, bool, error) {
		info, err := cons.Info(rctx)
		if err != nil {
			return nil, false, err
		}
		return info, info.AckFloor.Stream == total && info.NumAckPending == 0 && info.NumPending == 0, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s to record every acknowledgement: %w", consumer2Name, err)
	}
	w.factf("%s on the server: ack floor %d, %d awaiting ack, %d unprocessed", consumer2Name, info.AckFloor.Stream, info.NumAckPending, info.NumPending)
	return nil
}

// Step 8.
func (w *walkthrough) restartNode(ctx context.Context) error {
	if w.killed < 0 {
		return errors.New("no node was killed")
	}
	t0 := time.Now()
	if err := w.cluster.StartNode(ctx, w.killed); err != nil {
		return fmt.Errorf("starting %s again: %w", w.killedName, err)
	}
	w.factf("started %s again; healthy after %s", w.killedName, since(t0))
	w.killed = -1

	info, err := w.streamInfo(ctx, func(si *jetstream.StreamInfo) bool {
		if leaderOf(si) == "" || len(si.Cluster.Replicas) != nodes-1 || si.State.LastSeq != total {
			return false
		}
		for _, p := range si.Cluster.Replicas {
			if !p.Current || p.Offline {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("waiting for every replica of %s to be current: %w", streamName, err)
	}
	w.factf("all replicas current %s after the restart:", since(t0))
	w.printCluster(info.Cluster)

	// Ask every server itself what it holds, through its own monitoring port.
	type row struct {
		name, role string
		state      jszStream
		current    bool
	}
	var rows []row
	_, err = poll(ctx, requestTimeout, func(rctx context.Context) (struct{}, bool, error) {
		rows = rows[:0]
		same := true
		for _, n := range w.cluster.Nodes() {
			st, err := streamOnServer(rctx, n.MonitorURL, streamName)
			if err != nil {
				return struct{}{}, false, fmt.Errorf("%s: %w", n.Name, err)
			}
			r := row{name: n.Name, role: "replica", state: st}
			if n.Name == leaderOf(info) {
				r.role, r.current = "leader", true
			}
			for _, p := range info.Cluster.Replicas {
				if p.Name == n.Name {
					r.current = p.Current && !p.Offline
				}
			}
			rows = append(rows, r)
			same = same && st.LastSeq == total && st.Msgs == total
		}
		return struct{}{}, same, nil
	})
	w.factf("%-12s %-8s %-9s %-9s %s", "server", "role", "last seq", "messages", "current")
	for _, r := range rows {
		w.factf("%-12s %-8s %-9d %-9d %s", r.name, r.role, r.state.LastSeq, r.state.Msgs, yesNo(r.current))
	}
	if err != nil {
		return fmt.Errorf("waiting for every server to hold seqs 1..%d: %w", total, err)
	}
	return nil
}

// fetchAll pulls want messages from cons, hands each to check and
// acknowledges it. It returns how many pull requests found no responder: a
// consumer just created or moved may not have its interest on the server
// this client is connected to yet, and the pull is simply sent again.
func fetchAll(ctx context.Context, cons jetstream.Consumer, want int, check func(jetstream.Msg, *jetstream.MsgMetadata) error) (retries int, err error) {
	got := 0
	for got < want {
		if err := ctx.Err(); err != nil {
			return retries, fmt.Errorf("after %d of %d messages: %w", got, want, err)
		}
		batch, err := cons.Fetch(min(want-got, 250), jetstream.FetchMaxWait(requestTimeout))
		if err == nil {
			for m := range batch.Messages() {
				md, err := m.Metadata()
				if err != nil {
					return retries, err
				}
				if err := check(m, md); err != nil {
					return retries, err
				}
				if err := m.Ack(); err != nil {
					return retries, fmt.Errorf("acknowledging stream seq %d: %w", md.Sequence.Stream, err)
				}
				got++
			}
			err = batch.Error()
		}
		if errors.Is(err, nats.ErrNoResponders) {
			retries++
			time.Sleep(pollInterval)
			continue
		}
		if err != nil {
			return retries, fmt.Errorf("fetching after %d of %d messages: %w", got, want, err)
		}
	}
	return retries, nil
}

func pullRetries(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d pull requests sent again: no responder yet)", n)
}

func consumerLeader(c jetstream.Consumer) string {
	if ci := c.CachedInfo(); ci != nil && ci.Cluster != nil {
		return ci.Cluster.Leader
	}
	return "?"
}

// streamInfo asks for my_stream's info until ready accepts it (any answer
// when ready is nil). Each request has its own short timeout, so a request
// that went to a dead server is retried, not waited on.
func (w *walkthrough) streamInfo(ctx context.Context, ready func(*jetstream.StreamInfo) bool) (*jetstream.StreamInfo, error) {
	return poll(ctx, requestTimeout, func(rctx context.Context) (*jetstream.StreamInfo, bool, error) {
		info, err := w.stream.Info(rctx)
		if err != nil {
			return nil, false, err
		}
		return info, ready == nil || ready(info), nil
	})
}

// poll calls f, each call bounded by attempt, until f reports done or ctx
// ends; f's errors are retried. On failure it returns the last answer and
// what was wrong with it.
func poll[T any](ctx context.Context, attempt time.Duration, f func(context.Context) (T, bool, error)) (T, error) {
	var last T
	var lastErr error
	for {
		rctx, cancel := context.WithTimeout(ctx, attempt)
		v, done, err := f(rctx)
		cancel()
		if err == nil {
			last = v
			if done {
				return v, nil
			}
			lastErr = errors.New("not there yet")
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if errors.Is(lastErr, context.Canceled) || errors.Is(lastErr, context.DeadlineExceeded) {
				return last, ctx.Err()
			}
			return last, fmt.Errorf("%w (last answer: %v)", ctx.Err(), lastErr)
		case <-time.After(pollInterval):
		}
	}
}

// retry calls f until it succeeds or ctx ends, each call bounded by attempt.
// Only idempotent requests are retried: a create whose answer was lost is
// answered with the existing stream or consumer the second time.
func retry[T any](ctx context.Context, attempt time.Duration, f func(context.Context) (T, error)) (T, error) {
	return poll(ctx, attempt, func(rctx context.Context) (T, bool, error) {
		v, err := f(rctx)
		return v, err == nil, err
	})
}

// printCluster prints a stream's or consumer's raft group like `nats stream
// info` does.
func (w *walkthrough) printCluster(ci *jetstream.ClusterInfo) {
	if ci == nil {
		w.factf("  (no cluster information)")
		return
	}
	w.factf("  Cluster:  %s", ci.Name)
	w.factf("  Leader:   %s", ci.Leader)
	for _, p := range ci.Replicas {
		state := "current"
		if !p.Current {
			state = "outdated"
		}
		if p.Offline {
			state += ", OFFLINE"
		}
		seen := "not seen"
		if p.Active > 0 && p.Active < 1000*time.Hour {
			seen = fmt.Sprintf("seen %s ago", p.Active.Round(time.Millisecond))
		}
		lag := ""
		if p.Lag > 0 {
			lag = fmt.Sprintf(", %d operations behind", p.Lag)
		}
		w.factf("  Replica:  %s, %s, %s%s", p.Name, state, seen, lag)
	}
}

// jszStream is the part of a stream in a server's /jsz answer used here.
type jszStream struct {
	Msgs    uint64 `json:"messages"`
	LastSeq uint64 `json:"last_seq"`
}

// jsz is the part of a server's /jsz answer used here.
type jsz struct {
	Meta *struct {
		Leader string `json:"leader"`
	} `json:"meta_cluster"`
	Accounts []struct {
		Name    string `json:"name"`
		Streams []struct {
			Name  string    `json:"name"`
			State jszStream `json:"state"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// getJsz asks one server's monitoring endpoint (no authentication on the
// HTTP monitor) about its own JetStream state.
func getJsz(ctx context.Context, monitorURL string) (*jsz, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(monitorURL, "/")+"/jsz?accounts=true&streams=true", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/jsz: %s", resp.Status)
	}
	var j jsz
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		return nil, fmt.Errorf("/jsz: %w", err)
	}
	return &j, nil
}

// streamOnServer is one server's own copy of a stream's state.
func streamOnServer(ctx context.Context, monitorURL, stream string) (jszStream, error) {
	j, err := getJsz(ctx, monitorURL)
	if err != nil {
		return jszStream{}, err
	}
	for _, a := range j.Accounts {
		for _, s := range a.Streams {
			if s.Name == stream {
				return s.State, nil
			}
		}
	}
	return jszStream{}, fmt.Errorf("/jsz does not list stream %s", stream)
}

// metaLeader is the JetStream meta leader (which places streams and
// consumers) as the running nodes see it, "" while there is none.
func (w *walkthrough) metaLeader(ctx context.Context) string {
	for _, n := range w.cluster.Nodes() {
		if !w.cluster.Running(n.Index) {
			continue
		}
		if j, err := getJsz(ctx, n.MonitorURL); err == nil && j.Meta != nil && j.Meta.Leader != "" {
			return j.Meta.Leader
		}
	}
	return ""
}

// payload is the seed's message body: nats pub foo "publication #{{Count}} @ {{TimeStamp}}".
func payload(n int) []byte {
	return fmt.Appendf(nil, "publication #%d @ %s", n, time.Now().Format(time.RFC3339))
}

func msgID(n int) string { return fmt.Sprintf("quickstart-%d", n) }

func leaderOf(si *jetstream.StreamInfo) string {
	if si == nil || si.Cluster == nil {
		return ""
	}
	return si.Cluster.Leader
}

// runs summarises who got what, in arrival order: "A 1-10, B 11-20, ...".
func runs(who []string, seqs []uint64, max int) string {
	var parts []string
	for i := 0; i < len(who) && len(parts) < max; {
		j := i
		for j+1 < len(who) && who[j+1] == who[i] && seqs[j+1] == seqs[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprintf("%s %d", who[i], seqs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%s %d-%d", who[i], seqs[i], seqs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ") + ", ..."
}

func limit(v int64) string {
	if v < 0 {
		return fmt.Sprintf("unlimited (%d)", v)
	}
	return fmt.Sprint(v)
}

func ageLimit(d time.Duration) string {
	if d == 0 {
		return "unlimited (0)"
	}
	return d.String()
}

// policyName spells a policy as `nats stream info` does: "AckExplicit" and
// "explicit" both become "Explicit".
func policyName(s, prefix string) string {
	s = strings.TrimPrefix(s, prefix)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func since(t time.Time) string {
	return time.Since(t).Round(10 * time.Millisecond).String()
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
