package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsnest/pulumi-natsnest/jsassets"
)

// walkthrough is the seed document's walkthrough against a deployed
// stack: my_stream on foo, 1000 messages, foo_consumer shared by two
// consumers, (with replicas) the stream leader's machine killed and 100
// more published, foo_consumer2 reading from sequence 1, the node back and
// current. kill cuts the power of the node named by its server_name and
// returns a function that boots it again.
type walkthrough struct {
	t        *testing.T
	servers  string
	user     string
	password string
	replicas int
	kill     func(node string) (restart func())
}

const (
	walkFirst  = 1000
	walkSecond = 100
)

func (w walkthrough) run(ctx context.Context) {
	t := w.t
	nc, err := nats.Connect(w.servers, nats.UserInfo(w.user, w.password), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatalf("walkthrough: connecting to %s as %s: %v", w.servers, w.user, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The seed's first step: JetStream answers for the account. Right
	// after the first up the meta leader may still be being elected (the
	// service steps wait for each server, not for a leader), and requests
	// go unanswered until then: each is bounded, and retried.
	began := time.Now()
	if err := eventually(time.Minute, func() error {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := js.AccountInfo(rctx)
		return err
	}); err != nil {
		t.Fatalf("walkthrough: JetStream account info: %v", err)
	}
	t.Logf("verified: JetStream answers for account APP (after %s)", time.Since(began).Round(10*time.Millisecond))
	decl := jsassets.Walkthrough()
	decl.Streams[0].Replicas = w.replicas
	if err := eventually(time.Minute, func() error {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := jsassets.Apply(rctx, js, decl, false)
		return err
	}); err != nil {
		t.Fatalf("walkthrough: creating my_stream (R%d) and foo_consumer: %v", w.replicas, err)
	}
	acked := publish(ctx, t, js, 1, walkFirst)
	t.Logf("verified: my_stream R%d on foo: %d messages published, %d acknowledged", w.replicas, walkFirst, acked)

	// foo_consumer, shared by two consumers pulling at once.
	got := shareConsumer(ctx, t, js, walkFirst)
	t.Logf("verified: foo_consumer shared by two consumers: %d and %d of %d messages, none twice", got[0], got[1], walkFirst)

	total := walkFirst
	var restart func()
	leader := ""
	if w.replicas > 1 && w.kill != nil {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := js.Stream(rctx, "my_stream")
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(rctx)
		cancel()
		if err != nil || info.Cluster == nil {
			t.Fatalf("walkthrough: stream info: %v", err)
		}
		leader = info.Cluster.Leader
		restart = w.kill(leader)
		t.Logf("step: the stream leader %s's machine lost its power", leader)
		publish(ctx, t, js, walkFirst+1, walkSecond)
		total += walkSecond
		t.Logf("verified: %d more messages acknowledged by the two remaining replicas", walkSecond)
	}

	// foo_consumer2 from sequence 1 reads everything.
	var c2 jetstream.Consumer
	if err := eventually(time.Minute, func() error {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var err error
		c2, err = js.CreateOrUpdateConsumer(rctx, "my_stream", jetstream.ConsumerConfig{Durable: "foo_consumer2",
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 1, AckPolicy: jetstream.AckExplicitPolicy})
		return err
	}); err != nil {
		t.Fatalf("creating foo_consumer2: %v", err)
	}
	seqs := fetch(ctx, t, c2, total)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("foo_consumer2 read sequence %d at position %d, want every sequence 1..%d in order", s, i+1, total)
		}
	}
	t.Logf("verified: foo_consumer2 from sequence 1 read all %d messages in order", total)

	if restart != nil {
		restart()
		err := eventually(3*time.Minute, func() error {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			st, err := js.Stream(rctx, "my_stream")
			if err != nil {
				return err
			}
			info, err := st.Info(rctx)
			if err != nil {
				return err
			}
			if info.Cluster == nil || len(info.Cluster.Replicas) != w.replicas-1 {
				return fmt.Errorf("replicas %+v", info.Cluster)
			}
			for _, r := range info.Cluster.Replicas {
				if !r.Current || r.Offline {
					return fmt.Errorf("replica %s not current", r.Name)
				}
			}
			if info.State.LastSeq != uint64(total) {
				return fmt.Errorf("last sequence %d", info.State.LastSeq)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walkthrough: %s back: %v", leader, err)
		}
		t.Logf("verified: %s back, every replica current at sequence %d", leader, total)
	}
}

func publish(ctx context.Context, t *testing.T, js jetstream.JetStream, from, n int) int {
	t.Helper()
	acked := 0
	for i := from; i < from+n; i++ {
		err := eventually(30*time.Second, func() error {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := js.Publish(pctx, "foo", []byte(fmt.Sprint(i)), jetstream.WithMsgID(fmt.Sprintf("walk-%d", i)))
			return err
		})
		if err != nil {
			t.Fatalf("publishing message %d: %v", i, err)
		}
		acked++
	}
	return acked
}

// shareConsumer pulls foo_consumer from two consumers at once until every
// message is acknowledged, and returns how many each got.
func shareConsumer(ctx context.Context, t *testing.T, js jetstream.JetStream, want int) [2]int {
	t.Helper()
	var mu sync.Mutex
	seen := map[uint64]int{}
	var got [2]int
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			c, err := js.Consumer(cctx, "my_stream", "foo_consumer")
			cancel()
			if err != nil {
				t.Error(err)
				return
			}
			deadline := time.Now().Add(2 * time.Minute)
			for time.Now().Before(deadline) {
				mu.Lock()
				done := len(seen) >= want
				mu.Unlock()
				if done {
					return
				}
				batch, err := c.Fetch(10, jetstream.FetchMaxWait(time.Second))
				if err != nil {
					continue
				}
				for m := range batch.Messages() {
					md, _ := m.Metadata()
					mu.Lock()
					seen[md.Sequence.Stream]++
					got[i]++
					mu.Unlock()
					time.Sleep(time.Millisecond) // work, so both get a share
					_ = m.Ack()
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != want {
		t.Fatalf("foo_consumer delivered %d distinct messages, want %d", len(seen), want)
	}
	for s, n := range seen {
		if n > 1 {
			t.Fatalf("foo_consumer delivered sequence %d %d times", s, n)
		}
	}
	if got[0] == 0 || got[1] == 0 {
		t.Fatalf("foo_consumer's messages went to one consumer only: %v", got)
	}
	return got
}

func fetch(ctx context.Context, t *testing.T, c jetstream.Consumer, want int) []uint64 {
	t.Helper()
	var seqs []uint64
	deadline := time.Now().Add(2 * time.Minute)
	for len(seqs) < want && time.Now().Before(deadline) {
		batch, err := c.Fetch(100, jetstream.FetchMaxWait(2*time.Second))
		if err != nil && !errors.Is(err, nats.ErrTimeout) {
			continue
		}
		for m := range batch.Messages() {
			md, _ := m.Metadata()
			if !slices.Contains(seqs, md.Sequence.Stream) {
				seqs = append(seqs, md.Sequence.Stream)
			}
			_ = m.Ack()
		}
	}
	if len(seqs) != want {
		t.Fatalf("read %d messages, want %d", len(seqs), want)
	}
	return seqs
}
