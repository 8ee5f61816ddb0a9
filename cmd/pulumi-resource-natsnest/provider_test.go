package main

import (
	"context"
	"net"
	"strings"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"

	"github.com/natsnest/pulumi-natsnest/jsassets"
)

var streamURN = resource.URN("urn:pulumi:dev::p::" + jsassets.StreamToken + "::seed-my_stream")

func walkthroughStream(t *testing.T, edit func(*jsassets.Stream), allow bool) property.Map {
	t.Helper()
	s := jsassets.Walkthrough().Streams[0]
	if edit != nil {
		edit(&s)
	}
	m, err := encode(stream{s}, allow)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A change the server refuses fails the preview, naming the stream and the
// setting; with allowReplace it is a replacement, deleted first.
func TestDiffRefusesUnlessAllowed(t *testing.T) {
	old := walkthroughStream(t, nil, false)
	mem := func(s *jsassets.Stream) { s.Storage = jsassets.MemoryStorage }
	_, err := diff(context.Background(), p.DiffRequest{Urn: streamURN, State: old, Inputs: walkthroughStream(t, mem, false)})
	if err == nil || !strings.Contains(err.Error(), `stream "my_stream"`) || !strings.Contains(err.Error(), "storage") {
		t.Fatalf("diff of storage file → memory: %v, want a refusal naming my_stream and storage", err)
	}
	d, err := diff(context.Background(), p.DiffRequest{Urn: streamURN, State: old, Inputs: walkthroughStream(t, mem, true)})
	if err != nil {
		t.Fatal(err)
	}
	if d.DetailedDiff["storage"].Kind != p.UpdateReplace || !d.DeleteBeforeReplace {
		t.Errorf("diff with allowReplace: %+v, want storage update&replace, deleted before replaced", d)
	}
	d, err = diff(context.Background(), p.DiffRequest{Urn: streamURN, State: old,
		Inputs: walkthroughStream(t, func(s *jsassets.Stream) { s.MaxMsgs = 100 }, false)})
	if err != nil || d.DetailedDiff["maxMsgs"].Kind != p.Update || d.DeleteBeforeReplace || len(d.DetailedDiff) != 1 {
		t.Errorf("diff of maxMsgs: %+v, %v; want one in-place update", d, err)
	}
}

// A new server list (scale out), user or password updates the provider:
// nothing is replaced.
func TestDiffConfigNeverReplaces(t *testing.T) {
	pr := &provider{}
	old := property.NewMap(map[string]property.Value{
		keyServers: property.New("nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222"),
		keyUser:    property.New("app"), keyPass: property.New("one-password").WithSecret(true),
	})
	news := old.Set(keyServers, property.New("nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222,nats://10.0.0.4:4222,nats://10.0.0.5:4222")).
		Set(keyPass, property.New("another-password").WithSecret(true))
	d, err := pr.diffConfig(context.Background(), p.DiffRequest{OldInputs: old, Inputs: news})
	if err != nil {
		t.Fatal(err)
	}
	if !d.HasChanges || len(d.DetailedDiff) != 2 {
		t.Errorf("diffConfig: %+v, want servers and password changed", d)
	}
	for k, v := range d.DetailedDiff {
		if v.Kind != p.Update {
			t.Errorf("diffConfig: %s is %s, want an update", k, v.Kind)
		}
	}
}

// Check reports a misspelt setting and every bad value, each its own failure.
func TestCheckNamesTheField(t *testing.T) {
	in := walkthroughStream(t, func(s *jsassets.Stream) { s.Storage = "ssd"; s.Replicas = 9 }, false)
	r, err := check(context.Background(), p.CheckRequest{Urn: streamURN, Inputs: in})
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, f := range r.Failures {
		got += f.Reason + "\n"
	}
	for _, want := range []string{"stream my_stream.storage", "stream my_stream.replicas"} {
		if !strings.Contains(got, want) {
			t.Errorf("check failures %q do not name %s", got, want)
		}
	}
	r, _ = check(context.Background(), p.CheckRequest{Urn: streamURN, Inputs: in.Set("maxMsg", property.New(5.0))})
	if len(r.Failures) != 1 || !strings.Contains(r.Failures[0].Reason, `unknown field "maxMsg"`) {
		t.Errorf("a misspelt setting: %+v, want it named", r.Failures)
	}
}

// Where the deploying machine cannot reach the client port — here a
// listener on loopback that accepts and never answers, as a dropped
// connection looks — dialling fails after dialTimeout, naming the servers
// and what to allow.
func TestUnreachableNamesWhatToAllow(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	url := "nats://" + l.Addr().String()
	_, _, err = connection{servers: []string{url}}.dial(context.Background())
	if err == nil {
		t.Fatal("dialling a server that never answers succeeded")
	}
	for _, want := range []string{url, "port 4222", "AllowedClientCIDRs", dialTimeout.String()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
}
