package program

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// FuzzClusterArgsFromConfig: any value of any stack key is read without a
// panic; a value that is refused is refused by an error that wraps
// ErrInvalidArgs and names the key; the value of a secret key is never
// repeated; and whatever is read, validation names stack keys only.
func FuzzClusterArgsFromConfig(f *testing.F) {
	for _, seed := range [][2]string{
		{"nodeCount", "three"}, {"zones", `["cn-hangzhou-i",`}, {"resourceTags", `{"a":1}`},
		{"lameDuckDuration", "1h"}, {"appPassword", "SUAM3KDYT7Y2NHBZ4QQOZFQXUPHM4DNTKJ5SO6MWCTHZ3WBYRSQGQ2MPRQ"},
		{"sshCidr", "0.0.0.0/0"}, {"tlsVerifyClients", "true"}, {"maxMemoryStore", "0"}, {"vswitchIds", "a, b"},
	} {
		f.Add(seed[0], seed[1])
	}
	keys := ClusterConfigKeys()
	f.Fuzz(func(t *testing.T, key, value string) {
		if !slices.Contains(keys, key) {
			key = keys[len(key)%len(keys)]
		}
		cfg := map[string]string{
			"zones": `["cn-hangzhou-i"]`, "adminPassword": "Admin-password-0123456789",
			"stackSecret": "stack-secret-0123456789", "appPassword": "app-password-0123",
			"instancePassword": "Instance-Pw-42", "publicAccess": "true", "sshCidr": "203.0.113.7/32",
		}
		cfg[key] = value
		a, err := ClusterArgsFromConfig(getter(cfg))
		if a == nil {
			t.Fatal("no arguments returned")
		}
		if err != nil {
			if !errors.Is(err, natsnest.ErrInvalidArgs) || !strings.Contains(err.Error(), "config "+key) {
				t.Fatalf("%s=%q: %v", key, value, err)
			}
		}
		all := configProblems(err, stackKeyErrors(a.Validate()))
		if all == nil {
			return
		}
		if slices.Contains(SecretConfigKeys, key) && len(value) >= 6 && strings.Contains(all.Error(), value) {
			t.Fatalf("the error repeats the secret %s", key)
		}
		for _, e := range leaves(all) {
			if !strings.Contains(e.Error(), "config ") {
				t.Errorf("a problem names no stack key: %v", e)
			}
		}
	})
}
