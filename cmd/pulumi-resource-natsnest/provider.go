package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/natsnest/pulumi-natsnest/jsassets"
)

// opTimeout bounds one create, read, update or delete: a server that stops
// answering (as one briefly may right after a stream of the same name was
// deleted) fails the operation instead of hanging it.
const opTimeout = 2 * time.Minute

// provider serves natsnest:index:Stream and natsnest:index:Consumer. Its
// configuration is the connection; every operation dials anew (the engine
// starts and stops plugins per operation anyway).
type provider struct {
	conn connection
}

func (pr *provider) server() p.Provider {
	return p.Provider{
		CheckConfig: pr.checkConfig,
		DiffConfig:  pr.diffConfig,
		Configure:   pr.configure,
		Check:       check,
		Diff:        diff,
		Create:      pr.create,
		Read:        pr.read,
		Update:      pr.update,
		Delete:      pr.delete,
	}
}

// asset is one of the two kinds, behind one set of CRUD functions.
type asset interface {
	kind() string
	id() string
	validate() error
	diff(old asset) jsassets.Diff
	apply(ctx context.Context, js jetstream.JetStream, allowReplace bool) error
	read(ctx context.Context, js jetstream.JetStream) (asset, error)
	remove(ctx context.Context, js jetstream.JetStream) error
}

type stream struct{ jsassets.Stream }

func (s stream) kind() string    { return "stream" }
func (s stream) id() string      { return s.Name }
func (s stream) validate() error { return s.Validate() }
func (s stream) diff(old asset) jsassets.Diff {
	return jsassets.DiffStreams(old.(stream).Stream, s.Stream)
}
func (s stream) apply(ctx context.Context, js jetstream.JetStream, allowReplace bool) error {
	_, err := jsassets.ApplyStream(ctx, js, s.Stream, allowReplace)
	return err
}
func (s stream) read(ctx context.Context, js jetstream.JetStream) (asset, error) {
	got, err := jsassets.ReadStream(ctx, js, s.Name)
	return stream{got}, err
}
func (s stream) remove(ctx context.Context, js jetstream.JetStream) error {
	return jsassets.DeleteStream(ctx, js, s.Name)
}

type consumer struct{ jsassets.Consumer }

func (c consumer) kind() string    { return "consumer" }
func (c consumer) id() string      { return c.Stream + "/" + c.Name }
func (c consumer) validate() error { return c.Validate() }
func (c consumer) diff(old asset) jsassets.Diff {
	return jsassets.DiffConsumers(old.(consumer).Consumer, c.Consumer)
}
func (c consumer) apply(ctx context.Context, js jetstream.JetStream, allowReplace bool) error {
	_, err := jsassets.ApplyConsumer(ctx, js, c.Consumer, allowReplace)
	return err
}
func (c consumer) read(ctx context.Context, js jetstream.JetStream) (asset, error) {
	got, err := jsassets.ReadConsumer(ctx, js, c.Stream, c.Name)
	return consumer{got}, err
}
func (c consumer) remove(ctx context.Context, js jetstream.JetStream) error {
	return jsassets.DeleteConsumer(ctx, js, c.Stream, c.Name)
}

// decode reads a resource's properties (inputs or state) as the asset its
// URN's type names, and the allowReplace input. Unknown properties are an
// error naming them: a misspelt setting must not be dropped silently.
func decode(urn resource.URN, props property.Map) (asset, bool, error) {
	allow := false
	if v, ok := props.GetOk(jsassets.AllowReplaceInput); ok && v.IsBool() {
		allow = v.AsBool()
	}
	props = props.Delete(jsassets.AllowReplaceInput)
	b, err := json.Marshal(resource.ToResourcePropertyMap(props).Mappable())
	if err != nil {
		return nil, false, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	switch t := string(urn.Type()); t {
	case jsassets.StreamToken:
		var s stream
		if err := dec.Decode(&s.Stream); err != nil {
			return nil, false, fmt.Errorf("%s: %w", t, err)
		}
		return s, allow, nil
	case jsassets.ConsumerToken:
		var c consumer
		if err := dec.Decode(&c.Consumer); err != nil {
			return nil, false, fmt.Errorf("%s: %w", t, err)
		}
		return c, allow, nil
	default:
		return nil, false, fmt.Errorf("pulumi-resource-natsnest has no resource type %q", t)
	}
}

// encode is the state of an asset: its normalized settings and allowReplace.
func encode(a asset, allow bool) (property.Map, error) {
	var v any = a
	switch x := a.(type) {
	case stream:
		v = x.Normalized()
	case consumer:
		v = x.Normalized()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return property.Map{}, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return property.Map{}, err
	}
	m[jsassets.AllowReplaceInput] = allow
	return resource.FromResourcePropertyMap(resource.NewPropertyMapFromMap(m)), nil
}

func check(_ context.Context, req p.CheckRequest) (p.CheckResponse, error) {
	if req.Inputs.HasComputed() {
		return p.CheckResponse{Inputs: req.Inputs}, nil
	}
	a, _, err := decode(req.Urn, req.Inputs)
	if err != nil {
		return p.CheckResponse{Failures: []p.CheckFailure{{Reason: err.Error()}}}, nil
	}
	var failures []p.CheckFailure
	if err := a.validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			failures = append(failures, p.CheckFailure{Reason: line})
		}
	}
	return p.CheckResponse{Inputs: req.Inputs, Failures: failures}, nil
}

// diff compares the state (what the server had at the last create, update
// or refresh) with the new inputs. A change the server refuses in place is
// an error naming the asset and the setting, unless the new inputs allow
// replacing it; then it is a replacement, deleted before it is created (the
// same name cannot exist twice).
func diff(_ context.Context, req p.DiffRequest) (p.DiffResponse, error) {
	if req.Inputs.HasComputed() {
		return p.DiffResponse{HasChanges: true}, nil
	}
	old, _, err := decode(req.Urn, req.State)
	if err != nil {
		return p.DiffResponse{}, err
	}
	news, allow, err := decode(req.Urn, req.Inputs)
	if err != nil {
		return p.DiffResponse{}, err
	}
	d := news.diff(old)
	if refused := d.Refused(); len(refused) > 0 && !allow {
		return p.DiffResponse{}, &jsassets.RefusedError{Kind: news.kind(), Name: displayName(news), Changes: refused}
	}
	detail := map[string]p.PropertyDiff{}
	replace := false
	for _, c := range d {
		kind := p.Update
		if c.Refused != "" {
			kind, replace = p.UpdateReplace, true
		}
		detail[c.Field] = p.PropertyDiff{Kind: kind}
	}
	if wasAllowed := req.State.Get(jsassets.AllowReplaceInput); !wasAllowed.IsBool() || wasAllowed.AsBool() != allow {
		detail[jsassets.AllowReplaceInput] = p.PropertyDiff{Kind: p.Update}
	}
	return p.DiffResponse{HasChanges: len(detail) > 0, DetailedDiff: detail, DeleteBeforeReplace: replace}, nil
}

func displayName(a asset) string {
	if c, ok := a.(consumer); ok {
		return c.Stream + " > " + c.Name
	}
	return a.id()
}

func (pr *provider) create(ctx context.Context, req p.CreateRequest) (p.CreateResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	a, allow, err := decode(req.Urn, req.Properties)
	if err != nil {
		return p.CreateResponse{}, err
	}
	if req.DryRun {
		return p.CreateResponse{ID: a.id(), Properties: req.Properties}, nil
	}
	js, closeConn, err := pr.conn.dial(ctx)
	if err != nil {
		return p.CreateResponse{}, err
	}
	defer closeConn()
	if _, err := a.read(ctx, js); err == nil {
		return p.CreateResponse{}, fmt.Errorf("%s %q exists already on the server: natsnest does not adopt what it did not create; delete it, or remove it from the program", a.kind(), displayName(a))
	} else if !errors.Is(err, jsassets.ErrNotFound) {
		return p.CreateResponse{}, err
	}
	if err := a.apply(ctx, js, false); err != nil {
		return p.CreateResponse{}, err
	}
	return pr.stateOf(ctx, js, a, allow)
}

// stateOf reads the asset back, so that state is what the server stores.
func (pr *provider) stateOf(ctx context.Context, js jetstream.JetStream, a asset, allow bool) (p.CreateResponse, error) {
	got, err := a.read(ctx, js)
	if err != nil {
		return p.CreateResponse{}, err
	}
	props, err := encode(got, allow)
	return p.CreateResponse{ID: a.id(), Properties: props}, err
}

// read is refresh: the server's settings become the state, so a hand edit
// shows as a difference and the next up restores the declaration. An asset
// that is gone returns no ID, and the engine drops it from the state.
func (pr *provider) read(ctx context.Context, req p.ReadRequest) (p.ReadResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	a, allow, err := decode(req.Urn, req.Properties)
	if err != nil {
		return p.ReadResponse{}, err
	}
	js, closeConn, err := pr.conn.dial(ctx)
	if err != nil {
		return p.ReadResponse{}, err
	}
	defer closeConn()
	got, err := a.read(ctx, js)
	if errors.Is(err, jsassets.ErrNotFound) {
		return p.ReadResponse{}, nil
	}
	if err != nil {
		return p.ReadResponse{}, err
	}
	props, err := encode(got, allow)
	if err != nil {
		return p.ReadResponse{}, err
	}
	inputs := req.Inputs
	if inputs.Len() == 0 {
		inputs = props
	}
	return p.ReadResponse{ID: req.ID, Properties: props, Inputs: inputs}, nil
}

func (pr *provider) update(ctx context.Context, req p.UpdateRequest) (p.UpdateResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	a, allow, err := decode(req.Urn, req.Inputs)
	if err != nil {
		return p.UpdateResponse{}, err
	}
	if req.DryRun {
		return p.UpdateResponse{Properties: req.Inputs}, nil
	}
	js, closeConn, err := pr.conn.dial(ctx)
	if err != nil {
		return p.UpdateResponse{}, err
	}
	defer closeConn()
	// Diff refused what cannot change in place; what reaches here is an
	// in-place change, and apply refuses again if the server has moved.
	if err := a.apply(ctx, js, false); err != nil {
		return p.UpdateResponse{}, err
	}
	st, err := pr.stateOf(ctx, js, a, allow)
	return p.UpdateResponse{Properties: st.Properties}, err
}

func (pr *provider) delete(ctx context.Context, req p.DeleteRequest) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	a, _, err := decode(req.Urn, req.Properties)
	if err != nil {
		return err
	}
	js, closeConn, err := pr.conn.dial(ctx)
	if err != nil {
		return err
	}
	defer closeConn()
	return a.remove(ctx, js)
}
