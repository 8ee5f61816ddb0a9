package cloud

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// SocketEnv names the unix socket the shim plugin forwards to.
const SocketEnv = "NATSNEST_CLOUD_SOCKET"

// PluginVersion is what the emulated plugin reports: the version of the
// pulumi-alicloud SDK natsnest is built with.
const PluginVersion = "3.10.0"

// Serve answers the provider protocol on a unix socket in dir until t ends,
// and returns the socket's path (for SocketEnv).
func (c *Cloud) Serve(t testing.TB, dir string) string {
	t.Helper()
	sock := filepath.Join(dir, "cloud.sock")
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("cloud: %v", err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64<<20), grpc.MaxSendMsgSize(64<<20))
	pulumirpc.RegisterResourceProviderServer(srv, &server{c: c})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return sock
}

// server is the ResourceProvider the shim forwards to.
type server struct {
	pulumirpc.UnimplementedResourceProviderServer
	c *Cloud
}

var marshal = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}

func props(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, marshal)
}

func structOf(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, marshal)
}

// decode is the kind a URN names and the property maps of the structs.
func decode(urn string, structs ...*structpb.Struct) (*kind, []resource.PropertyMap, error) {
	k, err := kindOf(urn)
	if err != nil {
		return nil, nil, err
	}
	maps := make([]resource.PropertyMap, len(structs))
	for i, st := range structs {
		if maps[i], err = props(st); err != nil {
			return nil, nil, err
		}
	}
	return k, maps, nil
}

// typeOf is a URN's resource type.
func typeOf(urn string) string { return string(resource.URN(urn).Type()) }

func (s *server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: PluginVersion}, nil
}

func (s *server) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: `{"name":"alicloud","version":"` + PluginVersion + `"}`}, nil
}

func (s *server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// CheckConfig: the region is required (the real provider takes it from
// alicloud:region or ALICLOUD_REGION, which the tier never sets).
func (s *server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	news, err := props(req.GetNews())
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	if r := news["region"]; !r.IsString() || r.StringValue() == "" {
		failures = append(failures, &pulumirpc.CheckFailure{Property: "region", Reason: "the region is required: pulumi config set alicloud:region <region>"})
	} else if r.StringValue() != s.c.Region {
		failures = append(failures, &pulumirpc.CheckFailure{Property: "region", Reason: fmt.Sprintf("the emulated cloud is region %s, not %s", s.c.Region, r.StringValue())})
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

func (s *server) DiffConfig(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := props(req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	news, err := props(req.GetNews())
	if err != nil {
		return nil, err
	}
	var diffs []string
	for _, k := range changedKeys(olds, news) {
		diffs = append(diffs, string(k))
	}
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(diffs) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{Changes: changes, Diffs: diffs}, nil
}

func (s *server) Configure(_ context.Context, req *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (s *server) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	args, err := props(req.GetArgs())
	if err != nil {
		return nil, err
	}
	fn, ok := invokes[req.GetTok()]
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "the emulated cloud has no function %s", req.GetTok())
	}
	ret, err := fn(s.c, args)
	if err != nil {
		return nil, err
	}
	out, err := structOf(ret)
	return &pulumirpc.InvokeResponse{Return: out}, err
}

// Check validates the inputs as the real provider's schema does and fills
// in its defaults.
func (s *server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	k, m, err := decode(req.GetUrn(), req.GetNews())
	if err != nil {
		return nil, err
	}
	news := m[0]
	for key, def := range k.defaults {
		if _, ok := news[resource.PropertyKey(key)]; !ok {
			news[resource.PropertyKey(key)] = def
		}
	}
	var failures []*pulumirpc.CheckFailure
	for _, key := range k.required {
		if v, ok := news[resource.PropertyKey(key)]; !ok || v.IsNull() {
			failures = append(failures, &pulumirpc.CheckFailure{Property: key, Reason: fmt.Sprintf("%s: required field is not set", key)})
		}
	}
	for _, v := range k.validations {
		val, ok := news[resource.PropertyKey(v.property)]
		if !ok || val.ContainsUnknowns() {
			continue
		}
		if reason := v.check(underlying(val)); reason != "" {
			failures = append(failures, &pulumirpc.CheckFailure{Property: v.property, Reason: fmt.Sprintf("%s: %s (%s)", v.property, reason, v.cite)})
		}
	}
	inputs, err := structOf(news)
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, err
}

// Diff classifies every changed input: a ForceNew argument replaces, any
// other updates in place.
func (s *server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	k, m, err := decode(req.GetUrn(), req.GetOldInputs(), req.GetNews())
	if err != nil {
		return nil, err
	}
	olds, news := m[0], m[1]
	detailed := map[string]*pulumirpc.PropertyDiff{}
	var diffs, replaces []string
	for _, key := range changedKeys(olds, news) {
		name := string(key)
		if slices.Contains(req.GetIgnoreChanges(), name) {
			continue
		}
		kind := pulumirpc.PropertyDiff_UPDATE
		if _, ok := k.forceNew[name]; ok {
			kind = pulumirpc.PropertyDiff_UPDATE_REPLACE
			replaces = append(replaces, name)
		}
		detailed[name] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
		diffs = append(diffs, name)
	}
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(diffs) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{Changes: changes, Diffs: diffs, Replaces: replaces,
		DetailedDiff: detailed, HasDetailedDiff: true}, nil
}

func (s *server) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	k, m, err := decode(req.GetUrn(), req.GetProperties())
	if err != nil {
		return nil, err
	}
	in := m[0]
	if req.GetPreview() {
		out := in.Copy()
		for _, key := range k.computed {
			if _, ok := out[resource.PropertyKey(key)]; !ok {
				out[resource.PropertyKey(key)] = resource.MakeComputed(resource.NewProperty(""))
			}
		}
		st, err := structOf(out)
		return &pulumirpc.CreateResponse{Properties: st}, err
	}
	id, out, err := s.c.create(k, resource.URN(req.GetUrn()).Name(), plainMap(in))
	if err != nil {
		return nil, err
	}
	st, err := structOf(keepSecrets(in, out))
	return &pulumirpc.CreateResponse{Id: id, Properties: st}, err
}

func (s *server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	k, m, err := decode(req.GetUrn(), req.GetProperties())
	if err != nil {
		return nil, err
	}
	state := m[0]
	out, ok := s.c.read(k, req.GetId())
	if !ok {
		return &pulumirpc.ReadResponse{}, nil
	}
	st, err := structOf(keepSecrets(state, out))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: st, Inputs: req.GetInputs()}, nil
}

func (s *server) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	k, m, err := decode(req.GetUrn(), req.GetOldInputs(), req.GetNews())
	if err != nil {
		return nil, err
	}
	olds, news := m[0], m[1]
	if req.GetPreview() {
		st, err := structOf(news)
		return &pulumirpc.UpdateResponse{Properties: st}, err
	}
	var changed []string
	for _, key := range changedKeys(olds, news) {
		if !slices.Contains(req.GetIgnoreChanges(), string(key)) {
			changed = append(changed, string(key))
		}
	}
	out, err := s.c.update(k, req.GetId(), plainMap(news), changed)
	if err != nil {
		return nil, err
	}
	st, err := structOf(keepSecrets(news, out))
	return &pulumirpc.UpdateResponse{Properties: st}, err
}

func (s *server) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	k, err := kindOf(req.GetUrn())
	if err != nil {
		return nil, err
	}
	if err := s.c.remove(k, req.GetId()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// changedKeys is every key whose value differs between two input maps,
// sorted.
func changedKeys(olds, news resource.PropertyMap) []resource.PropertyKey {
	var keys []resource.PropertyKey
	seen := map[resource.PropertyKey]bool{}
	for _, m := range []resource.PropertyMap{olds, news} {
		for k := range m {
			if seen[k] || strings.HasPrefix(string(k), "__") {
				continue
			}
			seen[k] = true
			o, n := olds[k], news[k]
			if n.ContainsUnknowns() || !underlying(o).DeepEquals(underlying(n)) {
				keys = append(keys, k)
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// underlying strips the secret wrapper.
func underlying(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// plainMap is m with every secret unwrapped: the cloud sees plaintext, as
// the real provider does.
func plainMap(m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for k, v := range m {
		out[k] = underlying(v)
	}
	return out
}

// keepSecrets marks in out what was secret in in.
func keepSecrets(in, out resource.PropertyMap) resource.PropertyMap {
	res := out.Copy()
	for k, v := range in {
		if v.IsSecret() {
			if o, ok := res[k]; ok && !o.IsSecret() {
				res[k] = resource.MakeSecret(o)
			}
		}
	}
	return res
}
