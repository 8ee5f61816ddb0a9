package jsassets

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ErrInvalid is wrapped by every validation problem.
var ErrInvalid = errors.New("invalid JetStream declaration")

// maxNameLen is nats-server's JSMaxNameLen for stream and consumer names.
const maxNameLen = 255

type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...)))
}

// Validate reports every problem of the stream at once, each naming the
// field (as "stream <name>.<field>") and the rule it breaks.
func (s Stream) Validate() error { return errors.Join(s.problems()...) }

// Validate reports every problem of the consumer at once.
func (c Consumer) Validate() error { return errors.Join(c.problems()...) }

// Validate reports every problem of every stream and consumer at once, and
// declarations that collide: two streams of one name, two consumers of one
// name on one stream, a consumer of a stream the set does not declare is
// allowed (it may exist already).
func (a Assets) Validate() error {
	var p problems
	streams := map[string]bool{}
	for i, s := range a.Streams {
		p = append(p, s.problems()...)
		if streams[s.Name] && s.Name != "" {
			p.add(fmt.Sprintf("streams[%d].name", i), "stream %q is declared twice", s.Name)
		}
		streams[s.Name] = true
	}
	consumers := map[string]bool{}
	for i, c := range a.Consumers {
		p = append(p, c.problems()...)
		key := c.Stream + "\x00" + c.Name
		if consumers[key] && c.Name != "" {
			p.add(fmt.Sprintf("consumers[%d].name", i), "consumer %q of stream %q is declared twice", c.Name, c.Stream)
		}
		consumers[key] = true
	}
	return errors.Join(p...)
}

func (s Stream) problems() []error {
	var p problems
	f := func(field string) string { return "stream " + quoteName(s.Name) + "." + field }
	checkName(&p, f("name"), s.Name)
	for i, subj := range s.Subjects {
		if err := checkSubject(subj); err != "" {
			p.add(f(fmt.Sprintf("subjects[%d]", i)), "%q %s", subj, err)
		}
	}
	oneOf(&p, f("storage"), s.Storage, FileStorage, MemoryStorage)
	oneOf(&p, f("retention"), s.Retention, LimitsRetention, InterestRetention, WorkQueueRetention)
	oneOf(&p, f("discard"), s.Discard, DiscardOld, DiscardNew)
	if s.Replicas < 0 || s.Replicas > 5 {
		p.add(f("replicas"), "must be 1 to 5 (0 is 1), not %d", s.Replicas)
	}
	limit(&p, f("maxMsgs"), s.MaxMsgs)
	limit(&p, f("maxBytes"), s.MaxBytes)
	limit(&p, f("maxMsgSize"), int64(s.MaxMsgSize))
	limit(&p, f("maxMsgsPerSubject"), s.MaxMsgsPerSubject)
	limit(&p, f("maxConsumers"), int64(s.MaxConsumers))
	if s.MaxAge < 0 {
		p.add(f("maxAge"), "must not be negative (0 is no limit), not %s", s.MaxAge)
	}
	if s.Duplicates < 0 {
		p.add(f("duplicates"), "must not be negative, not %s", s.Duplicates)
	}
	if s.MaxAge > 0 && s.Duplicates > s.MaxAge {
		p.add(f("duplicates"), "must not be longer than maxAge (%s), not %s", s.MaxAge, s.Duplicates)
	}
	if s.Mirror != nil {
		if len(s.Subjects) > 0 {
			p.add(f("mirror"), "a mirror has no subjects of its own: leave subjects empty")
		}
		if len(s.Sources) > 0 {
			p.add(f("mirror"), "a mirror cannot also have sources")
		}
		checkSource(&p, f("mirror"), *s.Mirror, s.Name)
	}
	for i, src := range s.Sources {
		checkSource(&p, f(fmt.Sprintf("sources[%d]", i)), src, s.Name)
	}
	if s.Placement != nil {
		for i, t := range s.Placement.Tags {
			if t == "" || strings.ContainsFunc(t, unicode.IsSpace) {
				p.add(f(fmt.Sprintf("placement.tags[%d]", i)), "must be a word without spaces, not %q", t)
			}
		}
	}
	return p
}

func (c Consumer) problems() []error {
	var p problems
	f := func(field string) string {
		return "consumer " + quoteName(c.Stream) + " > " + quoteName(c.Name) + "." + field
	}
	checkName(&p, f("stream"), c.Stream)
	checkName(&p, f("name"), c.Name)
	oneOf(&p, f("deliverPolicy"), c.DeliverPolicy, DeliverAll, DeliverLast, DeliverNew, DeliverByStartSeq, DeliverLastPerSubject)
	oneOf(&p, f("ackPolicy"), c.AckPolicy, AckExplicit, AckNone, AckAll)
	oneOf(&p, f("replayPolicy"), c.ReplayPolicy, ReplayInstant, ReplayOriginal)
	if c.DeliverPolicy == DeliverByStartSeq && c.OptStartSeq == 0 {
		p.add(f("optStartSeq"), "deliverPolicy %q needs a start sequence of 1 or more", DeliverByStartSeq)
	}
	if c.OptStartSeq != 0 && c.DeliverPolicy != DeliverByStartSeq {
		p.add(f("optStartSeq"), "is only used with deliverPolicy %q", DeliverByStartSeq)
	}
	if c.AckWait < 0 {
		p.add(f("ackWait"), "must not be negative, not %s", c.AckWait)
	}
	if c.MaxDeliver < -1 {
		p.add(f("maxDeliver"), "must be 1 or more, or -1 (or 0) for no limit, not %d", c.MaxDeliver)
	}
	if c.MaxAckPending < -1 {
		p.add(f("maxAckPending"), "must be 1 or more, or -1 for no limit, not %d", c.MaxAckPending)
	}
	if c.MaxWaiting < 0 {
		p.add(f("maxWaiting"), "must not be negative, not %d", c.MaxWaiting)
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		p.add(f("replicas"), "must be 1 to 5 (0 is the stream's), not %d", c.Replicas)
	}
	for i, b := range c.BackOff {
		if b <= 0 {
			p.add(f(fmt.Sprintf("backOff[%d]", i)), "must be positive, not %s", b)
		}
	}
	if len(c.BackOff) > 0 {
		if c.AckPolicy == AckNone {
			p.add(f("backOff"), "needs acknowledgements: ackPolicy %q never redelivers", AckNone)
		}
		if c.MaxDeliver > 0 && len(c.BackOff) > c.MaxDeliver {
			p.add(f("backOff"), "has %d delays but maxDeliver is %d: it may have at most maxDeliver", len(c.BackOff), c.MaxDeliver)
		}
	}
	for i, subj := range c.FilterSubjects {
		if err := checkSubject(subj); err != "" {
			p.add(f(fmt.Sprintf("filterSubjects[%d]", i)), "%q %s", subj, err)
		}
	}
	return p
}

func quoteName(n string) string {
	if n == "" {
		return `""`
	}
	return n
}

// checkName applies nats-server's rules for stream and durable names.
func checkName(p *problems, field, name string) {
	switch {
	case name == "":
		p.add(field, "is required")
	case len(name) > maxNameLen:
		p.add(field, "must be at most %d bytes, not %d", maxNameLen, len(name))
	case strings.ContainsAny(name, ".*>/\\") || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		p.add(field, "%q must not contain '.', '*', '>', '/', '\\', spaces or control characters", name)
	}
}

// checkSubject says what is wrong with a subject, or "".
func checkSubject(s string) string {
	if s == "" {
		return "is empty"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "must not contain spaces or control characters"
	}
	tokens := strings.Split(s, ".")
	for i, t := range tokens {
		switch {
		case t == "":
			return "has an empty token"
		case t == ">" && i != len(tokens)-1:
			return "may have '>' only as its last token"
		case len(t) > 1 && strings.ContainsAny(t, "*>"):
			return "may use '*' and '>' only as whole tokens"
		}
	}
	return ""
}

func checkSource(p *problems, field string, src Source, self string) {
	checkName(p, field+".name", src.Name)
	if src.Name != "" && src.Name == self {
		p.add(field+".name", "a stream cannot copy from itself")
	}
	if src.FilterSubject != "" {
		if err := checkSubject(src.FilterSubject); err != "" {
			p.add(field+".filterSubject", "%q %s", src.FilterSubject, err)
		}
	}
}

func oneOf(p *problems, field, v string, allowed ...string) {
	if v == "" {
		return
	}
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	p.add(field, "must be one of %s, not %q", strings.Join(allowed, ", "), v)
}

func limit(p *problems, field string, v int64) {
	if v < -1 {
		p.add(field, "must be 1 or more, or -1 (or 0) for no limit, not %d", v)
	}
}
