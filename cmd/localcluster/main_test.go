package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/localcluster"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// -accounts and -apply as a user writes them: their declarations are
// applied as their own user, in their own account.
func TestApplyAUsersDeclarations(t *testing.T) {
	accounts, err := readAccounts(writeFile(t, `[{"name": "ORDERS", "jetstream": true, "users": [{"name": "orders", "password": "orders-password-0123"}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	assets, err := readAssets(writeFile(t, `{"streams": [{"name": "ORDERS", "subjects": ["orders.>"], "maxBytes": 1048576}],
		"consumers": [{"stream": "ORDERS", "name": "shipper", "filterSubjects": ["orders.paid"], "maxDeliver": 5}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := localcluster.StartT(t, localcluster.Options{Nodes: 1, Accounts: accounts, MaxFileStore: 64 << 20})
	if err := apply(t.Context(), c, *assets); err != nil {
		t.Fatal(err)
	}
	if err := apply(t.Context(), c, *assets); err != nil {
		t.Fatalf("applying again: %v", err)
	}
	if c.AppAccount() != "ORDERS" || c.App().User != "orders" {
		t.Errorf("applied as %s in account %s, want orders in ORDERS", c.App().User, c.AppAccount())
	}
}

// A misspelt setting and a bad value are both reported, before anything starts.
func TestBadDeclarationsAreRefusedBeforeStarting(t *testing.T) {
	if _, err := readAssets(writeFile(t, `{"streams": [{"name": "A", "maxMsg": 5}]}`)); err == nil || !strings.Contains(err.Error(), `unknown field "maxMsg"`) {
		t.Errorf("misspelt field: %v", err)
	}
	_, err := readAssets(writeFile(t, `{"streams": [{"name": "A", "storage": "disk", "replicas": 9}]}`))
	for _, want := range []string{"stream A.storage", "stream A.replicas"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad values: %v, want it to name %s", err, want)
		}
	}
}
