package natsnest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/jsassets"
	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
)

// The seed's walkthrough declared beside a cluster: one stream and one
// consumer, both through the explicit provider built from the cluster's
// endpoint, the consumer after its stream, the password secret.
func TestAssetsRegisterThroughTheProvider(t *testing.T) {
	m := natsnesttest.New()
	err := m.Run("events", func(ctx *pulumi.Context) error {
		prov, err := natsnest.NewJetStreamProvider(ctx, "js", &natsnest.JetStreamProviderArgs{
			Servers:  pulumi.String("nats://172.16.0.11:4222,nats://172.16.0.12:4222,nats://172.16.0.13:4222"),
			User:     pulumi.String("app"),
			Password: pulumi.String("a-long-application-password"),
		})
		if err != nil {
			return err
		}
		_, err = natsnest.NewAssets(ctx, "seed", jsassets.Walkthrough(), pulumi.Provider(prov))
		return err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prov, ok := m.Resource(natsnest.JetStreamProviderType, "js")
	if !ok {
		t.Fatal("no provider registered")
	}
	if !prov.Inputs["password"].IsSecret() {
		t.Errorf("the provider's password is not secret: %v", prov.Inputs["password"])
	}
	st, ok := m.Resource(natsnesttest.Stream, "seed-my_stream")
	if !ok {
		t.Fatal("no stream seed-my_stream registered")
	}
	want := map[string]any{"name": "my_stream", "storage": "file", "replicas": 3.0, "retention": "limits",
		"discard": "old", "maxMsgs": -1.0, "duplicates": "2m0s", "allowReplace": false}
	for k, v := range want {
		if got := st.Inputs[resource.PropertyKey(k)].V; got != v {
			t.Errorf("stream input %s = %v, want %v", k, got, v)
		}
	}
	if subj := st.Inputs["subjects"].ArrayValue(); len(subj) != 1 || subj[0].StringValue() != "foo" {
		t.Errorf("stream subjects = %v, want [foo]", subj)
	}
	if !strings.HasPrefix(st.Provider, prov.URN+"::") {
		t.Errorf("stream provider %q, want the explicit provider %s", st.Provider, prov.URN)
	}
	c, ok := m.Resource(natsnesttest.Consumer, "seed-my_stream-foo_consumer")
	if !ok {
		t.Fatal("no consumer registered")
	}
	if len(c.Dependencies) != 1 || c.Dependencies[0] != st.URN {
		t.Errorf("consumer depends on %v, want only its stream %s", c.Dependencies, st.URN)
	}
	if c.Inputs["stream"].StringValue() != "my_stream" || c.Inputs["ackPolicy"].StringValue() != "explicit" {
		t.Errorf("consumer inputs %v", c.Inputs)
	}
}

// A bad declaration registers nothing and names every problem.
func TestBadAssetsRegisterNothing(t *testing.T) {
	m := natsnesttest.New()
	a := jsassets.Walkthrough()
	a.Streams[0].Storage = "ssd"
	a.Consumers[0].AckPolicy = "maybe"
	err := m.Run("events", func(ctx *pulumi.Context) error {
		_, err := natsnest.NewAssets(ctx, "seed", a)
		return err
	}, nil)
	if !errors.Is(err, natsnest.ErrInvalidArgs) {
		t.Fatalf("error %v, want ErrInvalidArgs", err)
	}
	for _, want := range []string{"stream my_stream.storage", "consumer my_stream > foo_consumer.ackPolicy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
	for _, typ := range []string{natsnesttest.Stream, natsnesttest.Consumer} {
		if r := m.Resources(typ); len(r) > 0 {
			t.Errorf("registered %d of %s, want none", len(r), typ)
		}
	}
}
