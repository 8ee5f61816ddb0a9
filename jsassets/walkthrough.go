package jsassets

import "time"

// Walkthrough is the stream and consumer of Compute Nest's NATS walkthrough,
// exactly as its `nats stream add` and `nats consumer add` answers make
// them: my_stream on subject foo (file storage, 3 replicas, limits
// retention, discard old, no limits, a 2m duplicate window) and foo_consumer
// (durable pull, deliver all, explicit ack, instant replay).
//
// `make demo` applies this value to a local cluster; a stack program
// declares the same value with natsnest.NewAssets.
func Walkthrough() Assets {
	return Assets{
		Streams: []Stream{{
			Name:              "my_stream",
			Subjects:          []string{"foo"},
			Storage:           FileStorage,
			Replicas:          3,
			Retention:         LimitsRetention,
			Discard:           DiscardOld,
			MaxMsgs:           -1,
			MaxBytes:          -1,
			MaxMsgSize:        -1,
			MaxMsgsPerSubject: -1,
			Duplicates:        Duration(2 * time.Minute),
		}},
		Consumers: []Consumer{{
			Stream:        "my_stream",
			Name:          "foo_consumer",
			DeliverPolicy: DeliverAll,
			AckPolicy:     AckExplicit,
			ReplayPolicy:  ReplayInstant,
		}},
	}
}
