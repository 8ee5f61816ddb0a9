package program

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/encoding"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

// cliValidateStackConfig is what the Pulumi CLI checks of a stack's config
// before it starts the program (pkg/v3/workspace.ValidateStackConfigAndApplyProjectConfig,
// v3.274.1, without an ESC environment), restated because this module does
// not depend on pkg/v3; its error texts are the CLI's. First every key
// Pulumi.yaml declares in the project's namespace must be set on the stack
// or have a default, which is then set as a plain-text value; then every
// declared key's value must be encrypted if the key is secret, and of the
// key's type. cfg is modified.
func cliValidateStackConfig(stack string, proj *workspace.Project, cfg config.Map) error {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range proj.Config {
			if !yield(k) {
				return
			}
		}
	})
	var missing []string
	for _, k := range keys {
		ct := proj.Config[k]
		key, err := cliConfigKey(proj, k)
		if err != nil {
			return err
		}
		_, found, err := cfg.Get(key, true)
		if err != nil {
			return err
		}
		switch {
		case found:
		case ct.Value != nil || ct.Default != nil:
			v := ct.Value
			if ct.Default != nil {
				v = ct.Default
			}
			cv, err := cliConfigValue(v)
			if err != nil {
				return err
			}
			if err := cfg.Set(key, cv, true); err != nil {
				return err
			}
		case key.Namespace() == proj.Name.String():
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return cliMissingKeysError(stack, missing)
	}
	for _, k := range keys {
		ct := proj.Config[k]
		key, err := cliConfigKey(proj, k)
		if err != nil {
			return err
		}
		v, _, err := cfg.Get(key, true)
		if err != nil {
			return err
		}
		if !ct.IsExplicitlyTyped() {
			continue
		}
		if ct.Secret && !v.Secure() {
			return fmt.Errorf("Stack '%v' with configuration key '%v' must be encrypted as it's secret", stack, k)
		}
		text, err := v.Value(config.NopDecrypter)
		if err != nil {
			return err
		}
		var content any = text
		if v.Object() {
			if err := json.Unmarshal([]byte(text), &content); err != nil {
				return err
			}
		}
		if !workspace.ValidateConfigValue(*ct.Type, ct.Items, content) {
			return fmt.Errorf("Stack '%v' with configuration key '%v' must be of type '%v'",
				stack, k, workspace.InferFullTypeName(*ct.Type, ct.Items))
		}
	}
	return nil
}

// cliMissingKeysError is the CLI's error for the missing keys.
func cliMissingKeysError(stack string, keys []string) error {
	if len(keys) == 1 {
		return fmt.Errorf("Stack '%v' is missing configuration value '%v'", stack, keys[0])
	}
	keys = slices.Sorted(slices.Values(keys))
	var b strings.Builder
	for i, k := range keys {
		switch i {
		case len(keys) - 1:
			fmt.Fprintf(&b, "and '%s'", k)
		case len(keys) - 2:
			fmt.Fprintf(&b, "'%s' ", k)
		default:
			fmt.Fprintf(&b, "'%s', ", k)
		}
	}
	return fmt.Errorf("Stack '%v' is missing configuration values %v", stack, b.String())
}

func cliConfigKey(proj *workspace.Project, k string) (config.Key, error) {
	if strings.Contains(k, ":") {
		return config.ParseKey(k)
	}
	return config.MustMakeKey(proj.Name.String(), k), nil
}

// cliConfigValue is a default as the CLI sets it on the stack: string, int
// and bool as text, anything else as JSON.
func cliConfigValue(v any) (config.Value, error) {
	switch v.(type) {
	case string, int, bool:
		return config.NewValue(fmt.Sprintf("%v", v)), nil
	}
	s, err := workspace.SimplifyMarshalledValue(v)
	if err != nil {
		return config.Value{}, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return config.Value{}, err
	}
	return config.NewObjectValue(string(b)), nil
}

// TestCLIValidationRestatement: cliValidateStackConfig says what the CLI
// says, on the cases that decide this repository's schema (the texts were
// checked against the CLI v3.274.1).
func TestCLIValidationRestatement(t *testing.T) {
	proj := func(yaml string) *workspace.Project {
		p, err := workspace.LoadProjectBytes([]byte("name: p\nruntime: go\nconfig:\n"+yaml), "Pulumi.yaml", encoding.YAML)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := config.MustMakeKey("p", "s")
	for _, c := range []struct {
		name, yaml string
		set        config.Map
		want       string
	}{
		{"no default", "  a: {type: string}\n  b: {type: integer}\n  c: {type: array, items: {type: string}}\n", nil,
			"Stack 'x' is missing configuration values 'a', 'b' and 'c'"},
		{"two missing", "  a: {type: string}\n  b: {type: integer}\n", nil,
			"Stack 'x' is missing configuration values 'a' and 'b'"},
		{"empty defaults", "  a: {type: string, default: \"\"}\n  b: {type: integer, default: 0}\n" +
			"  c: {type: array, items: {type: string}, default: []}\n  d: {type: object, default: {}}\n", nil, ""},
		{"secret set as secret", "  s: {type: string, secret: true}\n", config.Map{key: config.NewSecureValue("x")}, ""},
		{"secret in plain text", "  s: {type: string, secret: true}\n", config.Map{key: config.NewValue("x")},
			"Stack 'x' with configuration key 's' must be encrypted as it's secret"},
		{"secret default", "  s: {type: string, secret: true, default: \"\"}\n", nil,
			"Stack 'x' with configuration key 's' must be encrypted as it's secret"},
		{"undeclared secret", "  a: {type: string, default: \"\"}\n", config.Map{config.MustMakeKey("p", "u"): config.NewValue("x")}, ""},
		{"wrong type", "  s: {type: integer}\n", config.Map{key: config.NewValue("x")},
			"Stack 'x' with configuration key 's' must be of type 'integer'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Map{}
			for k, v := range c.set {
				cfg[k] = v
			}
			err := cliValidateStackConfig("x", proj(c.yaml), cfg)
			if got := fmt.Sprint(err); (c.want == "" && err != nil) || (c.want != "" && got != c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}

// TestStacksPassTheCLIsConfigValidation: every stack file in stacks/, with
// the README's deploy commands and nothing else, passes the CLI's config
// validation; without the commands, what is missing is exactly the declared
// keys they set. So every key Pulumi.yaml declares has a default, is set by
// every stack file, or is set by the README's commands.
func TestStacksPassTheCLIsConfigValidation(t *testing.T) {
	proj := loadProject(t)
	commands := readmeConfigCommands(t)
	values := map[string]string{"sshCidr": "203.0.113.7/32"}
	for k, v := range testSecrets {
		values[k] = v
	}
	files, err := filepath.Glob(repoRoot + "stacks/Pulumi.*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no stack files: %v", err)
	}
	for _, file := range files {
		stack := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "Pulumi."), ".yaml")
		t.Run(stack, func(t *testing.T) {
			load := func() config.Map {
				ps, err := workspace.LoadProjectStack(diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never}), proj, file)
				if err != nil {
					t.Fatal(err)
				}
				return ps.Config
			}

			var wantMissing []string
			for k := range commands {
				if ct, ok := proj.Config[k]; ok && ct.Default == nil {
					if _, set := load()[config.MustMakeKey("natsnest", k)]; !set {
						wantMissing = append(wantMissing, k)
					}
				}
			}
			err := cliValidateStackConfig(stack, proj, load())
			if len(wantMissing) == 0 {
				if err != nil {
					t.Errorf("without the README's commands: %v", err)
				}
			} else if want := cliMissingKeysError(stack, wantMissing); fmt.Sprint(err) != want.Error() {
				t.Errorf("without the README's commands:\n%v\nwant (the declared keys they set)\n%v", err, want)
			}

			cfg := load()
			for k, secret := range commands {
				v, ok := values[k]
				if !ok {
					t.Fatalf("the README sets %s: give this test a value for it", k)
				}
				cv := config.NewValue(v)
				if secret {
					cv = config.NewSecureValue(v)
				}
				if err := cfg.Set(config.MustMakeKey("natsnest", k), cv, false); err != nil {
					t.Fatal(err)
				}
			}
			if err := cliValidateStackConfig(stack, proj, cfg); err != nil {
				t.Errorf("with the README's commands: %v", err)
			}
		})
	}
}
