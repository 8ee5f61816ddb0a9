package jsassets

import (
	"slices"
	"time"
)

// Defaults the server applies to what a declaration leaves out (nats-server's
// setStreamConfigDefaults and setConsumerConfigDefaults).
const (
	defaultDuplicates    = Duration(2 * time.Minute)
	defaultAckWait       = Duration(30 * time.Second)
	defaultMaxAckPending = 1000
	defaultMaxWaiting    = 512
	noLimit              = -1
)

// Normalized returns the stream as the server stores it: every default
// applied, every "no limit" spelled -1, lists sorted where order means
// nothing. Two declarations are the same stream exactly when their
// normalized forms are equal.
func (s Stream) Normalized() Stream {
	n := s
	n.Subjects = slices.Clone(s.Subjects)
	n.Sources = slices.Clone(s.Sources)
	if n.Storage == "" {
		n.Storage = FileStorage
	}
	if n.Replicas == 0 {
		n.Replicas = 1
	}
	if n.Retention == "" {
		n.Retention = LimitsRetention
	}
	if n.Discard == "" {
		n.Discard = DiscardOld
	}
	unlimited(&n.MaxMsgs)
	unlimited(&n.MaxBytes)
	unlimited(&n.MaxMsgsPerSubject)
	unlimited(&n.MaxMsgSize)
	unlimited(&n.MaxConsumers)
	if n.MaxAge < 0 {
		n.MaxAge = 0
	}
	// The server fills in a duplicate window only for a stream of its own
	// messages: a mirror, or a stream with sources, that leaves it out keeps
	// 0, no window (server/stream.go, checkStreamCfgLocked: the default is
	// applied when "cfg.Duplicates == 0 && cfg.Mirror == nil &&
	// len(cfg.Sources) == 0").
	if n.Duplicates == 0 && n.Mirror == nil && len(n.Sources) == 0 {
		n.Duplicates = defaultDuplicates
		if n.MaxAge > 0 && n.MaxAge < n.Duplicates {
			n.Duplicates = n.MaxAge
		}
	}
	if len(n.Subjects) == 0 && n.Mirror == nil && len(n.Sources) == 0 {
		n.Subjects = []string{n.Name}
	}
	slices.Sort(n.Subjects)
	if n.Placement != nil {
		p := *n.Placement
		p.Tags = slices.Clone(p.Tags)
		slices.Sort(p.Tags)
		if p.Cluster == "" && len(p.Tags) == 0 {
			n.Placement = nil
		} else {
			n.Placement = &p
		}
	}
	if n.Mirror != nil {
		m := *n.Mirror
		n.Mirror = &m
	}
	slices.SortFunc(n.Sources, func(a, b Source) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		if a.FilterSubject < b.FilterSubject {
			return -1
		}
		if a.FilterSubject > b.FilterSubject {
			return 1
		}
		return 0
	})
	if len(n.Subjects) == 0 {
		n.Subjects = nil
	}
	if len(n.Sources) == 0 {
		n.Sources = nil
	}
	return n
}

// Normalized returns the consumer as the server stores it (see
// Stream.Normalized).
func (c Consumer) Normalized() Consumer {
	n := c
	n.FilterSubjects = slices.Clone(c.FilterSubjects)
	n.BackOff = slices.Clone(c.BackOff)
	if n.DeliverPolicy == "" {
		n.DeliverPolicy = DeliverAll
	}
	if n.AckPolicy == "" {
		n.AckPolicy = AckExplicit
	}
	if n.ReplayPolicy == "" {
		n.ReplayPolicy = ReplayInstant
	}
	if n.MaxDeliver == 0 || n.MaxDeliver < noLimit {
		n.MaxDeliver = noLimit
	}
	if n.MaxWaiting <= 0 {
		n.MaxWaiting = defaultMaxWaiting
	}
	if n.AckWait == 0 && n.AckPolicy != AckNone {
		n.AckWait = defaultAckWait
	}
	if len(n.BackOff) > 0 {
		n.AckWait = n.BackOff[0]
	}
	if n.MaxAckPending < noLimit {
		n.MaxAckPending = noLimit
	}
	if n.MaxAckPending == 0 && n.AckPolicy != AckNone {
		n.MaxAckPending = defaultMaxAckPending
	}
	slices.Sort(n.FilterSubjects)
	if len(n.FilterSubjects) == 0 {
		n.FilterSubjects = nil
	}
	if len(n.BackOff) == 0 {
		n.BackOff = nil
	}
	return n
}

func unlimited[T int | int32 | int64](v *T) {
	if *v <= 0 {
		*v = noLimit
	}
}
