package jsassets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// FieldChange is one setting that differs between two declarations.
type FieldChange struct {
	// Field is the setting's JSON (and Pulumi property) name.
	Field string
	// Old and New are the normalized values, as JSON.
	Old, New string
	// Refused is why the server refuses to change this setting in place
	// (applying it means deleting and recreating the asset), or "".
	Refused string
}

// Diff is every setting that differs, in field order.
type Diff []FieldChange

// Refused is the changes the server refuses to make in place.
func (d Diff) Refused() Diff {
	var r Diff
	for _, c := range d {
		if c.Refused != "" {
			r = append(r, c)
		}
	}
	return r
}

// Fields is the names of the changed settings.
func (d Diff) Fields() []string {
	f := make([]string, len(d))
	for i, c := range d {
		f[i] = c.Field
	}
	return f
}

func (d Diff) String() string {
	parts := make([]string, len(d))
	for i, c := range d {
		parts[i] = fmt.Sprintf("%s %s → %s", c.Field, c.Old, c.New)
	}
	return strings.Join(parts, ", ")
}

// streamRefusals says, per setting, when nats-server refuses to change it on
// an existing stream (server/stream.go, configUpdateCheckLocked, and for a
// clustered stream server/jetstream_cluster.go,
// jsClusteredStreamUpdateRequestLocked). A setting not
// here is changed in place. Each entry returns "" when this particular
// change is allowed.
var streamRefusals = map[string]func(o, n Stream) string{
	"name":    func(o, n Stream) string { return "another name is another stream" },
	"storage": func(o, n Stream) string { return "the server cannot change a stream's storage type" },
	"retention": func(o, n Stream) string {
		if o.Retention == WorkQueueRetention || n.Retention == WorkQueueRetention {
			return "the server cannot change retention to or from workqueue"
		}
		return ""
	},
	"mirror": func(o, n Stream) string {
		if n.Mirror != nil {
			return "the server cannot change what a stream mirrors, nor make a stream a mirror"
		}
		return ""
	},
	// A new placement is a move, and a clustered nats-server refuses to
	// move a stream and scale it (replicas) or change its retention in one
	// update: server/jetstream_cluster.go, jsClusteredStreamUpdateRequestLocked,
	// "Combining a move and a scale in a single update is not allowed"
	// (NewJSStreamMoveAndScaleError). Removing the placement is no move.
	"placement": func(o, n Stream) string {
		if n.Placement != nil && (o.Replicas != n.Replicas || o.Retention != n.Retention) {
			return "the server cannot move a stream (a new placement) and change its replicas or retention in the same update; apply them one after the other to keep the stream"
		}
		return ""
	},
	"denyDelete": func(o, n Stream) string {
		if o.DenyDelete && !n.DenyDelete {
			return "the server cannot allow message deletes again once denied"
		}
		return ""
	},
	"denyPurge": func(o, n Stream) string {
		if o.DenyPurge && !n.DenyPurge {
			return "the server cannot allow purges again once denied"
		}
		return ""
	},
}

// consumerRefusals is streamRefusals for consumers (server/consumer.go,
// checkNewConsumerConfig).
var consumerRefusals = map[string]func(o, n Consumer) string{
	"stream":        func(o, n Consumer) string { return "a consumer cannot move to another stream" },
	"name":          func(o, n Consumer) string { return "another name is another consumer" },
	"deliverPolicy": func(o, n Consumer) string { return "the server cannot change a consumer's deliver policy" },
	"optStartSeq":   func(o, n Consumer) string { return "the server cannot change a consumer's start sequence" },
	"ackPolicy":     func(o, n Consumer) string { return "the server cannot change a consumer's ack policy" },
	"replayPolicy":  func(o, n Consumer) string { return "the server cannot change a consumer's replay policy" },
	"maxWaiting":    func(o, n Consumer) string { return "the server cannot change a pull consumer's max waiting" },
}

// DiffStreams compares two declarations of a stream after normalizing both.
func DiffStreams(old, new Stream) Diff {
	o, n := old.Normalized(), new.Normalized()
	return diff(o, n, func(field string) string {
		if r := streamRefusals[field]; r != nil {
			return r(o, n)
		}
		return ""
	})
}

// DiffConsumers compares two declarations of a consumer after normalizing
// both.
func DiffConsumers(old, new Consumer) Diff {
	o, n := old.Normalized(), new.Normalized()
	return diff(o, n, func(field string) string {
		if r := consumerRefusals[field]; r != nil {
			return r(o, n)
		}
		return ""
	})
}

// diff compares two values field by field through their JSON form, so that
// every field is compared and named as users write it.
func diff(o, n any, refused func(field string) string) Diff {
	om, nm := fields(o), fields(n)
	var d Diff
	for _, k := range jsonNames(o) {
		ov, nv := om[k], nm[k]
		if bytes.Equal(ov, nv) {
			continue
		}
		d = append(d, FieldChange{Field: k, Old: show(ov), New: show(nv), Refused: refused(k)})
	}
	return d
}

func fields(v any) map[string]json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the types marshal by construction
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}

func show(raw json.RawMessage) string {
	if raw == nil {
		return "(unset)"
	}
	return string(raw)
}

// RefusedError is returned when applying a declaration needs a change the
// server refuses to make in place, and replacing was not allowed.
type RefusedError struct {
	Kind    string // "stream" or "consumer"
	Name    string // the stream's name, or "stream > consumer"
	Changes Diff
}

func (e *RefusedError) Error() string {
	var why []string
	for _, c := range e.Changes {
		why = append(why, fmt.Sprintf("%s cannot change from %s to %s in place (%s)", c.Field, c.Old, c.New, c.Refused))
	}
	loss := "every message in it"
	if e.Kind == "consumer" {
		loss = "its delivery and acknowledgement state"
	}
	return fmt.Sprintf("%s %q: %s: applying this would delete the %s and %s; set allowReplace on this %s to delete and recreate it",
		e.Kind, e.Name, strings.Join(why, "; "), e.Kind, loss, e.Kind)
}
