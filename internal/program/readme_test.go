package program

import (
	"os"
	"strings"
	"testing"
)

// The README's parameter table is the user's reference: every key of the
// config schema must be in it, with the schema's default, and it must not
// list keys the schema does not have.
func TestREADMEListsEveryParameter(t *testing.T) {
	proj := loadProject(t)
	readme, err := os.ReadFile(repoRoot + "README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The table is the section "### Parameters", up to the next heading.
	_, table, ok := strings.Cut(string(readme), "\n### Parameters\n")
	if !ok {
		t.Fatal(`README has no "### Parameters" section`)
	}
	if i := strings.Index(table, "\n#"); i >= 0 {
		table = table[:i]
	}
	rows := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "| `") {
			cells := strings.Split(line, "|")
			rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(cells[3])
		}
	}
	for key, typ := range proj.Config {
		row, ok := rows[key]
		if !ok {
			t.Errorf("README's parameter table lacks %s", key)
			continue
		}
		if typ.Default != nil {
			if want := "`" + configString(t, typ.Default) + "`"; row != want {
				t.Errorf("README gives %s the default %s, Pulumi.yaml %s", key, row, want)
			}
		} else if row != "—" {
			t.Errorf("README gives %s the default %s, Pulumi.yaml none", key, row)
		}
		delete(rows, key)
	}
	for key := range rows {
		t.Errorf("README lists %s, which Pulumi.yaml does not declare", key)
	}
}
