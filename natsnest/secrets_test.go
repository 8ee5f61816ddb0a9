package natsnest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
)

// generated is a resource whose output is a secret, as a generated
// password or a key from a secrets manager is; under natsnesttest's mocks
// its state is its inputs, so its result is what the test gives it.
type generated struct {
	pulumi.CustomResourceState
	Result pulumi.StringOutput `pulumi:"result"`
}

func generate(ctx *pulumi.Context, name, value string) (pulumi.StringOutput, error) {
	var g generated
	err := ctx.RegisterResource("test:index:Generated", name, pulumi.Map{"result": pulumi.ToSecret(pulumi.String(value))}, &g)
	return g.Result, err
}

const (
	plainAdmin = "Kq8#zR2vN6pW0xTy4mB7dLs"
	plainApp   = "Hn5$wQ9cV3kJ7rLp"
	plainStack = "Jr3v9QkP2mXw7TzLq3J0n2tY9sJ6mV1k"
	plainRoot  = "Zx9#Lm4$Qw7Er"
)

// secretArgs is a three-node Cluster whose secrets come from secret(name,
// value): plain values, config secrets or another resource's outputs.
func secretArgs(secret func(name, value string) pulumi.StringInput) *natsnest.ClusterArgs {
	return &natsnest.ClusterArgs{
		ServerOptions: natsnest.ServerOptions{
			AdminPassword: secret("admin", plainAdmin),
			StackSecret:   secret("stack", plainStack),
			Accounts:      []natsnest.Account{{Users: []natsnest.User{{Name: "app", Password: secret("app", plainApp)}}}},
		},
		NodeCount:        3,
		Zones:            []string{"cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"},
		InstancePassword: secret("root", plainRoot),
		PublicAccess:     true,
		SSHCIDR:          "203.0.113.7/32",
	}
}

// deploySecrets runs secretArgs under natsnesttest's mocks, with the
// secrets made by how.
func deploySecrets(t *testing.T, how string, override map[string]string, after ...*natsnesttest.Mocks) (*natsnesttest.Mocks, error) {
	t.Helper()
	m := natsnesttest.New()
	for _, prev := range after {
		// The next up of the same stack: the nodes keep their host keys.
		m = prev.Next()
	}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var errs []error
		secret := func(name, value string) pulumi.StringInput {
			if v, ok := override[name]; ok {
				value = v
			}
			switch how {
			case "plain":
				return pulumi.String(value)
			case "config":
				// What cfg.RequireSecret returns.
				return pulumi.ToSecret(pulumi.String(value)).(pulumi.StringOutput)
			default:
				out, err := generate(ctx, name, value)
				errs = append(errs, err)
				return out
			}
		}
		a := secretArgs(secret)
		if err := errors.Join(errs...); err != nil {
			return err
		}
		_, err := natsnest.NewCluster(ctx, "c", a)
		return err
	}, pulumi.WithMocks("p", "s", m))
	return m, err
}

// stepInputs are the inputs every instance and command received, by name.
func stepInputs(m *natsnesttest.Mocks) map[string]resource.PropertyMap {
	out := map[string]resource.PropertyMap{}
	for _, typ := range []string{natsnesttest.Instance, natsnesttest.Command, natsnesttest.LocalCommand} {
		for _, r := range m.Resources(typ) {
			out[r.Name] = r.Inputs
		}
	}
	return out
}

// A secret from config or from another resource's output renders the same
// node files, instance password and connections as the plain value, and
// stays secret wherever it lands.
func TestSecretsAsOutputsRenderTheSame(t *testing.T) {
	m, err := deploySecrets(t, "plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := stepInputs(m)
	if len(want) != 3+3*10 {
		t.Fatalf("%d instances and commands, want 3 and 30 (7 steps and 3 host key steps per node)", len(want))
	}
	plain := m
	for _, how := range []string{"config", "resource"} {
		m, err := deploySecrets(t, how, nil, plain)
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		got := stepInputs(m)
		for name, in := range want {
			for k, v := range in {
				if strings.HasSuffix(name, "-hostkey") && k == "stdin" {
					continue // a new key each run, ignored: the state's is kept
				}
				g := got[name][k]
				if !g.DeepEquals(v) {
					t.Errorf("%s: %s.%s differs from the plain value's", how, name, k)
				}
			}
		}
		for step, typ := range map[string]string{"c-servers-nats-1-config": natsnesttest.Command, "c-servers-nats-1-leave": natsnesttest.LocalCommand} {
			c, ok := m.Resource(typ, step)
			if !ok {
				t.Fatalf("%s: no command %s", how, step)
			}
			if in := c.Inputs["stdin"]; !in.IsSecret() || c.Input("stdin") == "" {
				t.Errorf("%s: %s's stdin is empty or not secret", how, step)
			}
		}
		inst, _ := m.Resource(natsnesttest.Instance, "c-nats-1")
		if pw := inst.Inputs["password"]; !pw.IsSecret() || inst.Input("password") != plainRoot {
			t.Errorf("%s: the instance password is %v", how, pw)
		}
	}
}

// A secret that breaks a rule fails NewCluster naming the field and the
// rule — before any instance or command is registered, whether it was
// given plain, from config or as another resource's output — and the
// message never holds the secret.
func TestInvalidSecretOutputRegistersNothing(t *testing.T) {
	bad := map[string]string{"admin": "short-admin-pw", "app": "Password1234!", "stack": "abcdabcdabcdabcd"}
	for _, how := range []string{"plain", "config", "resource"} {
		m, err := deploySecrets(t, how, bad)
		if !errors.Is(err, natsnest.ErrInvalidArgs) {
			t.Fatalf("%s: err = %v, want ErrInvalidArgs", how, err)
		}
		for _, want := range []string{
			"AdminPassword: must be 22 to 30 characters, got 14",
			`Accounts[0].Users[0].Password: is a common password ("password")`,
			"StackSecret: has too little entropy",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: missing %q in %v", how, want, err)
			}
		}
		for _, v := range bad {
			if strings.Contains(err.Error(), v) {
				t.Errorf("%s: the error holds the secret %q", how, v)
			}
		}
		if n := len(m.Resources(natsnesttest.Instance)) + len(m.Resources(natsnesttest.Command)) + len(m.Resources(natsnesttest.LocalCommand)); n != 0 {
			t.Errorf("%s: %d instances and commands registered with an invalid secret", how, n)
		}
		if n := len(m.Resources(natsnesttest.SecurityGroup)); n != 0 {
			t.Errorf("%s: %d security groups registered with an invalid secret", how, n)
		}
	}
}

// Validate, called by a program before NewCluster, checks config secrets
// too: every problem at once, before anything exists.
func TestValidateChecksConfigSecrets(t *testing.T) {
	a := secretArgs(func(name, value string) pulumi.StringInput {
		if name == "admin" {
			value = "x"
		}
		return pulumi.ToSecret(pulumi.String(value)).(pulumi.StringOutput)
	})
	a.NodeCount = 4
	err := a.Validate()
	if err == nil || !strings.Contains(err.Error(), "AdminPassword: must be 22 to 30 characters, got 1") || !strings.Contains(err.Error(), "NodeCount: 4") {
		t.Errorf("Validate: %v", err)
	}
}

// In a preview, a secret from a resource still to be created is unknown:
// NewCluster does not fail, and what is derived from it is unknown, not
// rendered from a placeholder.
func TestUnknownSecretInAPreview(t *testing.T) {
	m := natsnesttest.New()
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		a := secretArgs(func(name, value string) pulumi.StringInput {
			if name == "admin" {
				return pulumi.UnsafeUnknownOutput(nil).ApplyT(func(any) string { return "" }).(pulumi.StringOutput)
			}
			return pulumi.String(value)
		})
		_, err := natsnest.NewCluster(ctx, "c", a)
		return err
	}, pulumi.WithMocks("p", "s", m), func(info *pulumi.RunInfo) { info.DryRun = true })
	if err != nil {
		t.Fatal(err)
	}
	cmds := append(m.Resources(natsnesttest.Command), m.Resources(natsnesttest.LocalCommand)...)
	if len(cmds) != 30 {
		t.Fatalf("%d commands in the preview, want 30 (18 on the nodes, 3 leave steps, 9 host key steps)", len(cmds))
	}
	for _, c := range cmds {
		if strings.HasSuffix(c.Name, "-config") || strings.HasSuffix(c.Name, "-leave") {
			if in, ok := c.Inputs["stdin"]; ok && !in.ContainsUnknowns() {
				t.Errorf("%s: stdin is known while the admin password is not: %v", c.Name, in)
			}
		}
	}
}
