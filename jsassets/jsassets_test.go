package jsassets_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/localcluster"
	"github.com/natsnest/pulumi-natsnest/jsassets"
)

// One local cluster for the package's tests: each test uses streams of its
// own names.
var (
	clusterOnce sync.Once
	shared      *localcluster.Cluster
	sharedErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the local cluster:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func cluster(t *testing.T) *localcluster.Cluster {
	t.Helper()
	clusterOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		shared, sharedErr = localcluster.Start(ctx, localcluster.Options{Nodes: 3})
	})
	if sharedErr != nil {
		t.Fatalf("starting a local cluster: %v", sharedErr)
	}
	return shared
}

// connect is a JetStream client of the application account.
func connect(t *testing.T) jetstream.JetStream {
	t.Helper()
	c := cluster(t)
	nc, err := nats.Connect(c.ClientURL(), nats.UserInfo(c.App().User, c.App().Password))
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// walkthrough is the seed's assets under names of the test's own.
func walkthrough(t *testing.T, suffix string) jsassets.Assets {
	a := jsassets.Walkthrough()
	a.Streams[0].Name += suffix
	a.Streams[0].Subjects = []string{"foo" + suffix}
	a.Consumers[0].Stream = a.Streams[0].Name
	return a
}

func publish(t *testing.T, js jetstream.JetStream, subject string, n int) {
	t.Helper()
	for i := range n {
		if _, err := js.Publish(ctx(t), subject, []byte(fmt.Sprint(i))); err != nil {
			t.Fatalf("publishing message %d: %v", i, err)
		}
	}
}

func apply(t *testing.T, js jetstream.JetStream, a jsassets.Assets) []jsassets.Result {
	t.Helper()
	res, err := jsassets.Apply(ctx(t), js, a, false)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

func outcomes(res []jsassets.Result) string {
	var s []string
	for _, r := range res {
		s = append(s, fmt.Sprintf("%s %s: %s", r.Kind, r.Name, r.Outcome))
	}
	return strings.Join(s, "; ")
}

// The whole life of the seed's stream and consumer: create (the server
// stores exactly the seed's settings), no-op, update in place, drift found
// by read and restored, refused change that keeps the messages, delete.
func TestWalkthroughLifecycle(t *testing.T) {
	js := connect(t)
	a := walkthrough(t, "_life")
	name, cons := a.Streams[0].Name, a.Consumers[0].Name

	if got, want := outcomes(apply(t, js, a)), "stream my_stream_life: created; consumer my_stream_life > foo_consumer: created"; got != want {
		t.Fatalf("first apply: %s, want %s", got, want)
	}
	st, err := js.Stream(ctx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	// The seed's `nats stream info my_stream` answers, field by field.
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"subjects", strings.Join(cfg.Subjects, ","), "foo_life"},
		{"storage", cfg.Storage, jetstream.FileStorage},
		{"replicas", cfg.Replicas, 3},
		{"retention", cfg.Retention, jetstream.LimitsPolicy},
		{"discard", cfg.Discard, jetstream.DiscardOld},
		{"max_msgs", cfg.MaxMsgs, int64(-1)},
		{"max_bytes", cfg.MaxBytes, int64(-1)},
		{"max_msg_size", cfg.MaxMsgSize, int32(-1)},
		{"max_msgs_per_subject", cfg.MaxMsgsPerSubject, int64(-1)},
		{"max_age", cfg.MaxAge, time.Duration(0)},
		{"duplicate_window", cfg.Duplicates, 2 * time.Minute},
		{"max_consumers", cfg.MaxConsumers, -1},
		{"no_ack", cfg.NoAck, false},
		{"allow_rollup_hdrs", cfg.AllowRollup, false},
		{"deny_delete", cfg.DenyDelete, false},
		{"deny_purge", cfg.DenyPurge, false},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("stream %s: %s = %v, want %v", name, c.field, c.got, c.want)
		}
	}
	ci, err := js.Consumer(ctx(t), name, cons)
	if err != nil {
		t.Fatal(err)
	}
	cc := ci.CachedInfo().Config
	if cc.Durable != cons || cc.DeliverSubject != "" || cc.DeliverPolicy != jetstream.DeliverAllPolicy ||
		cc.AckPolicy != jetstream.AckExplicitPolicy || cc.ReplayPolicy != jetstream.ReplayInstantPolicy {
		t.Errorf("consumer %s: %+v, want a durable pull consumer, deliver all, explicit ack, instant replay", cons, cc)
	}

	// Read gives back the declaration: nothing to do.
	if got := outcomes(apply(t, js, a)); strings.Count(got, string(jsassets.Unchanged)) != 2 {
		t.Fatalf("second apply: %s, want both unchanged", got)
	}
	publish(t, js, "foo_life", 10)

	// A hand edit is drift: read reports it, apply restores the declaration.
	edited := cfg
	edited.MaxMsgs = 500
	if _, err := js.UpdateStream(ctx(t), edited); err != nil {
		t.Fatal(err)
	}
	read, err := jsassets.ReadStream(ctx(t), js, name)
	if err != nil {
		t.Fatal(err)
	}
	d := jsassets.DiffStreams(read, a.Streams[0])
	if got := strings.Join(d.Fields(), ","); got != "maxMsgs" || d[0].Old != "500" || d[0].New != "-1" || len(d.Refused()) != 0 {
		t.Fatalf("drift after a hand edit of max_msgs: %v, want maxMsgs 500 → -1, in place", d)
	}
	res := apply(t, js, a)
	if res[0].Outcome != jsassets.Updated {
		t.Fatalf("apply after the hand edit: %s, want the stream updated in place", outcomes(res))
	}
	if read, _ := jsassets.ReadStream(ctx(t), js, name); read.MaxMsgs != -1 {
		t.Fatalf("max_msgs after apply: %d, want -1", read.MaxMsgs)
	}

	// An in-place change of a declared setting.
	longer := walkthrough(t, "_life")
	longer.Streams[0].MaxAge = jsassets.Duration(time.Hour)
	longer.Consumers[0].MaxDeliver = 5
	if got := outcomes(apply(t, js, longer)); strings.Count(got, string(jsassets.Updated)) != 2 {
		t.Fatalf("apply of max age and max deliver: %s, want both updated in place", got)
	}

	// File to memory is refused, naming the stream and the setting, and the
	// stream keeps its messages.
	mem := longer
	mem.Streams = []jsassets.Stream{longer.Streams[0]}
	mem.Streams[0].Storage = jsassets.MemoryStorage
	_, err = jsassets.Apply(ctx(t), js, mem, false)
	var refused *jsassets.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("storage file → memory: %v, want a refusal", err)
	}
	for _, want := range []string{`stream "my_stream_life"`, "storage", `"file"`, `"memory"`, "allowReplace", "every message"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %s", err, want)
		}
	}
	st, err = js.Stream(ctx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 10 || info.Config.Storage != jetstream.FileStorage {
		t.Fatalf("after the refusal: %d messages on %v storage, want the 10 on file", info.State.Msgs, info.Config.Storage)
	}

	// Delete: consumer, then stream; deleting again is not an error.
	for range 2 {
		if err := jsassets.DeleteConsumer(ctx(t), js, name, cons); err != nil {
			t.Fatal(err)
		}
		if err := jsassets.DeleteStream(ctx(t), js, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := jsassets.ReadStream(ctx(t), js, name); !errors.Is(err, jsassets.ErrNotFound) {
		t.Fatalf("read after delete: %v, want not found", err)
	}
}

// Opting in replaces: the stream is deleted with its messages and made anew.
func TestAllowReplaceRecreates(t *testing.T) {
	js := connect(t)
	a := walkthrough(t, "_repl")
	apply(t, js, a)
	publish(t, js, "foo_repl", 3)
	s := a.Streams[0]
	s.Storage = jsassets.MemoryStorage
	r, err := jsassets.ApplyStream(ctx(t), js, s, true)
	if err != nil || r.Outcome != jsassets.Replaced {
		t.Fatalf("storage change with allowReplace: %v, %v; want replaced", r.Outcome, err)
	}
	got, err := jsassets.ReadStream(ctx(t), js, s.Name)
	if err != nil || got.Storage != jsassets.MemoryStorage {
		t.Fatalf("after replace: %+v, %v; want memory storage", got, err)
	}
	_ = jsassets.DeleteStream(ctx(t), js, s.Name)
}

// Bad input is rejected before anything reaches the server, every problem
// at once, each naming the field.
func TestBadInputNamesTheField(t *testing.T) {
	bad := jsassets.Assets{
		Streams: []jsassets.Stream{{
			Name: "bad.name", Subjects: []string{"foo bar", "a.>.b"}, Storage: "ssd", Replicas: 7,
			Retention: "forever", MaxMsgs: -5, Duplicates: jsassets.Duration(time.Hour), MaxAge: jsassets.Duration(time.Minute),
		}},
		Consumers: []jsassets.Consumer{{Stream: "", Name: "c1", AckPolicy: "sometimes", MaxDeliver: 2,
			BackOff: []jsassets.Duration{jsassets.Duration(time.Second), jsassets.Duration(2 * time.Second), jsassets.Duration(3 * time.Second)}}},
	}
	js := connect(t)
	_, err := jsassets.Apply(ctx(t), js, bad, false)
	if !errors.Is(err, jsassets.ErrInvalid) {
		t.Fatalf("apply of bad input: %v, want ErrInvalid", err)
	}
	for _, want := range []string{
		`stream bad.name.name: "bad.name" must not contain '.'`,
		`stream bad.name.subjects[0]: "foo bar" must not contain spaces`,
		`stream bad.name.subjects[1]: "a.>.b" may have '>' only as its last token`,
		`stream bad.name.storage: must be one of file, memory, not "ssd"`,
		`stream bad.name.replicas: must be 1 to 5`,
		`stream bad.name.retention: must be one of limits, interest, workqueue, not "forever"`,
		`stream bad.name.maxMsgs: must be 1 or more, or -1 (or 0) for no limit, not -5`,
		`stream bad.name.duplicates: must not be longer than maxAge (1m0s), not 1h0m0s`,
		`consumer "" > c1.stream: is required`,
		`consumer "" > c1.ackPolicy: must be one of explicit, none, all, not "sometimes"`,
		`consumer "" > c1.backOff: has 3 delays but maxDeliver is 2`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if _, err := js.Stream(ctx(t), "bad.name"); err == nil {
		t.Error("a stream of an invalid declaration exists")
	}
}
