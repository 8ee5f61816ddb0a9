// Package jsassets declares JetStream streams and consumers as plain Go
// values, and creates, reads, updates and deletes them on a NATS server.
//
// It is the one place that knows what a declaration means: natsnest's Pulumi
// resources (natsnest.NewStream, natsnest.NewConsumer) carry these values,
// the provider plugin pulumi-resource-natsnest applies them with this
// package, and `make demo` applies the very same values to a local cluster
// without Pulumi. It imports nothing beyond nats.go.
//
// Zero values mean what the server does when a setting is left out: no limit
// for the limits, one replica, file storage, limits retention, discard old, a
// two-minute duplicate window (or MaxAge, when shorter; none for a mirror or a
// stream with sources); for consumers deliver all, explicit ack (natsnest's
// default, as the nats CLI's: the server's own is none), instant replay. Normalized applies those defaults, so a
// declaration and what the server reports compare field by field.
package jsassets

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that travels as text ("2m0s"): Pulumi's
// numbers are float64, which cannot hold every nanosecond count of a year.
type Duration time.Duration

// MarshalJSON writes the duration as time.Duration's String form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string ("90s", "2m0s") or a number of
// nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration: want a string such as \"2m\", got %s", b)
	}
	*d = Duration(int64(n))
	return nil
}

func (d Duration) String() string { return time.Duration(d).String() }

// Storage types.
const (
	FileStorage   = "file"
	MemoryStorage = "memory"
)

// Retention policies.
const (
	LimitsRetention    = "limits"
	InterestRetention  = "interest"
	WorkQueueRetention = "workqueue"
)

// Discard policies.
const (
	DiscardOld = "old"
	DiscardNew = "new"
)

// Deliver policies.
const (
	DeliverAll            = "all"
	DeliverLast           = "last"
	DeliverNew            = "new"
	DeliverByStartSeq     = "by_start_sequence"
	DeliverLastPerSubject = "last_per_subject"
)

// Ack policies.
const (
	AckExplicit = "explicit"
	AckNone     = "none"
	AckAll      = "all"
)

// Replay policies.
const (
	ReplayInstant  = "instant"
	ReplayOriginal = "original"
)

// Stream declares a JetStream stream. Field names in JSON (and in Pulumi
// properties) are the lower camel case of the Go names.
type Stream struct {
	// Name of the stream; required. Changing it declares another stream.
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Subjects    []string `json:"subjects,omitempty"`
	// Storage is "file" (default) or "memory".
	Storage string `json:"storage,omitempty"`
	// Replicas is 1 (default) to 5.
	Replicas int `json:"replicas,omitempty"`
	// Retention is "limits" (default), "interest" or "workqueue".
	Retention string `json:"retention,omitempty"`
	// Discard is "old" (default) or "new".
	Discard string `json:"discard,omitempty"`
	// Limits: 0 or -1 is no limit.
	MaxMsgs           int64    `json:"maxMsgs,omitempty"`
	MaxBytes          int64    `json:"maxBytes,omitempty"`
	MaxAge            Duration `json:"maxAge,omitempty"`
	MaxMsgSize        int32    `json:"maxMsgSize,omitempty"`
	MaxMsgsPerSubject int64    `json:"maxMsgsPerSubject,omitempty"`
	MaxConsumers      int      `json:"maxConsumers,omitempty"`
	// Duplicates is the window in which a repeated Nats-Msg-Id is dropped;
	// 0 is the server's default (2m, or MaxAge when shorter; for a mirror or
	// a stream with sources, no window).
	Duplicates  Duration   `json:"duplicates,omitempty"`
	Placement   *Placement `json:"placement,omitempty"`
	Mirror      *Source    `json:"mirror,omitempty"`
	Sources     []Source   `json:"sources,omitempty"`
	DenyDelete  bool       `json:"denyDelete,omitempty"`
	DenyPurge   bool       `json:"denyPurge,omitempty"`
	AllowRollup bool       `json:"allowRollup,omitempty"`
	AllowDirect bool       `json:"allowDirect,omitempty"`
}

// Placement asks for the stream's replicas on a cluster or on servers with
// these tags.
type Placement struct {
	Cluster string   `json:"cluster,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

// Source is a stream a mirror or a sourcing stream copies from.
type Source struct {
	Name          string `json:"name"`
	FilterSubject string `json:"filterSubject,omitempty"`
	OptStartSeq   uint64 `json:"optStartSeq,omitempty"`
}

// Consumer declares a durable pull consumer of a stream.
type Consumer struct {
	// Stream is the stream's name; Name the consumer's durable name. Both
	// required; changing either declares another consumer.
	Stream      string `json:"stream"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// DeliverPolicy is "all" (default), "last", "new", "by_start_sequence"
	// (with OptStartSeq) or "last_per_subject".
	DeliverPolicy string `json:"deliverPolicy,omitempty"`
	OptStartSeq   uint64 `json:"optStartSeq,omitempty"`
	// AckPolicy is "explicit" (default), "none" or "all".
	AckPolicy string `json:"ackPolicy,omitempty"`
	// AckWait defaults to 30s.
	AckWait Duration `json:"ackWait,omitempty"`
	// MaxDeliver: 0 or -1 is no limit.
	MaxDeliver     int        `json:"maxDeliver,omitempty"`
	BackOff        []Duration `json:"backOff,omitempty"`
	FilterSubjects []string   `json:"filterSubjects,omitempty"`
	// ReplayPolicy is "instant" (default) or "original".
	ReplayPolicy string `json:"replayPolicy,omitempty"`
	// MaxAckPending defaults to 1000; -1 is no limit.
	MaxAckPending int `json:"maxAckPending,omitempty"`
	// MaxWaiting is the most pull requests waiting at once; defaults to 512.
	MaxWaiting int `json:"maxWaiting,omitempty"`
	// Replicas: 0 is the stream's.
	Replicas int `json:"replicas,omitempty"`
}

// Assets is a set of streams and the consumers of them, applied together
// (streams first).
type Assets struct {
	Streams   []Stream   `json:"streams,omitempty"`
	Consumers []Consumer `json:"consumers,omitempty"`
}

// The Pulumi type tokens of the stream and consumer resources, and the
// input that lets a refused change delete and recreate one: natsnest's SDK
// registers them and the pulumi-resource-natsnest plugin serves them, and
// this package is what both import.
const (
	StreamToken       = "natsnest:index:Stream"
	ConsumerToken     = "natsnest:index:Consumer"
	AllowReplaceInput = "allowReplace"
)
