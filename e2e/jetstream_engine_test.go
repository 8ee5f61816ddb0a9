package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/localcluster"
	"github.com/natsnest/pulumi-natsnest/jsassets"
	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// The seed's stream and consumer applied by the real Pulumi engine through
// the pulumi-resource-natsnest plugin built from this repository, onto a
// local cluster of real nats-server processes: up creates exactly the
// seed's settings, refresh reports a hand edit, up restores it, a refused
// change fails naming the stream and the setting and keeps the messages,
// a 3 → 5 change of the server list replaces nothing, destroy deletes what
// is not retained.
func TestJetStreamThroughTheEngine(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	eng := newEngine(t, tmp)
	pluginDir := eng.build(t, "pulumi-resource-natsnest", "cmd/pulumi-resource-natsnest")

	c := localcluster.StartT(t, localcluster.Options{Nodes: 3})
	app := c.App()
	nc, err := nats.Connect(c.ClientURL(), nats.UserInfo(app.User, app.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	// What the program declares; the steps below change it between runs.
	servers := c.ClientURLs()
	assets := jsassets.Walkthrough()
	program := func(pctx *pulumi.Context) error {
		prov, err := natsnest.NewJetStreamProvider(pctx, "js", &natsnest.JetStreamProviderArgs{
			Servers:  pulumi.String(strings.Join(servers, ",")),
			User:     pulumi.String(app.User),
			Password: pulumi.String(app.Password),
		})
		if err != nil {
			return err
		}
		if _, err := natsnest.NewAssets(pctx, "seed", assets, pulumi.Provider(prov)); err != nil {
			return err
		}
		// A stream the program asks Pulumi to keep on destroy.
		_, err = natsnest.NewStream(pctx, "kept", &natsnest.StreamArgs{Stream: jsassets.Stream{Name: "kept", Subjects: []string{"kept.>"}}},
			pulumi.Provider(prov), pulumi.RetainOnDelete(true))
		return err
	}
	// As the README tells users: a plugins entry pointing at the folder
	// the plugin was built into.
	stack := eng.stack(ctx, t, "jetstream-assets", program,
		&workspace.Plugins{Providers: []workspace.PluginOptions{{Name: "natsnest", Path: pluginDir}}})

	// up creates the provider, the stream and the consumer.
	up, err := stack.Up(ctx, optup.SuppressProgress())
	if err != nil {
		t.Fatalf("first up: %v", err)
	}
	summary(t, "first up", up.Summary.ResourceChanges, map[string]int{"create": 5})
	cfg := natsStreamInfo(t, c, "my_stream")
	for k, want := range map[string]any{
		"subjects": []any{"foo"}, "storage": "file", "num_replicas": 3.0, "retention": "limits", "discard": "old",
		"max_msgs": -1.0, "max_bytes": -1.0, "max_msg_size": -1.0, "max_msgs_per_subject": -1.0, "max_age": 0.0,
		"duplicate_window": float64(2 * time.Minute), "max_consumers": -1.0,
	} {
		if fmt.Sprint(cfg[k]) != fmt.Sprint(want) {
			t.Errorf("nats stream info my_stream --json: %s = %v, want %v", k, cfg[k], want)
		}
	}
	t.Logf("verified: nats stream info my_stream --json shows the seed's settings")
	cons, err := jsassets.ReadConsumer(ctx, js, "my_stream", "foo_consumer")
	if err != nil {
		t.Fatal(err)
	}
	if d := jsassets.DiffConsumers(cons, assets.Consumers[0]); len(d) > 0 {
		t.Errorf("foo_consumer differs from its declaration: %s", d)
	}
	t.Logf("verified: foo_consumer exists as declared")
	for i := range 10 {
		if _, err := js.Publish(ctx, "foo", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}

	// Nothing changed: nothing to do.
	pre, err := stack.Preview(ctx, optpreview.SuppressProgress())
	if err != nil {
		t.Fatal(err)
	}
	summary(t, "preview with nothing changed", pre.ChangeSummary, map[string]int{"same": 5})

	// A hand edit: refresh reports it, up restores the declaration.
	st, err := js.Stream(ctx, "my_stream")
	if err != nil {
		t.Fatal(err)
	}
	edited := st.CachedInfo().Config
	edited.MaxMsgs = 500
	if _, err := js.UpdateStream(ctx, edited); err != nil {
		t.Fatal(err)
	}
	ref, err := stack.Refresh(ctx, optrefresh.SuppressProgress())
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	summary(t, "refresh after a hand edit of max_msgs", ref.Summary.ResourceChanges, map[string]int{"update": 1, "same": 4})
	if !strings.Contains(ref.StdOut, "maxMsgs") {
		t.Errorf("refresh does not show maxMsgs:\n%s", ref.StdOut)
	}
	up, err = stack.Up(ctx, optup.SuppressProgress())
	if err != nil {
		t.Fatalf("up after the hand edit: %v", err)
	}
	summary(t, "up after the hand edit", up.Summary.ResourceChanges, map[string]int{"update": 1, "same": 4})
	if got := natsStreamInfo(t, c, "my_stream")["max_msgs"]; got != -1.0 {
		t.Errorf("max_msgs after up: %v, want -1 (restored)", got)
	}
	t.Logf("verified: refresh reported the hand edit of max_msgs, up restored -1")

	// A refused change: storage file → memory.
	assets.Streams[0].Storage = jsassets.MemoryStorage
	_, err = stack.Up(ctx, optup.SuppressProgress())
	if err == nil {
		t.Fatal("up with storage file → memory succeeded, want it refused")
	}
	for _, want := range []string{`stream "my_stream"`, "storage", "allowReplace"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %s:\n%v", want, err)
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 10 || info.Config.Storage != jetstream.FileStorage {
		t.Fatalf("after the refused up: %d messages on %v, want the 10 on file storage", info.State.Msgs, info.Config.Storage)
	}
	t.Logf("verified: storage file → memory refused naming my_stream and storage; the 10 messages kept")
	assets.Streams[0].Storage = jsassets.FileStorage

	// Scale out 3 → 5: the server list changes, nothing is replaced.
	changes, err := c.AddNodes(2)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range changes {
		if ch.Index < 3 {
			if err := c.Reload(ctx, ch.Index); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, i := range []int{3, 4} {
		if err := c.StartNode(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	servers = c.ClientURLs()
	pre, err = stack.Preview(ctx, optpreview.SuppressProgress())
	if err != nil {
		t.Fatal(err)
	}
	summary(t, "preview of 3 → 5 servers", pre.ChangeSummary, map[string]int{"update": 1, "same": 4})
	up, err = stack.Up(ctx, optup.SuppressProgress())
	if err != nil {
		t.Fatalf("up with 5 servers: %v", err)
	}
	summary(t, "up with 5 servers", up.Summary.ResourceChanges, map[string]int{"update": 1, "same": 4})
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 10 {
		t.Fatalf("after 3 → 5: %v, %v; want my_stream with its 10 messages", info, err)
	}
	t.Logf("verified: 3 → 5 servers updated the provider only; my_stream kept its 10 messages")

	// destroy deletes the consumer and the stream.
	dres, err := stack.Destroy(ctx)
	if err != nil {
		t.Fatalf("destroy: %v", err)
	}
	summary(t, "destroy", dres.Summary.ResourceChanges, map[string]int{"delete": 5})
	if _, err := jsassets.ReadStream(ctx, js, "my_stream"); err == nil {
		t.Error("my_stream exists after destroy")
	}
	if _, err := jsassets.ReadStream(ctx, js, "kept"); err != nil {
		t.Errorf("the stream with retainOnDelete after destroy: %v, want it kept", err)
	}
	t.Logf("verified: destroy deleted foo_consumer and my_stream, and kept the stream with retainOnDelete")
}

// summary checks the engine's change summary (stack resource included).
func summary(t *testing.T, step string, got any, want map[string]int) {
	t.Helper()
	m := map[string]int{}
	switch g := got.(type) {
	case *map[string]int:
		if g != nil {
			m = *g
		}
	case map[apitype.OpType]int:
		for k, v := range g {
			m[string(k)] = v
		}
	}
	t.Logf("step: %s: the engine's change summary %v", step, m)
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s: %d %s, want %d (summary %v)", step, m[k], k, v, m)
		}
	}
	for k, v := range m {
		if _, ok := want[k]; !ok && v != 0 {
			t.Errorf("%s: %d %s, want none (summary %v)", step, v, k, m)
		}
	}
}

// natsStreamInfo is `nats stream info <name> --json`'s config, run with the
// nats CLI of tools/.
func natsStreamInfo(t *testing.T, c *localcluster.Cluster, name string) map[string]any {
	t.Helper()
	cmd := exec.Command("go", "tool", "-modfile=tools/go.mod", "nats",
		"--server", c.ClientURL(), "--user", c.App().User, "--password", c.App().Password,
		"stream", "info", name, "--json")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nats stream info %s: %v\n%s", name, err, out)
	}
	var info struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("nats stream info %s --json: %v\n%s", name, err, out)
	}
	return info.Config
}
