package jsassets

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotFound is wrapped when a stream or consumer does not exist.
var ErrNotFound = errors.New("not found")

// Outcome is what applying one declaration did.
type Outcome string

// Outcomes.
const (
	Created   Outcome = "created"
	Unchanged Outcome = "unchanged"
	Updated   Outcome = "updated in place"
	Replaced  Outcome = "deleted and recreated"
)

// Result is what Apply did to one stream or consumer.
type Result struct {
	Kind    string // "stream" or "consumer"
	Name    string // the stream's name, or "stream > consumer"
	Outcome Outcome
	Diff    Diff // what differed from the server, for Updated and Replaced
}

// ReadStream is the stream called name as the server has it, normalized.
// It wraps ErrNotFound when there is none.
func ReadStream(ctx context.Context, js jetstream.JetStream, name string) (Stream, error) {
	st, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return Stream{}, fmt.Errorf("stream %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Stream{}, fmt.Errorf("reading stream %q: %w", name, err)
	}
	return StreamFrom(st.CachedInfo().Config), nil
}

// ApplyStream makes the server's stream what s declares: it creates it,
// leaves it, or updates it in place. A change the server refuses in place
// returns a *RefusedError, unless allowReplace, which deletes the stream
// (and its messages) and creates it anew.
func ApplyStream(ctx context.Context, js jetstream.JetStream, s Stream, allowReplace bool) (Result, error) {
	r := Result{Kind: "stream", Name: s.Name}
	if err := s.Validate(); err != nil {
		return r, err
	}
	cur, err := ReadStream(ctx, js, s.Name)
	if errors.Is(err, ErrNotFound) {
		if err := createStream(ctx, js, s.StreamConfig()); err != nil {
			return r, fmt.Errorf("creating stream %q: %w", s.Name, err)
		}
		r.Outcome = Created
		return r, nil
	}
	if err != nil {
		return r, err
	}
	r.Diff = DiffStreams(cur, s)
	switch {
	case len(r.Diff) == 0:
		r.Outcome = Unchanged
	case len(r.Diff.Refused()) > 0:
		if !allowReplace {
			return r, &RefusedError{Kind: "stream", Name: s.Name, Changes: r.Diff.Refused()}
		}
		if err := DeleteStream(ctx, js, s.Name); err != nil {
			return r, err
		}
		if err := createStream(ctx, js, s.StreamConfig()); err != nil {
			return r, fmt.Errorf("creating stream %q again: %w", s.Name, err)
		}
		r.Outcome = Replaced
	default:
		if _, err := js.UpdateStream(ctx, s.StreamConfig()); err != nil {
			return r, fmt.Errorf("updating stream %q (%s): %w", s.Name, r.Diff, err)
		}
		r.Outcome = Updated
	}
	return r, nil
}

// How long creating a stream retries the cluster's "error creating store
// for stream", and how often.
const (
	storeRetryFor   = time.Minute
	storeRetryEvery = 250 * time.Millisecond
)

// createStream creates the stream. A node that deleted its last stream of
// an account removes the account's directories in the background
// (nats-server v2.15.2 server/stream.go, stream stop: "os.Remove(accDir)
// ... no op if not empty"; server/jetstream_cluster.go,
// processClusterDeleteStream), which races a stream being set up on that
// node: its mkdir fails, the node rejects the assignment ("error creating
// store for stream", JSStreamCreateErrF 10049, processClusterCreateStream)
// and the meta leader drops it (processStreamAssignmentResults). Deleting a
// stream to recreate it hits this, and so does any stream created while
// another is deleted. That answer is retried for a bounded time, while ctx
// allows; any other is returned.
func createStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	deadline := time.Now().Add(storeRetryFor)
	for {
		_, err := js.CreateStream(ctx, cfg)
		if err == nil || !storeFailed(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(storeRetryEvery):
		}
	}
}

// storeFailed says whether err is nats-server's answer that the node a
// stream was assigned to could not set up its store.
func storeFailed(err error) bool {
	var je jetstream.JetStreamError
	if !errors.As(err, &je) || je.APIError() == nil {
		return false
	}
	a := je.APIError()
	return a.ErrorCode == jsErrCodeStreamCreate && a.Description == "error creating store for stream"
}

// jsErrCodeStreamCreate is nats-server's JSStreamCreateErrF.
const jsErrCodeStreamCreate jetstream.ErrorCode = 10049

// DeleteStream deletes the stream and its messages; a stream that does not
// exist is already deleted.
func DeleteStream(ctx context.Context, js jetstream.JetStream, name string) error {
	err := js.DeleteStream(ctx, name)
	if err == nil || errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	return fmt.Errorf("deleting stream %q: %w", name, err)
}

// ReadConsumer is the consumer name of stream as the server has it,
// normalized. It wraps ErrNotFound when there is none (or no stream).
func ReadConsumer(ctx context.Context, js jetstream.JetStream, stream, name string) (Consumer, error) {
	c, err := js.Consumer(ctx, stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return Consumer{}, fmt.Errorf("consumer %q of stream %q: %w", name, stream, ErrNotFound)
	}
	if err != nil {
		return Consumer{}, fmt.Errorf("reading consumer %q of stream %q: %w", name, stream, err)
	}
	return ConsumerFrom(stream, c.CachedInfo().Config), nil
}

// ApplyConsumer is ApplyStream for a consumer. Replacing a consumer loses
// its delivery and acknowledgement state, never messages.
func ApplyConsumer(ctx context.Context, js jetstream.JetStream, c Consumer, allowReplace bool) (Result, error) {
	r := Result{Kind: "consumer", Name: c.Stream + " > " + c.Name}
	if err := c.Validate(); err != nil {
		return r, err
	}
	cur, err := ReadConsumer(ctx, js, c.Stream, c.Name)
	if errors.Is(err, ErrNotFound) {
		if _, err := js.CreateConsumer(ctx, c.Stream, c.ConsumerConfig()); err != nil {
			return r, fmt.Errorf("creating consumer %q of stream %q: %w", c.Name, c.Stream, err)
		}
		r.Outcome = Created
		return r, nil
	}
	if err != nil {
		return r, err
	}
	r.Diff = DiffConsumers(cur, c)
	switch {
	case len(r.Diff) == 0:
		r.Outcome = Unchanged
	case len(r.Diff.Refused()) > 0:
		if !allowReplace {
			return r, &RefusedError{Kind: "consumer", Name: r.Name, Changes: r.Diff.Refused()}
		}
		if err := DeleteConsumer(ctx, js, c.Stream, c.Name); err != nil {
			return r, err
		}
		if _, err := js.CreateConsumer(ctx, c.Stream, c.ConsumerConfig()); err != nil {
			return r, fmt.Errorf("creating consumer %q of stream %q again: %w", c.Name, c.Stream, err)
		}
		r.Outcome = Replaced
	default:
		if _, err := js.UpdateConsumer(ctx, c.Stream, c.ConsumerConfig()); err != nil {
			return r, fmt.Errorf("updating consumer %q of stream %q (%s): %w", c.Name, c.Stream, r.Diff, err)
		}
		r.Outcome = Updated
	}
	return r, nil
}

// DeleteConsumer deletes the consumer; one that does not exist (or whose
// stream does not) is already deleted.
func DeleteConsumer(ctx context.Context, js jetstream.JetStream, stream, name string) error {
	err := js.DeleteConsumer(ctx, stream, name)
	if err == nil || errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	return fmt.Errorf("deleting consumer %q of stream %q: %w", name, stream, err)
}

// Apply validates the whole set first (every problem at once), then applies
// the streams and then the consumers, in order. It stops at the first
// failure and returns what it did until then.
func Apply(ctx context.Context, js jetstream.JetStream, a Assets, allowReplace bool) ([]Result, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	var done []Result
	for _, s := range a.Streams {
		r, err := ApplyStream(ctx, js, s, allowReplace)
		if err != nil {
			return done, err
		}
		done = append(done, r)
	}
	for _, c := range a.Consumers {
		r, err := ApplyConsumer(ctx, js, c, allowReplace)
		if err != nil {
			return done, err
		}
		done = append(done, r)
	}
	return done, nil
}
