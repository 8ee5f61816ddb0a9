package program

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// TestBadStackConfigIsRefusedNamingTheKey runs the real program on the
// cluster stack with one bad input each, as `pulumi up` passes config (also
// in PULUMI_CONFIG): every one is refused before any resource is
// registered, by an error that names the stack key the user set and
// repeats no secret.
func TestBadStackConfigIsRefusedNamingTheKey(t *testing.T) {
	proj := loadProject(t)
	seedKP, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := seedKP.Seed()
	for _, c := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"SSH open to the internet with public access", map[string]string{"sshCidr": "0.0.0.0/0"},
			`config sshCidr: "0.0.0.0/0" opens SSH on every node to a public range wider than a /24`},
		{"a misspelt key", map[string]string{"tlscert": "-----BEGIN CERTIFICATE-----"},
			"config natsnest:tlscert: is not a key natsnest reads; did you mean natsnest:tlsCert?"},
		{"nodeCount 0", map[string]string{"nodeCount": "0"},
			"config nodeCount: is set to zero or empty, which natsnest would read as its default (3)"},
		{"maxMemoryStore 0", map[string]string{"maxMemoryStore": "0"},
			"config maxMemoryStore: is set to zero or empty"},
		{"TLS options without a certificate", map[string]string{"tlsVerifyClients": "true", "tlsCa": "-----BEGIN CERTIFICATE-----"},
			"config tlsVerifyClients: needs tlsCert and tlsKey"},
		{"an NKEY seed as the application password", map[string]string{"appPassword": string(seed)},
			"config appPassword: looks like an NKEY seed"},
		{"a public vpcCidr of an existing VPC", map[string]string{
			"vpcId": "vpc-1", "vswitchIds": `["vsw-1"]`, "vpcCidr": "8.8.0.0/16", "publicAccess": "true"},
			`config vpcCidr: "8.8.0.0/16" must lie in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16`},
		{"a server tag that is no tag", map[string]string{"serverTags": `["az:cn-hangzhou-i"]`},
			`config serverTags[0]: "az:cn-hangzhou-i": the az: tag is set from each host's zone`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := stackConfig(t, proj, "cluster")
			maps.Copy(cfg, testSecrets)
			cfg["sshCidr"] = "203.0.113.7/32"
			maps.Copy(cfg, c.set)
			full := map[string]string{}
			for k, v := range cfg {
				if !strings.Contains(k, ":") {
					k = "natsnest:" + k
				}
				full[k] = v
			}
			env, err := json.Marshal(full)
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv("PULUMI_CONFIG", string(env))
			m := &programMocks{}
			err = pulumi.RunErr(Program, pulumi.WithMocks("natsnest", "cluster", m), func(info *pulumi.RunInfo) {
				info.Config = full
			})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v,\nwant %q", err, c.want)
			}
			if !errors.Is(err, natsnest.ErrInvalidArgs) {
				t.Errorf("%v does not wrap natsnest.ErrInvalidArgs", err)
			}
			if len(m.regs()) != 0 {
				t.Errorf("%d resources registered before the error", len(m.regs()))
			}
			for _, s := range append(slices.Collect(maps.Values(testSecrets)), string(seed)) {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error repeats a secret (%.4s…): %v", s, err)
				}
			}
		})
	}
}

// TestThreeMistakesAtOnce: every problem is reported in one run, each
// naming its key, as the README shows.
func TestThreeMistakesAtOnce(t *testing.T) {
	proj := loadProject(t)
	cfg := stackConfig(t, proj, "cluster")
	maps.Copy(cfg, testSecrets)
	cfg["sshCidr"], cfg["nodeCount"], cfg["dataDiskCategory"] = "0.0.0.0/0", "4", "cloud_auto"
	full := map[string]string{}
	for k, v := range cfg {
		if !strings.Contains(k, ":") {
			k = "natsnest:" + k
		}
		full[k] = v
	}
	err := pulumi.RunErr(Program, pulumi.WithMocks("natsnest", "cluster", &programMocks{}), func(info *pulumi.RunInfo) {
		info.Config = full
	})
	for _, want := range []string{"config nodeCount: 4 must be 1 or an odd number", "config dataDiskCategory:", "config sshCidr:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	if os.Getenv("NATSNEST_SHOW_ERRORS") != "" {
		t.Log(err)
	}

	// A value that does not parse hides nothing else, and is reported once.
	full["natsnest:nodeCount"] = "three"
	err = pulumi.RunErr(Program, pulumi.WithMocks("natsnest", "cluster", &programMocks{}), func(info *pulumi.RunInfo) {
		info.Config = full
	})
	if err == nil || !strings.Contains(err.Error(), `config nodeCount: "three" is not an integer`) ||
		!strings.Contains(err.Error(), "config sshCidr:") || strings.Count(err.Error(), "config nodeCount") != 1 {
		t.Errorf("a parse error and a rule broken: %v", err)
	}
}

// TestNonZeroDefaultsAreTheSchemas: the keys an explicit zero is refused for
// are exactly those whose Pulumi.yaml default is not "", 0, [] or false.
func TestNonZeroDefaultsAreTheSchemas(t *testing.T) {
	want := map[string]string{}
	for k, v := range schemaDefaults(t, loadProject(t)) {
		if v != "" && v != "0" && v != "[]" && v != "{}" && v != "false" {
			want[k] = v
		}
	}
	if !maps.Equal(nonZeroDefaults, want) {
		t.Errorf("nonZeroDefaults = %v,\nPulumi.yaml's non-zero defaults %v", nonZeroDefaults, want)
	}
}

// TestFieldKeysAreStackKeys: every stack key an error may name is one the
// program reads.
func TestFieldKeysAreStackKeys(t *testing.T) {
	for field, key := range fieldKeys {
		if !slices.Contains(ClusterConfigKeys(), key) {
			t.Errorf("%s maps to %s, which is no stack key", field, key)
		}
	}
	if got := unknownConfigKeys("natsnest", map[string]string{"natsnest:nodeCount": "3", "alicloud:region": "x", "natsnest:tlsVerifyClient": "true"}); got == nil ||
		!strings.Contains(got.Error(), "did you mean natsnest:tlsVerifyClients?") || strings.Contains(got.Error(), "nodeCount") {
		t.Errorf("unknownConfigKeys: %v", got)
	}
}

// TestSizesWithUnits: store and disk sizes take units; a bare number keeps
// its meaning (bytes for the stores, GiB for disks).
func TestSizesWithUnits(t *testing.T) {
	a, err := ClusterArgsFromConfig(getter(map[string]string{
		"maxFileStore": "30GiB", "maxMemoryStore": "512MiB", "dataDiskSize": "1TiB", "systemDiskSize": "100",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if a.MaxFileStore != 30*natsnest.GiB || a.MaxMemoryStore != 512*natsnest.MiB || a.DataDiskSize != 1024 || a.SystemDiskSize != 100 {
		t.Errorf("file %d memory %d data %d system %d", a.MaxFileStore, a.MaxMemoryStore, a.DataDiskSize, a.SystemDiskSize)
	}
	a, err = ClusterArgsFromConfig(getter(map[string]string{"maxFileStore": "10737418240", "dataDiskSize": "40GiB"}))
	if err != nil || a.MaxFileStore != 10*natsnest.GiB || a.DataDiskSize != 40 {
		t.Errorf("bare bytes and GiB with a unit: %v, %d, %d", err, a.MaxFileStore, a.DataDiskSize)
	}
	_, err = ClusterArgsFromConfig(getter(map[string]string{
		"maxFileStore": "10GB", "dataDiskSize": "1536MiB", "maxMemoryStore": "-1GiB", "systemDiskSize": "0GiB",
	}))
	for _, want := range []string{
		`config maxFileStore: "10GB" is not a size`, "config dataDiskSize: disks come in whole GiB",
		`config maxMemoryStore: "-1GiB" is not a size`, "config systemDiskSize: is set to zero or empty",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
