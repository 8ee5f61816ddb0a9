package natsnest

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/jsassets"
)

// JetStreamProviderType is the type token of the explicit provider that
// streams and consumers are applied through: the pulumi-resource-natsnest
// plugin (README, "Streams and consumers").
const JetStreamProviderType = "pulumi:providers:natsnest"

// JetStreamProvider connects natsnest's streams and consumers to a cluster.
// Pass it to NewStream and NewConsumer with pulumi.Provider. The plugin
// connects from the machine that runs `pulumi up`.
type JetStreamProvider struct {
	pulumi.ProviderResourceState
}

// JetStreamProviderArgs is the connection. A change of any of it (a new
// server list after scaling out, a new password) updates the provider and
// never replaces a stream or consumer.
type JetStreamProviderArgs struct {
	// Servers is the comma-separated list of nats:// (or tls://) URLs:
	// a Cluster's or Servers' PrivateEndpoint or PublicEndpoint. Required.
	Servers pulumi.StringInput
	// User and Password are a user of the account the streams belong to
	// (ServerOptions.Accounts). Password is kept secret.
	User     pulumi.StringInput
	Password pulumi.StringInput
	// CACert is the PEM CA that signed the servers' certificates, for
	// clusters with client TLS (ServerOptions.TLS).
	CACert pulumi.StringInput
}

// NewJetStreamProvider registers the provider. Servers is required.
func NewJetStreamProvider(ctx *pulumi.Context, name string, args *JetStreamProviderArgs, opts ...pulumi.ResourceOption) (*JetStreamProvider, error) {
	if args == nil || args.Servers == nil {
		return nil, fmt.Errorf("%w: JetStreamProviderArgs.Servers: is required (a cluster's PrivateEndpoint or PublicEndpoint)", ErrInvalidArgs)
	}
	props := pulumi.Map{"servers": args.Servers}
	if args.User != nil {
		props["user"] = args.User
	}
	if args.Password != nil {
		props["password"] = pulumi.ToSecret(args.Password)
	}
	if args.CACert != nil {
		props["caCert"] = args.CACert
	}
	var p JetStreamProvider
	if err := ctx.RegisterResource(JetStreamProviderType, name, props, &p, opts...); err != nil {
		return nil, err
	}
	return &p, nil
}

// Stream is a JetStream stream applied by the provider: created, read on
// refresh (a hand edit shows as a difference and the next up restores the
// declaration), updated in place where the server allows it, and deleted
// with its messages on destroy unless protected or retained
// (pulumi.Protect, pulumi.RetainOnDelete).
type Stream struct {
	pulumi.CustomResourceState
	// Name is the stream's name.
	Name pulumi.StringOutput `pulumi:"name"`
}

// StreamArgs declare a stream.
type StreamArgs struct {
	// Stream is the declaration; jsassets.Stream documents every setting
	// and its default.
	Stream jsassets.Stream
	// AllowReplace lets a change the server refuses in place (storage,
	// retention to or from workqueue, a mirror's source, …) delete the
	// stream, with every message in it, and create it anew. Without it
	// such a change fails the preview, naming the stream and the setting.
	AllowReplace bool
}

// NewStream registers a stream. The declaration is checked first: every
// problem at once, each naming the field.
func NewStream(ctx *pulumi.Context, name string, args *StreamArgs, opts ...pulumi.ResourceOption) (*Stream, error) {
	if args == nil {
		return nil, fmt.Errorf("%w: StreamArgs: are required", ErrInvalidArgs)
	}
	if err := args.Stream.Validate(); err != nil {
		return nil, errors.Join(ErrInvalidArgs, err)
	}
	props, err := assetInputs(args.Stream, args.AllowReplace)
	if err != nil {
		return nil, err
	}
	var s Stream
	if err := ctx.RegisterResource(jsassets.StreamToken, name, props, &s, opts...); err != nil {
		return nil, err
	}
	return &s, nil
}

// Consumer is a durable pull consumer of a stream, applied as Stream is.
type Consumer struct {
	pulumi.CustomResourceState
	// Stream and Name are the stream's and the consumer's names.
	Stream pulumi.StringOutput `pulumi:"stream"`
	Name   pulumi.StringOutput `pulumi:"name"`
}

// ConsumerArgs declare a consumer.
type ConsumerArgs struct {
	// Consumer is the declaration; jsassets.Consumer documents it.
	Consumer jsassets.Consumer
	// AllowReplace lets a change the server refuses in place (deliver, ack
	// or replay policy, …) delete the consumer, with its delivery and
	// acknowledgement state, and create it anew.
	AllowReplace bool
}

// NewConsumer registers a consumer. Give it pulumi.DependsOn its Stream
// when both are in the program (NewAssets does).
func NewConsumer(ctx *pulumi.Context, name string, args *ConsumerArgs, opts ...pulumi.ResourceOption) (*Consumer, error) {
	if args == nil {
		return nil, fmt.Errorf("%w: ConsumerArgs: are required", ErrInvalidArgs)
	}
	if err := args.Consumer.Validate(); err != nil {
		return nil, errors.Join(ErrInvalidArgs, err)
	}
	props, err := assetInputs(args.Consumer, args.AllowReplace)
	if err != nil {
		return nil, err
	}
	var c Consumer
	if err := ctx.RegisterResource(jsassets.ConsumerToken, name, props, &c, opts...); err != nil {
		return nil, err
	}
	return &c, nil
}

// Assets are the streams and consumers NewAssets registered, by name
// ("my_stream", "my_stream/foo_consumer").
type Assets struct {
	Streams   map[string]*Stream
	Consumers map[string]*Consumer
}

// NewAssets registers every stream and consumer of a, all through the
// provider in opts (pulumi.Provider). Resource names are prefix-<stream> and
// prefix-<stream>-<consumer>; a consumer of a stream in a depends on it, so
// it is created after and deleted before it. The whole set is checked
// first, every problem at once.
func NewAssets(ctx *pulumi.Context, prefix string, a jsassets.Assets, opts ...pulumi.ResourceOption) (*Assets, error) {
	if err := a.Validate(); err != nil {
		return nil, errors.Join(ErrInvalidArgs, err)
	}
	out := &Assets{Streams: map[string]*Stream{}, Consumers: map[string]*Consumer{}}
	for _, s := range a.Streams {
		r, err := NewStream(ctx, prefix+"-"+s.Name, &StreamArgs{Stream: s}, opts...)
		if err != nil {
			return nil, err
		}
		out.Streams[s.Name] = r
	}
	for _, c := range a.Consumers {
		o := opts
		if s, ok := out.Streams[c.Stream]; ok {
			o = append(append([]pulumi.ResourceOption{}, opts...), pulumi.DependsOn([]pulumi.Resource{s}))
		}
		r, err := NewConsumer(ctx, prefix+"-"+c.Stream+"-"+c.Name, &ConsumerArgs{Consumer: c}, o...)
		if err != nil {
			return nil, err
		}
		out.Consumers[c.Stream+"/"+c.Name] = r
	}
	return out, nil
}

// assetInputs is a declaration as the resource's inputs: its JSON form
// (the property names jsassets documents) and allowReplace.
func assetInputs(v any, allowReplace bool) (pulumi.Map, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m[jsassets.AllowReplaceInput] = allowReplace
	return pulumi.ToMap(m), nil
}
