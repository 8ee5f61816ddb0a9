package jsassets_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsnest/pulumi-natsnest/jsassets"
)

// The classes of a change: the server makes it on the existing asset, or
// refuses it (applying it means deleting and recreating the asset).
const (
	inPlace = "in place"
	refused = "refused"
)

// settle bounds how long a read-back may take to show an accepted change:
// scaling and moving a stream go through the meta layer and the stream's
// peers before every server reports the same configuration.
const settle = 30 * time.Second

// streamRow classifies one change of a stream declaration.
type streamRow struct {
	what string
	// base is the declaration the server is given first; n is the row's
	// stream name ("cls_sNN"), its origins (for mirrors and sources) are
	// n+"_o1" and n+"_o2", each on subjects "<name>.>".
	base func(n string) jsassets.Stream
	// change edits a fresh copy of base(n).
	change func(n string, s *jsassets.Stream)
	// fields are the settings this row classifies: the diff names each of
	// them with class.
	fields []string
	class  string
	// also are other settings the same change moves, each in place (a
	// stream that stops being a mirror gets its default subject).
	also []string
	// origins is how many origin streams to create first.
	origins int
	// diffOnly, when set, says why the server is not asked.
	diffOnly string
}

// consumerRow classifies one change of a consumer declaration.
type consumerRow struct {
	what string
	// stream is the stream the consumer lives on (nil: one replica on
	// subjects "n.>"); n is the row's stream name ("cls_cNN").
	stream   func(n string) jsassets.Stream
	base     func(n string) jsassets.Consumer
	change   func(c *jsassets.Consumer)
	fields   []string
	class    string
	also     []string
	diffOnly string
}

func dur(d time.Duration) jsassets.Duration { return jsassets.Duration(d) }

// plain is a one-replica stream on subjects "n.>".
func plain(n string) jsassets.Stream {
	return jsassets.Stream{Name: n, Subjects: []string{n + ".>"}}
}

// streamWith is plain(n) edited by f.
func streamWith(f func(n string, s *jsassets.Stream)) func(n string) jsassets.Stream {
	return func(n string) jsassets.Stream {
		s := plain(n)
		f(n, &s)
		return s
	}
}

// mirrorOf is a stream that mirrors origin.
func mirrorOf(origin string) func(n string) jsassets.Stream {
	return func(n string) jsassets.Stream {
		return jsassets.Stream{Name: n, Mirror: &jsassets.Source{Name: n + origin}}
	}
}

func o1(n string) string { return n + "_o1" }
func o2(n string) string { return n + "_o2" }

func streamRows() []streamRow {
	const identity = "a new name is another stream: the diff alone decides, nothing is updated on the server"
	return []streamRow{
		{what: "name: another name", base: plain,
			change: func(n string, s *jsassets.Stream) { s.Name = n + "_other" },
			fields: []string{"name"}, class: refused, diffOnly: identity},

		{what: "description: set", base: plain,
			change: func(n string, s *jsassets.Stream) { s.Description = "orders" },
			fields: []string{"description"}, class: inPlace},
		{what: "description: changed", base: streamWith(func(n string, s *jsassets.Stream) { s.Description = "orders" }),
			change: func(n string, s *jsassets.Stream) { s.Description = "all orders" },
			fields: []string{"description"}, class: inPlace},
		{what: "description: removed", base: streamWith(func(n string, s *jsassets.Stream) { s.Description = "orders" }),
			change: func(n string, s *jsassets.Stream) { s.Description = "" },
			fields: []string{"description"}, class: inPlace},

		{what: "subjects: one more", base: plain,
			change: func(n string, s *jsassets.Stream) { s.Subjects = append(s.Subjects, n+"_b.>") },
			fields: []string{"subjects"}, class: inPlace},
		{what: "subjects: replaced", base: plain,
			change: func(n string, s *jsassets.Stream) { s.Subjects = []string{n + "_b.*"} },
			fields: []string{"subjects"}, class: inPlace},
		{what: "subjects: left out, the default is the stream's name", base: plain,
			change: func(n string, s *jsassets.Stream) { s.Subjects = nil },
			fields: []string{"subjects"}, class: inPlace},

		{what: "storage: file to memory", base: plain,
			change: func(n string, s *jsassets.Stream) { s.Storage = jsassets.MemoryStorage },
			fields: []string{"storage"}, class: refused},
		{what: "storage: memory to file", base: streamWith(func(n string, s *jsassets.Stream) { s.Storage = jsassets.MemoryStorage }),
			change: func(n string, s *jsassets.Stream) { s.Storage = jsassets.FileStorage },
			fields: []string{"storage"}, class: refused},

		{what: "replicas: 1 to 3", base: plain,
			change: func(n string, s *jsassets.Stream) { s.Replicas = 3 },
			fields: []string{"replicas"}, class: inPlace},
		{what: "replicas: 3 to 1", base: streamWith(func(n string, s *jsassets.Stream) { s.Replicas = 3 }),
			change: func(n string, s *jsassets.Stream) { s.Replicas = 1 },
			fields: []string{"replicas"}, class: inPlace},

		{what: "retention: limits to interest", base: plain,
			change: func(n string, s *jsassets.Stream) { s.Retention = jsassets.InterestRetention },
			fields: []string{"retention"}, class: inPlace},
		{what: "retention: interest to limits", base: streamWith(func(n string, s *jsassets.Stream) { s.Retention = jsassets.InterestRetention }),
			change: func(n string, s *jsassets.Stream) { s.Retention = jsassets.LimitsRetention },
			fields: []string{"retention"}, class: inPlace},
		{what: "retention: limits to workqueue", base: plain,
			change: func(n string, s *jsassets.Stream) { s.Retention = jsassets.WorkQueueRetention },
			fields: []string{"retention"}, class: refused},
		{what: "retention: workqueue to limits", base: streamWith(func(n string, s *jsassets.Stream) { s.Retention = jsassets.WorkQueueRetention }),
			change: func(n string, s *jsassets.Stream) { s.Retention = jsassets.LimitsRetention },
			fields: []string{"retention"}, class: refused},
		{what: "retention: interest to workqueue", base: streamWith(func(n string, s *jsassets.Stream) { s.Retention = jsassets.InterestRetention }),
			change: func(n string, s *jsassets.Stream) { s.Retention = jsassets.WorkQueueRetention },
			fields: []string{"retention"}, class: refused},
		{what: "retention: workqueue to interest", base: streamWith(func(n string, s *jsassets.Stream) { s.Retention = jsassets.WorkQueueRetention }),
			change: func(n string, s *jsassets.Stream) { s.Retention = jsassets.InterestRetention },
			fields: []string{"retention"}, class: refused},

		{what: "discard: old to new", base: plain,
			change: func(n string, s *jsassets.Stream) { s.Discard = jsassets.DiscardNew },
			fields: []string{"discard"}, class: inPlace},
		{what: "discard: new to old", base: streamWith(func(n string, s *jsassets.Stream) { s.Discard = jsassets.DiscardNew }),
			change: func(n string, s *jsassets.Stream) { s.Discard = jsassets.DiscardOld },
			fields: []string{"discard"}, class: inPlace},

		{what: "maxMsgs: set", base: plain,
			change: func(n string, s *jsassets.Stream) { s.MaxMsgs = 100 },
			fields: []string{"maxMsgs"}, class: inPlace},
		{what: "maxMsgs: lifted", base: streamWith(func(n string, s *jsassets.Stream) { s.MaxMsgs = 100 }),
			change: func(n string, s *jsassets.Stream) { s.MaxMsgs = 0 },
			fields: []string{"maxMsgs"}, class: inPlace},
		{what: "maxBytes: set", base: plain,
			change: func(n string, s *jsassets.Stream) { s.MaxBytes = 1 << 20 },
			fields: []string{"maxBytes"}, class: inPlace},
		{what: "maxBytes: lifted", base: streamWith(func(n string, s *jsassets.Stream) { s.MaxBytes = 1 << 20 }),
			change: func(n string, s *jsassets.Stream) { s.MaxBytes = -1 },
			fields: []string{"maxBytes"}, class: inPlace},
		{what: "maxAge: set, longer than the duplicate window", base: plain,
			change: func(n string, s *jsassets.Stream) { s.MaxAge = dur(time.Hour) },
			fields: []string{"maxAge"}, class: inPlace},
		{what: "maxAge: set, shorter than the default duplicate window", base: plain,
			change: func(n string, s *jsassets.Stream) { s.MaxAge = dur(time.Minute) },
			fields: []string{"maxAge"}, class: inPlace, also: []string{"duplicates"}},
		{what: "maxAge: lifted", base: streamWith(func(n string, s *jsassets.Stream) { s.MaxAge = dur(time.Hour) }),
			change: func(n string, s *jsassets.Stream) { s.MaxAge = 0 },
			fields: []string{"maxAge"}, class: inPlace},
		{what: "maxMsgSize: set", base: plain,
			change: func(n string, s *jsassets.Stream) { s.MaxMsgSize = 1024 },
			fields: []string{"maxMsgSize"}, class: inPlace},
		{what: "maxMsgSize: lifted", base: streamWith(func(n string, s *jsassets.Stream) { s.MaxMsgSize = 1024 }),
			change: func(n string, s *jsassets.Stream) { s.MaxMsgSize = 0 },
			fields: []string{"maxMsgSize"}, class: inPlace},
		{what: "maxMsgsPerSubject: set", base: plain,
			change: func(n string, s *jsassets.Stream) { s.MaxMsgsPerSubject = 10 },
			fields: []string{"maxMsgsPerSubject"}, class: inPlace},
		{what: "maxMsgsPerSubject: lifted", base: streamWith(func(n string, s *jsassets.Stream) { s.MaxMsgsPerSubject = 10 }),
			change: func(n string, s *jsassets.Stream) { s.MaxMsgsPerSubject = -1 },
			fields: []string{"maxMsgsPerSubject"}, class: inPlace},
		{what: "maxConsumers: set", base: plain,
			change: func(n string, s *jsassets.Stream) { s.MaxConsumers = 5 },
			fields: []string{"maxConsumers"}, class: inPlace},
		{what: "maxConsumers: raised", base: streamWith(func(n string, s *jsassets.Stream) { s.MaxConsumers = 5 }),
			change: func(n string, s *jsassets.Stream) { s.MaxConsumers = 10 },
			fields: []string{"maxConsumers"}, class: inPlace},
		{what: "maxConsumers: lifted", base: streamWith(func(n string, s *jsassets.Stream) { s.MaxConsumers = 5 }),
			change: func(n string, s *jsassets.Stream) { s.MaxConsumers = 0 },
			fields: []string{"maxConsumers"}, class: inPlace},

		{what: "duplicates: shorter", base: plain,
			change: func(n string, s *jsassets.Stream) { s.Duplicates = dur(30 * time.Second) },
			fields: []string{"duplicates"}, class: inPlace},
		{what: "duplicates: back to the default", base: streamWith(func(n string, s *jsassets.Stream) { s.Duplicates = dur(30 * time.Second) }),
			change: func(n string, s *jsassets.Stream) { s.Duplicates = 0 },
			fields: []string{"duplicates"}, class: inPlace},

		{what: "duplicates: a window on a stream with sources (none by default)", origins: 1,
			base:   streamWith(func(n string, s *jsassets.Stream) { s.Sources = []jsassets.Source{{Name: o1(n)}} }),
			change: func(n string, s *jsassets.Stream) { s.Duplicates = dur(2 * time.Minute) },
			fields: []string{"duplicates"}, class: inPlace},

		{what: "placement: a cluster where there was none", base: plain,
			change: func(n string, s *jsassets.Stream) { s.Placement = &jsassets.Placement{Cluster: "C1"} },
			fields: []string{"placement"}, class: inPlace},
		{what: "placement: other tags (a move)",
			base: streamWith(func(n string, s *jsassets.Stream) {
				s.Placement = &jsassets.Placement{Tags: []string{"az:local-0"}}
			}),
			change: func(n string, s *jsassets.Stream) { s.Placement = &jsassets.Placement{Tags: []string{"az:local-1"}} },
			fields: []string{"placement"}, class: inPlace},
		{what: "placement: removed", base: streamWith(func(n string, s *jsassets.Stream) { s.Placement = &jsassets.Placement{Cluster: "C1"} }),
			change: func(n string, s *jsassets.Stream) { s.Placement = nil },
			fields: []string{"placement"}, class: inPlace},
		{what: "placement: a move together with replicas 1 to 3", base: plain,
			change: func(n string, s *jsassets.Stream) {
				s.Placement = &jsassets.Placement{Cluster: "C1"}
				s.Replicas = 3
			},
			fields: []string{"placement"}, class: refused, also: []string{"replicas"}},
		{what: "placement: a move together with retention limits to interest", base: plain,
			change: func(n string, s *jsassets.Stream) {
				s.Placement = &jsassets.Placement{Tags: []string{"az:local-2"}}
				s.Retention = jsassets.InterestRetention
			},
			fields: []string{"placement"}, class: refused, also: []string{"retention"}},
		{what: "placement: removed together with replicas 1 to 3 (not a move)",
			base: streamWith(func(n string, s *jsassets.Stream) { s.Placement = &jsassets.Placement{Cluster: "C1"} }),
			change: func(n string, s *jsassets.Stream) {
				s.Placement = nil
				s.Replicas = 3
			},
			fields: []string{"placement", "replicas"}, class: inPlace},

		{what: "mirror: a stream becomes a mirror", base: plain, origins: 1,
			change: func(n string, s *jsassets.Stream) {
				s.Subjects = nil
				s.Mirror = &jsassets.Source{Name: o1(n)}
			},
			fields: []string{"mirror"}, class: refused, also: []string{"subjects", "duplicates"}},
		{what: "mirror: another origin", base: mirrorOf("_o1"), origins: 2,
			change: func(n string, s *jsassets.Stream) { s.Mirror = &jsassets.Source{Name: o2(n)} },
			fields: []string{"mirror"}, class: refused},
		{what: "mirror: a filter subject", base: mirrorOf("_o1"), origins: 1,
			change: func(n string, s *jsassets.Stream) {
				s.Mirror = &jsassets.Source{Name: o1(n), FilterSubject: o1(n) + ".a"}
			},
			fields: []string{"mirror"}, class: refused},
		{what: "mirror: a start sequence", base: mirrorOf("_o1"), origins: 1,
			change: func(n string, s *jsassets.Stream) { s.Mirror = &jsassets.Source{Name: o1(n), OptStartSeq: 5} },
			fields: []string{"mirror"}, class: refused},
		{what: "mirror: removed (promoted to a stream of its own name)", base: mirrorOf("_o1"), origins: 1,
			change: func(n string, s *jsassets.Stream) { s.Mirror = nil },
			fields: []string{"mirror"}, class: inPlace, also: []string{"subjects", "duplicates"}},
		{what: "mirror: unchanged while the mirror's description changes", base: mirrorOf("_o1"), origins: 1,
			change: func(n string, s *jsassets.Stream) { s.Description = "a copy" },
			fields: []string{"description"}, class: inPlace},

		{what: "sources: the first", base: plain, origins: 1,
			change: func(n string, s *jsassets.Stream) { s.Sources = []jsassets.Source{{Name: o1(n)}} },
			fields: []string{"sources"}, class: inPlace, also: []string{"duplicates"}},
		{what: "sources: the first, the duplicate window declared", origins: 1,
			base:   streamWith(func(n string, s *jsassets.Stream) { s.Duplicates = dur(2 * time.Minute) }),
			change: func(n string, s *jsassets.Stream) { s.Sources = []jsassets.Source{{Name: o1(n)}} },
			fields: []string{"sources"}, class: inPlace},
		{what: "sources: one more", origins: 2,
			base:   streamWith(func(n string, s *jsassets.Stream) { s.Sources = []jsassets.Source{{Name: o1(n)}} }),
			change: func(n string, s *jsassets.Stream) { s.Sources = append(s.Sources, jsassets.Source{Name: o2(n)}) },
			fields: []string{"sources"}, class: inPlace},
		{what: "sources: one removed", origins: 2,
			base: streamWith(func(n string, s *jsassets.Stream) {
				s.Sources = []jsassets.Source{{Name: o1(n)}, {Name: o2(n)}}
			}),
			change: func(n string, s *jsassets.Stream) { s.Sources = s.Sources[1:] },
			fields: []string{"sources"}, class: inPlace},
		{what: "sources: a filter subject", origins: 1,
			base: streamWith(func(n string, s *jsassets.Stream) { s.Sources = []jsassets.Source{{Name: o1(n)}} }),
			change: func(n string, s *jsassets.Stream) {
				s.Sources = []jsassets.Source{{Name: o1(n), FilterSubject: o1(n) + ".a"}}
			},
			fields: []string{"sources"}, class: inPlace},
		{what: "sources: the only one removed from a stream without subjects of its own", origins: 1,
			base: func(n string) jsassets.Stream {
				return jsassets.Stream{Name: n, Sources: []jsassets.Source{{Name: o1(n)}}}
			},
			change: func(n string, s *jsassets.Stream) { s.Sources = nil },
			fields: []string{"sources"}, class: inPlace, also: []string{"subjects", "duplicates"}},

		{what: "denyDelete: false to true", base: plain,
			change: func(n string, s *jsassets.Stream) { s.DenyDelete = true },
			fields: []string{"denyDelete"}, class: inPlace},
		{what: "denyDelete: true to false", base: streamWith(func(n string, s *jsassets.Stream) { s.DenyDelete = true }),
			change: func(n string, s *jsassets.Stream) { s.DenyDelete = false },
			fields: []string{"denyDelete"}, class: refused},
		{what: "denyPurge: false to true", base: plain,
			change: func(n string, s *jsassets.Stream) { s.DenyPurge = true },
			fields: []string{"denyPurge"}, class: inPlace},
		{what: "denyPurge: true to false", base: streamWith(func(n string, s *jsassets.Stream) { s.DenyPurge = true }),
			change: func(n string, s *jsassets.Stream) { s.DenyPurge = false },
			fields: []string{"denyPurge"}, class: refused},
		{what: "allowRollup: false to true", base: plain,
			change: func(n string, s *jsassets.Stream) { s.AllowRollup = true },
			fields: []string{"allowRollup"}, class: inPlace},
		{what: "allowRollup: true to false", base: streamWith(func(n string, s *jsassets.Stream) { s.AllowRollup = true }),
			change: func(n string, s *jsassets.Stream) { s.AllowRollup = false },
			fields: []string{"allowRollup"}, class: inPlace},
		{what: "allowDirect: false to true", base: plain,
			change: func(n string, s *jsassets.Stream) { s.AllowDirect = true },
			fields: []string{"allowDirect"}, class: inPlace},
		{what: "allowDirect: true to false", base: streamWith(func(n string, s *jsassets.Stream) { s.AllowDirect = true }),
			change: func(n string, s *jsassets.Stream) { s.AllowDirect = false },
			fields: []string{"allowDirect"}, class: inPlace},
	}
}

// pull is a durable pull consumer "c" of stream n with every default.
func pull(n string) jsassets.Consumer { return jsassets.Consumer{Stream: n, Name: "c"} }

func consumerWith(f func(c *jsassets.Consumer)) func(n string) jsassets.Consumer {
	return func(n string) jsassets.Consumer {
		c := pull(n)
		f(&c)
		return c
	}
}

func threeReplicas(n string) jsassets.Stream {
	s := plain(n)
	s.Replicas = 3
	return s
}

func consumerRows() []consumerRow {
	return []consumerRow{
		{what: "stream: another stream", base: pull,
			change: func(c *jsassets.Consumer) { c.Stream += "_other" },
			fields: []string{"stream"}, class: refused,
			diffOnly: "a consumer of another stream is another consumer: the diff alone decides, nothing is updated on the server"},
		{what: "name: another name", base: pull,
			change: func(c *jsassets.Consumer) { c.Name = "d" },
			fields: []string{"name"}, class: refused,
			diffOnly: "a new name is another consumer: the diff alone decides, nothing is updated on the server"},

		{what: "description: set", base: pull,
			change: func(c *jsassets.Consumer) { c.Description = "billing" },
			fields: []string{"description"}, class: inPlace},
		{what: "description: removed", base: consumerWith(func(c *jsassets.Consumer) { c.Description = "billing" }),
			change: func(c *jsassets.Consumer) { c.Description = "" },
			fields: []string{"description"}, class: inPlace},

		{what: "deliverPolicy: all to last", base: pull,
			change: func(c *jsassets.Consumer) { c.DeliverPolicy = jsassets.DeliverLast },
			fields: []string{"deliverPolicy"}, class: refused},
		{what: "deliverPolicy: all to new", base: pull,
			change: func(c *jsassets.Consumer) { c.DeliverPolicy = jsassets.DeliverNew },
			fields: []string{"deliverPolicy"}, class: refused},
		{what: "deliverPolicy: new to all", base: consumerWith(func(c *jsassets.Consumer) { c.DeliverPolicy = jsassets.DeliverNew }),
			change: func(c *jsassets.Consumer) { c.DeliverPolicy = jsassets.DeliverAll },
			fields: []string{"deliverPolicy"}, class: refused},
		{what: "deliverPolicy: all to last_per_subject",
			base:   consumerWith(func(c *jsassets.Consumer) { c.FilterSubjects = []string{c.Stream + ".a"} }),
			change: func(c *jsassets.Consumer) { c.DeliverPolicy = jsassets.DeliverLastPerSubject },
			fields: []string{"deliverPolicy"}, class: refused},
		{what: "deliverPolicy: all to by_start_sequence", base: pull,
			change: func(c *jsassets.Consumer) {
				c.DeliverPolicy = jsassets.DeliverByStartSeq
				c.OptStartSeq = 1
			},
			fields: []string{"deliverPolicy", "optStartSeq"}, class: refused},
		{what: "optStartSeq: another start (by_start_sequence)",
			base: consumerWith(func(c *jsassets.Consumer) {
				c.DeliverPolicy = jsassets.DeliverByStartSeq
				c.OptStartSeq = 1
			}),
			change: func(c *jsassets.Consumer) { c.OptStartSeq = 5 },
			fields: []string{"optStartSeq"}, class: refused},

		{what: "ackPolicy: explicit to all", base: pull,
			change: func(c *jsassets.Consumer) { c.AckPolicy = jsassets.AckAll },
			fields: []string{"ackPolicy"}, class: refused},
		{what: "ackPolicy: all to explicit", base: consumerWith(func(c *jsassets.Consumer) { c.AckPolicy = jsassets.AckAll }),
			change: func(c *jsassets.Consumer) { c.AckPolicy = jsassets.AckExplicit },
			fields: []string{"ackPolicy"}, class: refused},
		{what: "ackPolicy: explicit to none (no ack wait, no ack pending limit)", base: pull,
			change: func(c *jsassets.Consumer) { c.AckPolicy = jsassets.AckNone },
			fields: []string{"ackPolicy"}, class: refused, also: []string{"ackWait", "maxAckPending"}},

		{what: "ackWait: longer", base: pull,
			change: func(c *jsassets.Consumer) { c.AckWait = dur(time.Minute) },
			fields: []string{"ackWait"}, class: inPlace},
		{what: "ackWait: back to the default", base: consumerWith(func(c *jsassets.Consumer) { c.AckWait = dur(time.Minute) }),
			change: func(c *jsassets.Consumer) { c.AckWait = 0 },
			fields: []string{"ackWait"}, class: inPlace},

		{what: "maxDeliver: set", base: pull,
			change: func(c *jsassets.Consumer) { c.MaxDeliver = 5 },
			fields: []string{"maxDeliver"}, class: inPlace},
		{what: "maxDeliver: lifted", base: consumerWith(func(c *jsassets.Consumer) { c.MaxDeliver = 5 }),
			change: func(c *jsassets.Consumer) { c.MaxDeliver = -1 },
			fields: []string{"maxDeliver"}, class: inPlace},

		{what: "backOff: set (its first delay is the ack wait)",
			base:   consumerWith(func(c *jsassets.Consumer) { c.AckWait = dur(time.Second) }),
			change: func(c *jsassets.Consumer) { c.BackOff = []jsassets.Duration{dur(time.Second), dur(5 * time.Second)} },
			fields: []string{"backOff"}, class: inPlace},
		{what: "backOff: other delays",
			base: consumerWith(func(c *jsassets.Consumer) {
				c.MaxDeliver = 5
				c.BackOff = []jsassets.Duration{dur(time.Second), dur(5 * time.Second)}
			}),
			change: func(c *jsassets.Consumer) {
				c.BackOff = []jsassets.Duration{dur(time.Second), dur(10 * time.Second), dur(20 * time.Second)}
			},
			fields: []string{"backOff"}, class: inPlace},
		{what: "backOff: removed (the ack wait is the default again)",
			base: consumerWith(func(c *jsassets.Consumer) {
				c.BackOff = []jsassets.Duration{dur(time.Second), dur(5 * time.Second)}
			}),
			change: func(c *jsassets.Consumer) { c.BackOff = nil },
			fields: []string{"backOff"}, class: inPlace, also: []string{"ackWait"}},

		{what: "filterSubjects: the first", base: pull,
			change: func(c *jsassets.Consumer) { c.FilterSubjects = []string{c.Stream + ".a"} },
			fields: []string{"filterSubjects"}, class: inPlace},
		{what: "filterSubjects: one to two",
			base: consumerWith(func(c *jsassets.Consumer) { c.FilterSubjects = []string{c.Stream + ".a"} }),
			change: func(c *jsassets.Consumer) {
				c.FilterSubjects = []string{c.Stream + ".b", c.Stream + ".a"}
			},
			fields: []string{"filterSubjects"}, class: inPlace},
		{what: "filterSubjects: two to another one",
			base: consumerWith(func(c *jsassets.Consumer) {
				c.FilterSubjects = []string{c.Stream + ".a", c.Stream + ".b"}
			}),
			change: func(c *jsassets.Consumer) { c.FilterSubjects = []string{c.Stream + ".c.>"} },
			fields: []string{"filterSubjects"}, class: inPlace},
		{what: "filterSubjects: removed",
			base:   consumerWith(func(c *jsassets.Consumer) { c.FilterSubjects = []string{c.Stream + ".a"} }),
			change: func(c *jsassets.Consumer) { c.FilterSubjects = nil },
			fields: []string{"filterSubjects"}, class: inPlace},

		{what: "replayPolicy: instant to original", base: pull,
			change: func(c *jsassets.Consumer) { c.ReplayPolicy = jsassets.ReplayOriginal },
			fields: []string{"replayPolicy"}, class: refused},
		{what: "replayPolicy: original to instant", base: consumerWith(func(c *jsassets.Consumer) { c.ReplayPolicy = jsassets.ReplayOriginal }),
			change: func(c *jsassets.Consumer) { c.ReplayPolicy = jsassets.ReplayInstant },
			fields: []string{"replayPolicy"}, class: refused},

		{what: "maxAckPending: lower", base: pull,
			change: func(c *jsassets.Consumer) { c.MaxAckPending = 50 },
			fields: []string{"maxAckPending"}, class: inPlace},
		{what: "maxAckPending: lifted", base: pull,
			change: func(c *jsassets.Consumer) { c.MaxAckPending = -1 },
			fields: []string{"maxAckPending"}, class: inPlace},
		{what: "maxAckPending: back to the default", base: consumerWith(func(c *jsassets.Consumer) { c.MaxAckPending = 50 }),
			change: func(c *jsassets.Consumer) { c.MaxAckPending = 0 },
			fields: []string{"maxAckPending"}, class: inPlace},

		{what: "maxWaiting: lower", base: pull,
			change: func(c *jsassets.Consumer) { c.MaxWaiting = 100 },
			fields: []string{"maxWaiting"}, class: refused},
		{what: "maxWaiting: back to the default", base: consumerWith(func(c *jsassets.Consumer) { c.MaxWaiting = 100 }),
			change: func(c *jsassets.Consumer) { c.MaxWaiting = 0 },
			fields: []string{"maxWaiting"}, class: refused},

		{what: "replicas: 3 to 1 on a three-replica stream", stream: threeReplicas,
			base:   consumerWith(func(c *jsassets.Consumer) { c.Replicas = 3 }),
			change: func(c *jsassets.Consumer) { c.Replicas = 1 },
			fields: []string{"replicas"}, class: inPlace},
		{what: "replicas: 1 to 3 on a three-replica stream", stream: threeReplicas,
			base:   consumerWith(func(c *jsassets.Consumer) { c.Replicas = 1 }),
			change: func(c *jsassets.Consumer) { c.Replicas = 3 },
			fields: []string{"replicas"}, class: inPlace},
		{what: "replicas: the stream's to 1", stream: threeReplicas, base: pull,
			change: func(c *jsassets.Consumer) { c.Replicas = 1 },
			fields: []string{"replicas"}, class: inPlace},
	}
}

// jsonFields is the JSON names of the fields of T.
func jsonFields[T any]() []string {
	t := reflect.TypeFor[T]()
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// uncovered is the names no row classifies.
func uncovered(names []string, rows [][]string) []string {
	covered := map[string]bool{}
	for _, fields := range rows {
		for _, f := range fields {
			covered[f] = true
		}
	}
	var missing []string
	for _, n := range names {
		if !covered[n] {
			missing = append(missing, n)
		}
	}
	return missing
}

// Every field of Stream and Consumer is classified by at least one row.
func TestClassificationCoversEveryField(t *testing.T) {
	var s, c [][]string
	for _, r := range streamRows() {
		s = append(s, r.fields)
	}
	for _, r := range consumerRows() {
		c = append(c, r.fields)
	}
	if m := uncovered(jsonFields[jsassets.Stream](), s); len(m) > 0 {
		t.Errorf("no row classifies these fields of Stream: %s", strings.Join(m, ", "))
	}
	if m := uncovered(jsonFields[jsassets.Consumer](), c); len(m) > 0 {
		t.Errorf("no row classifies these fields of Consumer: %s", strings.Join(m, ", "))
	}
}

// checkDiff says how d differs from a diff that names exactly fields (each
// with class) and also (each in place), or "".
func checkDiff(d jsassets.Diff, fields []string, class string, also []string) string {
	want := append(slices.Clone(fields), also...)
	got := d.Fields()
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		return fmt.Sprintf("the diff names %v, want %v (diff: %v)", got, want, d)
	}
	var bad []string
	for _, c := range d {
		wantClass := inPlace
		if slices.Contains(fields, c.Field) {
			wantClass = class
		}
		gotClass := inPlace
		if c.Refused != "" {
			gotClass = refused
		}
		if gotClass != wantClass {
			bad = append(bad, fmt.Sprintf("%s %s → %s is classified %s, want %s", c.Field, c.Old, c.New, gotClass, wantClass))
		}
	}
	return strings.Join(bad, "; ")
}

// eventually calls f until it returns nil, for at most settle, polling.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(settle)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s, still after %s: %v", what, settle, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readCtx bounds one read: an info request the cluster drops (while a
// change settles no server may answer it) is asked again by eventually
// rather than waited on for ctx's minute.
func readCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// streamMatches is nil when the server's stream name diffs empty against
// want.
func streamMatches(t *testing.T, js jetstream.JetStream, name string, want jsassets.Stream) error {
	got, err := jsassets.ReadStream(readCtx(t), js, name)
	if err != nil {
		return err
	}
	if d := jsassets.DiffStreams(got, want); len(d) > 0 {
		return fmt.Errorf("the server's stream differs from the declaration: %v", d)
	}
	return nil
}

func consumerMatches(t *testing.T, js jetstream.JetStream, want jsassets.Consumer) error {
	got, err := jsassets.ReadConsumer(readCtx(t), js, want.Stream, want.Name)
	if err != nil {
		return err
	}
	if d := jsassets.DiffConsumers(got, want); len(d) > 0 {
		return fmt.Errorf("the server's consumer differs from the declaration: %v", d)
	}
	return nil
}

// createStream applies s (which must not exist) and removes it when the
// test ends.
func createStream(t *testing.T, js jetstream.JetStream, s jsassets.Stream) {
	t.Helper()
	t.Cleanup(func() {
		// t.Context is done by the time cleanups run.
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := jsassets.DeleteStream(c, js, s.Name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	r, err := jsassets.ApplyStream(ctx(t), js, s, false)
	if err != nil {
		t.Fatalf("creating stream %s: %v", s.Name, err)
	}
	if r.Outcome != jsassets.Created {
		t.Fatalf("stream %s: %s, want created (left over from an earlier run?)", s.Name, r.Outcome)
	}
}

// policy is nats.go's value of a policy name; "" is nats.go's zero value,
// which is what the ordinary client sends when a setting is left out.
func policy[T any](t *testing.T, name string) T {
	t.Helper()
	var v T
	if name != "" {
		if err := json.Unmarshal([]byte(strconv.Quote(name)), &v); err != nil {
			t.Fatalf("policy %q: %v", name, err)
		}
	}
	return v
}

// streamAsWritten is the stream's configuration with only what the
// declaration says: what it leaves out is left for the server to fill in.
func streamAsWritten(t *testing.T, s jsassets.Stream) jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name: s.Name, Description: s.Description, Subjects: s.Subjects,
		Storage:   policy[jetstream.StorageType](t, s.Storage),
		Replicas:  s.Replicas,
		Retention: policy[jetstream.RetentionPolicy](t, s.Retention),
		Discard:   policy[jetstream.DiscardPolicy](t, s.Discard),
		MaxMsgs:   s.MaxMsgs, MaxBytes: s.MaxBytes, MaxAge: time.Duration(s.MaxAge),
		MaxMsgSize: s.MaxMsgSize, MaxMsgsPerSubject: s.MaxMsgsPerSubject, MaxConsumers: s.MaxConsumers,
		Duplicates: time.Duration(s.Duplicates),
		DenyDelete: s.DenyDelete, DenyPurge: s.DenyPurge, AllowRollup: s.AllowRollup, AllowDirect: s.AllowDirect,
	}
	if s.Placement != nil {
		cfg.Placement = &jetstream.Placement{Cluster: s.Placement.Cluster, Tags: s.Placement.Tags}
	}
	if m := s.Mirror; m != nil {
		cfg.Mirror = &jetstream.StreamSource{Name: m.Name, FilterSubject: m.FilterSubject, OptStartSeq: m.OptStartSeq}
	}
	for _, src := range s.Sources {
		cfg.Sources = append(cfg.Sources, &jetstream.StreamSource{Name: src.Name, FilterSubject: src.FilterSubject, OptStartSeq: src.OptStartSeq})
	}
	return cfg
}

func consumerAsWritten(t *testing.T, c jsassets.Consumer) jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable: c.Name, Description: c.Description,
		DeliverPolicy:  policy[jetstream.DeliverPolicy](t, c.DeliverPolicy),
		OptStartSeq:    c.OptStartSeq,
		AckPolicy:      policy[jetstream.AckPolicy](t, c.AckPolicy),
		AckWait:        time.Duration(c.AckWait),
		MaxDeliver:     c.MaxDeliver,
		FilterSubjects: c.FilterSubjects,
		ReplayPolicy:   policy[jetstream.ReplayPolicy](t, c.ReplayPolicy),
		MaxAckPending:  c.MaxAckPending,
		MaxWaiting:     c.MaxWaiting,
		Replicas:       c.Replicas,
	}
	for _, b := range c.BackOff {
		cfg.BackOff = append(cfg.BackOff, time.Duration(b))
	}
	return cfg
}

// Lists whose order means nothing, sorted; empty lists nil.
func canonStream(c jetstream.StreamConfig) jetstream.StreamConfig {
	c.Subjects = slices.Sorted(slices.Values(c.Subjects))
	c.Sources = slices.Clone(c.Sources)
	slices.SortFunc(c.Sources, func(a, b *jetstream.StreamSource) int {
		return strings.Compare(a.Name+"\x00"+a.FilterSubject, b.Name+"\x00"+b.FilterSubject)
	})
	if c.Placement != nil {
		p := *c.Placement
		p.Tags = slices.Sorted(slices.Values(p.Tags))
		c.Placement = &p
	}
	if len(c.Subjects) == 0 {
		c.Subjects = nil
	}
	if len(c.Sources) == 0 {
		c.Sources = nil
	}
	return c
}

// canonConsumer keeps the filters in FilterSubjects, sorted: the server may
// hold one as filter_subject.
func canonConsumer(c jetstream.ConsumerConfig) jetstream.ConsumerConfig {
	f := slices.Clone(c.FilterSubjects)
	if c.FilterSubject != "" {
		f = append(f, c.FilterSubject)
	}
	slices.Sort(f)
	c.FilterSubject, c.FilterSubjects = "", f
	if len(f) == 0 {
		c.FilterSubjects = nil
	}
	if len(c.BackOff) == 0 {
		c.BackOff = nil
	}
	return c
}

// differences compares, for every field of the declaration type decl, the
// nats.go configurations want and got (the field of the same Go name, or
// the one alias names; "" skips it).
func differences(t *testing.T, decl reflect.Type, want, got any, alias map[string]string) []string {
	t.Helper()
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	var d []string
	for i := range decl.NumField() {
		name := decl.Field(i).Name
		if a, ok := alias[name]; ok {
			if a == "" {
				continue
			}
			name = a
		}
		w, g := wv.FieldByName(name), gv.FieldByName(name)
		if !w.IsValid() || !g.IsValid() {
			t.Fatalf("the nats.go configuration has no field %s for %s.%s", name, decl.Name(), decl.Field(i).Name)
		}
		wj, err := json.Marshal(w.Interface())
		if err != nil {
			t.Fatal(err)
		}
		gj, err := json.Marshal(g.Interface())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(wj, gj) {
			d = append(d, fmt.Sprintf("%s: normalized %s, the server's %s", name, wj, gj))
		}
	}
	return d
}

// retryStoreFailure calls create until it does not fail with nats-server's
// "error creating store for stream", for at most settle. A node that just
// deleted its last stream of the account races the setup of the next one
// (see jsassets' createStream, which ApplyStream retries with likewise).
func retryStoreFailure(create func() error) error {
	deadline := time.Now().Add(settle)
	for {
		err := create()
		if err == nil || !strings.Contains(err.Error(), "error creating store for stream") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkStreamDefaults creates s as written, every setting it leaves out
// left to the server, and asserts that the server stores exactly what the
// normalized declaration says and that ReadStream gives s back: zero values
// mean what the server does. It deletes the stream again.
func checkStreamDefaults(t *testing.T, js jetstream.JetStream, s jsassets.Stream) {
	t.Helper()
	var st jetstream.Stream
	err := retryStoreFailure(func() (err error) {
		st, err = js.CreateStream(ctx(t), streamAsWritten(t, s))
		return err
	})
	if err != nil {
		t.Fatalf("creating stream %s as written: %v", s.Name, err)
	}
	defer func() {
		if err := jsassets.DeleteStream(ctx(t), js, s.Name); err != nil {
			t.Fatal(err)
		}
	}()
	got := canonStream(st.CachedInfo().Config)
	if d := differences(t, reflect.TypeFor[jsassets.Stream](), canonStream(s.StreamConfig()), got, nil); len(d) > 0 {
		t.Fatalf("stream %s as written: the server's defaults are not the normalized declaration's: %s", s.Name, strings.Join(d, "; "))
	}
	if err := streamMatches(t, js, s.Name, s); err != nil {
		t.Fatalf("stream %s as written: %v", s.Name, err)
	}
}

func checkConsumerDefaults(t *testing.T, js jetstream.JetStream, c jsassets.Consumer) {
	t.Helper()
	cons, err := js.CreateConsumer(ctx(t), c.Stream, consumerAsWritten(t, c))
	if err != nil {
		t.Fatalf("creating consumer %s as written: %v", c.Name, err)
	}
	defer func() {
		if err := jsassets.DeleteConsumer(ctx(t), js, c.Stream, c.Name); err != nil {
			t.Fatal(err)
		}
	}()
	got := canonConsumer(cons.CachedInfo().Config)
	alias := map[string]string{"Stream": "", "Name": "Durable"}
	if d := differences(t, reflect.TypeFor[jsassets.Consumer](), canonConsumer(c.ConsumerConfig()), got, alias); len(d) > 0 {
		t.Fatalf("consumer %s as written: the server's defaults are not the normalized declaration's: %s", c.Name, strings.Join(d, "; "))
	}
	if err := consumerMatches(t, js, c); err != nil {
		t.Fatalf("consumer %s as written: %v", c.Name, err)
	}
}

// refusedFields is the sorted fields of a RefusedError, or fails.
func refusedFields(t *testing.T, err error) []string {
	t.Helper()
	var re *jsassets.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("applying the change without allowReplace: %v, want a refusal", err)
	}
	f := re.Changes.Fields()
	sort.Strings(f)
	return f
}

// streamDeclarations is the row's base and changed declarations of the
// stream named n.
func streamDeclarations(row streamRow, n string) (base, changed jsassets.Stream) {
	base, changed = row.base(n), row.base(n)
	row.change(n, &changed)
	return base, changed
}

// Every change of every field of a stream is classified as the pinned
// nats-server treats it. Per row: the diff names exactly the row's fields
// with their class; both declarations, created as written under names of
// their own, are stored with exactly the normalized values (the zero values
// are the server's defaults); then the base is applied and the change sent
// with nats.go's UpdateStream. In place: the server accepts it and reads
// back as the changed declaration. Refused: the server rejects it, the
// stream is left as it was, ApplyStream refuses naming the same fields and
// with allowReplace recreates the stream as declared.
func TestClassifyStreamFields(t *testing.T) {
	js := connect(t)
	for i, row := range streamRows() {
		t.Run(fmt.Sprintf("%02d %s", i, row.what), func(t *testing.T) {
			n := fmt.Sprintf("cls_s%02d", i)
			base, changed := streamDeclarations(row, n)

			if msg := checkDiff(jsassets.DiffStreams(base, changed), row.fields, row.class, row.also); msg != "" {
				t.Fatal(msg)
			}
			if row.diffOnly != "" {
				t.Log("diff only:", row.diffOnly)
				return
			}
			if err := errors.Join(base.Validate(), changed.Validate()); err != nil {
				t.Fatalf("the row's declarations are invalid: %v", err)
			}

			// Both declarations as written, each under a name of its own
			// (reusing a name just deleted races the cluster's cleanup).
			for _, w := range []string{n + "b", n + "c"} {
				for _, o := range []string{o1(w), o2(w)}[:row.origins] {
					createStream(t, js, plain(o))
				}
			}
			wb, _ := streamDeclarations(row, n+"b")
			_, wc := streamDeclarations(row, n+"c")
			checkStreamDefaults(t, js, wb)
			checkStreamDefaults(t, js, wc)

			for _, o := range []string{o1(n), o2(n)}[:row.origins] {
				createStream(t, js, plain(o))
			}

			createStream(t, js, base)
			eventually(t, "reading the stream as created", func() error { return streamMatches(t, js, n, base) })

			_, err := js.UpdateStream(ctx(t), changed.StreamConfig())
			switch row.class {
			case inPlace:
				if err != nil {
					t.Fatalf("the server refused a change classified in place: %v", err)
				}
				eventually(t, "reading the stream after the update", func() error { return streamMatches(t, js, n, changed) })
			case refused:
				if err == nil {
					t.Fatalf("the server accepted a change classified refused")
				}
				t.Logf("the server refused: %v", err)
				if err := streamMatches(t, js, n, base); err != nil {
					t.Fatalf("after the refusal: %v", err)
				}
				// Apply refuses naming the very fields, and with
				// allowReplace makes the changed stream anew.
				_, err = jsassets.ApplyStream(ctx(t), js, changed, false)
				if got, want := refusedFields(t, err), slices.Sorted(slices.Values(row.fields)); !slices.Equal(got, want) {
					t.Fatalf("ApplyStream refuses %v, want %v", got, want)
				}
				r, err := jsassets.ApplyStream(ctx(t), js, changed, true)
				if err != nil || r.Outcome != jsassets.Replaced {
					t.Fatalf("ApplyStream with allowReplace: %v, %v; want replaced", r.Outcome, err)
				}
				eventually(t, "reading the stream after the replacement", func() error { return streamMatches(t, js, n, changed) })
			}
		})
	}
}

// Every change of every field of a consumer is classified as the pinned
// nats-server treats it, checked as TestClassifyStreamFields checks streams.
func TestClassifyConsumerFields(t *testing.T) {
	js := connect(t)
	for i, row := range consumerRows() {
		t.Run(fmt.Sprintf("%02d %s", i, row.what), func(t *testing.T) {
			n := fmt.Sprintf("cls_c%02d", i)
			base, changed := row.base(n), row.base(n)
			row.change(&changed)

			if msg := checkDiff(jsassets.DiffConsumers(base, changed), row.fields, row.class, row.also); msg != "" {
				t.Fatal(msg)
			}
			if row.diffOnly != "" {
				t.Log("diff only:", row.diffOnly)
				return
			}
			if err := errors.Join(base.Validate(), changed.Validate()); err != nil {
				t.Fatalf("the row's declarations are invalid: %v", err)
			}

			stream := plain(n)
			if row.stream != nil {
				stream = row.stream(n)
			}
			createStream(t, js, stream)
			// Both declarations as written, under durable names of their own.
			wb, wc := base, changed
			wb.Name, wc.Name = "wb", "wc"
			checkConsumerDefaults(t, js, wb)
			checkConsumerDefaults(t, js, wc)

			r, err := jsassets.ApplyConsumer(ctx(t), js, base, false)
			if err != nil || r.Outcome != jsassets.Created {
				t.Fatalf("creating the consumer: %v, %v; want created", r.Outcome, err)
			}
			eventually(t, "reading the consumer as created", func() error { return consumerMatches(t, js, base) })

			_, err = js.UpdateConsumer(ctx(t), n, changed.ConsumerConfig())
			switch row.class {
			case inPlace:
				if err != nil {
					t.Fatalf("the server refused a change classified in place: %v", err)
				}
				eventually(t, "reading the consumer after the update", func() error { return consumerMatches(t, js, changed) })
			case refused:
				if err == nil {
					t.Fatalf("the server accepted a change classified refused")
				}
				t.Logf("the server refused: %v", err)
				if err := consumerMatches(t, js, base); err != nil {
					t.Fatalf("after the refusal: %v", err)
				}
				_, err = jsassets.ApplyConsumer(ctx(t), js, changed, false)
				if got, want := refusedFields(t, err), slices.Sorted(slices.Values(row.fields)); !slices.Equal(got, want) {
					t.Fatalf("ApplyConsumer refuses %v, want %v", got, want)
				}
				r, err := jsassets.ApplyConsumer(ctx(t), js, changed, true)
				if err != nil || r.Outcome != jsassets.Replaced {
					t.Fatalf("ApplyConsumer with allowReplace: %v, %v; want replaced", r.Outcome, err)
				}
				eventually(t, "reading the consumer after the replacement", func() error { return consumerMatches(t, js, changed) })
			}
		})
	}
}
