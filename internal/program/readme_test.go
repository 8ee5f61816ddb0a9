package program

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readmeSection is the README's section that starts with the line heading,
// up to the next heading of that level or above.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	readme, err := os.ReadFile(repoRoot + "README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q section", heading)
	}
	level, _, _ := strings.Cut(heading, " ")
	lines := strings.SplitAfter(section, "\n")
	for i, line := range lines {
		if h, _, ok := strings.Cut(line, " "); ok && h != "" && strings.Trim(h, "#") == "" && len(h) <= len(level) {
			return strings.Join(lines[:i], "")
		}
	}
	return section
}

var readmeConfigSet = regexp.MustCompile(`^pulumi config set (--secret )?natsnest:([A-Za-z0-9]+) `)

// readmeConfigCommands are the keys the README's deploy commands set (the
// `pulumi config set` lines of the first sh block of "## Deploy on Alibaba
// Cloud"), each with whether it is set with --secret.
func readmeConfigCommands(t *testing.T) map[string]bool {
	t.Helper()
	_, block, ok := strings.Cut(readmeSection(t, "## Deploy on Alibaba Cloud"), "```sh\n")
	if !ok {
		t.Fatal("README's deploy section has no sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	out := map[string]bool{}
	for _, line := range strings.Split(block, "\n") {
		if m := readmeConfigSet.FindStringSubmatch(line); m != nil {
			out[m[2]] = m[1] != ""
		}
	}
	if len(out) == 0 {
		t.Fatal("README's deploy commands set no config key")
	}
	return out
}

// readmeDefault is how the README's table shows a schema default.
func readmeDefault(t *testing.T, v any) string {
	if v == nil {
		return "—"
	}
	if v == "" {
		return "`\"\"`"
	}
	return "`" + configString(t, v) + "`"
}

// The README's parameter table is the user's reference: every key of the
// config schema must be in it, with the schema's type and default, and so
// must the optional secrets, which the schema cannot declare (see
// SecretConfigKeys), each saying so; it must list no other key.
func TestREADMEListsEveryParameter(t *testing.T) {
	proj := loadProject(t)
	type row struct{ typ, def, meaning string }
	rows := map[string]row{}
	for _, line := range strings.Split(readmeSection(t, "### Parameters"), "\n") {
		if strings.HasPrefix(line, "| `") {
			cells := strings.Split(line, " | ")
			if len(cells) != 4 {
				t.Errorf("README's parameter row %q does not have 4 cells", line)
				continue
			}
			rows[strings.Trim(cells[0], "| `")] = row{cells[1], cells[2], strings.TrimSuffix(cells[3], " |")}
		}
	}
	for key, ct := range proj.Config {
		r, ok := rows[key]
		if !ok {
			t.Errorf("README's parameter table lacks %s", key)
			continue
		}
		wantType := ct.TypeName()
		if ct.Secret {
			wantType += " (secret)"
		}
		if r.typ != wantType {
			t.Errorf("README gives %s the type %s, Pulumi.yaml %s", key, r.typ, wantType)
		}
		if want := readmeDefault(t, ct.Default); r.def != want {
			t.Errorf("README gives %s the default %s, Pulumi.yaml %s", key, r.def, want)
		}
		delete(rows, key)
	}
	for _, key := range optionalSecretConfigKeys() {
		r, ok := rows[key]
		if !ok {
			t.Errorf("README's parameter table lacks the optional secret %s", key)
			continue
		}
		if _, declared := proj.Config[key]; declared {
			continue // TestPulumiYAMLDeclaresEveryConfigKey reports it
		}
		if r.typ != "string (secret)" || r.def != "—" || !strings.HasPrefix(r.meaning, "Not declared in Pulumi.yaml: set it with `--secret`.") {
			t.Errorf("README's row of %s is %q; want type \"string (secret)\", no default, and a meaning that starts "+
				"\"Not declared in Pulumi.yaml: set it with `--secret`.\"", key, r)
		}
		delete(rows, key)
	}
	for key := range rows {
		t.Errorf("README lists %s, which is neither declared in Pulumi.yaml nor an optional secret", key)
	}
}

// The README's deploy commands set the required secrets with --secret, and
// nothing the schema does not know.
func TestREADMESetsTheRequiredSecrets(t *testing.T) {
	proj := loadProject(t)
	set := readmeConfigCommands(t)
	for _, k := range requiredSecretConfigKeys {
		if secret, ok := set[k]; !ok || !secret {
			t.Errorf("README's deploy commands do not set %s with --secret", k)
		}
	}
	for k, secret := range set {
		if slices.Contains(SecretConfigKeys, k) != secret {
			t.Errorf("README's deploy commands set %s with --secret = %v", k, secret)
		}
		if _, declared := proj.Config[k]; !declared && !slices.Contains(SecretConfigKeys, k) {
			t.Errorf("README's deploy commands set %s, which the program does not read", k)
		}
	}
}
