package jsassets

import (
	"reflect"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The policy names of this package and nats.go's values, both ways.
var (
	storages = map[string]jetstream.StorageType{
		FileStorage: jetstream.FileStorage, MemoryStorage: jetstream.MemoryStorage,
	}
	retentions = map[string]jetstream.RetentionPolicy{
		LimitsRetention: jetstream.LimitsPolicy, InterestRetention: jetstream.InterestPolicy, WorkQueueRetention: jetstream.WorkQueuePolicy,
	}
	discards = map[string]jetstream.DiscardPolicy{
		DiscardOld: jetstream.DiscardOld, DiscardNew: jetstream.DiscardNew,
	}
	delivers = map[string]jetstream.DeliverPolicy{
		DeliverAll: jetstream.DeliverAllPolicy, DeliverLast: jetstream.DeliverLastPolicy, DeliverNew: jetstream.DeliverNewPolicy,
		DeliverByStartSeq: jetstream.DeliverByStartSequencePolicy, DeliverLastPerSubject: jetstream.DeliverLastPerSubjectPolicy,
	}
	acks = map[string]jetstream.AckPolicy{
		AckExplicit: jetstream.AckExplicitPolicy, AckNone: jetstream.AckNonePolicy, AckAll: jetstream.AckAllPolicy,
	}
	replays = map[string]jetstream.ReplayPolicy{
		ReplayInstant: jetstream.ReplayInstantPolicy, ReplayOriginal: jetstream.ReplayOriginalPolicy,
	}
)

func nameOf[K comparable](m map[string]K, v K) string {
	for n, k := range m {
		if k == v {
			return n
		}
	}
	return "unknown"
}

// StreamConfig is the stream as nats.go's configuration, normalized.
func (s Stream) StreamConfig() jetstream.StreamConfig {
	n := s.Normalized()
	cfg := jetstream.StreamConfig{
		Name:              n.Name,
		Description:       n.Description,
		Subjects:          n.Subjects,
		Storage:           storages[n.Storage],
		Replicas:          n.Replicas,
		Retention:         retentions[n.Retention],
		Discard:           discards[n.Discard],
		MaxMsgs:           n.MaxMsgs,
		MaxBytes:          n.MaxBytes,
		MaxAge:            time.Duration(n.MaxAge),
		MaxMsgSize:        n.MaxMsgSize,
		MaxMsgsPerSubject: n.MaxMsgsPerSubject,
		MaxConsumers:      n.MaxConsumers,
		Duplicates:        time.Duration(n.Duplicates),
		DenyDelete:        n.DenyDelete,
		DenyPurge:         n.DenyPurge,
		AllowRollup:       n.AllowRollup,
		AllowDirect:       n.AllowDirect,
	}
	if n.Placement != nil {
		cfg.Placement = &jetstream.Placement{Cluster: n.Placement.Cluster, Tags: n.Placement.Tags}
	}
	if n.Mirror != nil {
		cfg.Mirror = n.Mirror.natsSource()
	}
	for _, src := range n.Sources {
		cfg.Sources = append(cfg.Sources, src.natsSource())
	}
	return cfg
}

func (s Source) natsSource() *jetstream.StreamSource {
	return &jetstream.StreamSource{Name: s.Name, FilterSubject: s.FilterSubject, OptStartSeq: s.OptStartSeq}
}

// StreamFrom is the declaration of a stream as the server reports it,
// normalized.
func StreamFrom(cfg jetstream.StreamConfig) Stream {
	s := Stream{
		Name:              cfg.Name,
		Description:       cfg.Description,
		Subjects:          cfg.Subjects,
		Storage:           nameOf(storages, cfg.Storage),
		Replicas:          cfg.Replicas,
		Retention:         nameOf(retentions, cfg.Retention),
		Discard:           nameOf(discards, cfg.Discard),
		MaxMsgs:           cfg.MaxMsgs,
		MaxBytes:          cfg.MaxBytes,
		MaxAge:            Duration(cfg.MaxAge),
		MaxMsgSize:        cfg.MaxMsgSize,
		MaxMsgsPerSubject: cfg.MaxMsgsPerSubject,
		MaxConsumers:      cfg.MaxConsumers,
		Duplicates:        Duration(cfg.Duplicates),
		DenyDelete:        cfg.DenyDelete,
		DenyPurge:         cfg.DenyPurge,
		AllowRollup:       cfg.AllowRollup,
		AllowDirect:       cfg.AllowDirect,
	}
	if cfg.Placement != nil {
		s.Placement = &Placement{Cluster: cfg.Placement.Cluster, Tags: cfg.Placement.Tags}
	}
	if cfg.Mirror != nil {
		m := sourceFrom(cfg.Mirror)
		s.Mirror = &m
	}
	for _, src := range cfg.Sources {
		if src != nil {
			s.Sources = append(s.Sources, sourceFrom(src))
		}
	}
	return s.Normalized()
}

func sourceFrom(src *jetstream.StreamSource) Source {
	return Source{Name: src.Name, FilterSubject: src.FilterSubject, OptStartSeq: src.OptStartSeq}
}

// ConsumerConfig is the consumer as nats.go's configuration, normalized.
func (c Consumer) ConsumerConfig() jetstream.ConsumerConfig {
	n := c.Normalized()
	cfg := jetstream.ConsumerConfig{
		Durable:       n.Name,
		Description:   n.Description,
		DeliverPolicy: delivers[n.DeliverPolicy],
		OptStartSeq:   n.OptStartSeq,
		AckPolicy:     acks[n.AckPolicy],
		AckWait:       time.Duration(n.AckWait),
		MaxDeliver:    n.MaxDeliver,
		ReplayPolicy:  replays[n.ReplayPolicy],
		MaxAckPending: n.MaxAckPending,
		MaxWaiting:    n.MaxWaiting,
		Replicas:      n.Replicas,
	}
	for _, b := range n.BackOff {
		cfg.BackOff = append(cfg.BackOff, time.Duration(b))
	}
	// The server keeps one filter as filter_subject.
	if len(n.FilterSubjects) == 1 {
		cfg.FilterSubject = n.FilterSubjects[0]
	} else {
		cfg.FilterSubjects = n.FilterSubjects
	}
	return cfg
}

// ConsumerFrom is the declaration of a consumer of stream as the server
// reports it, normalized.
func ConsumerFrom(stream string, cfg jetstream.ConsumerConfig) Consumer {
	c := Consumer{
		Stream:         stream,
		Name:           cfg.Durable,
		Description:    cfg.Description,
		DeliverPolicy:  nameOf(delivers, cfg.DeliverPolicy),
		OptStartSeq:    cfg.OptStartSeq,
		AckPolicy:      nameOf(acks, cfg.AckPolicy),
		AckWait:        Duration(cfg.AckWait),
		MaxDeliver:     cfg.MaxDeliver,
		FilterSubjects: cfg.FilterSubjects,
		ReplayPolicy:   nameOf(replays, cfg.ReplayPolicy),
		MaxAckPending:  cfg.MaxAckPending,
		MaxWaiting:     cfg.MaxWaiting,
		Replicas:       cfg.Replicas,
	}
	if c.Name == "" {
		c.Name = cfg.Name
	}
	if cfg.FilterSubject != "" {
		c.FilterSubjects = append([]string{cfg.FilterSubject}, c.FilterSubjects...)
	}
	for _, b := range cfg.BackOff {
		c.BackOff = append(c.BackOff, Duration(b))
	}
	return c.Normalized()
}

// jsonNames is the JSON names of the fields of v's struct type, in
// declaration order.
func jsonNames(v any) []string {
	t := reflect.TypeOf(v)
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}
