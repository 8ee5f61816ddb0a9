package program

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// ConfigGetter returns the raw value of a stack config key of the project's
// namespace ("nodeCount" for "natsnest:nodeCount") and whether it is set.
// Structured values (lists, maps) arrive as JSON, as Pulumi passes them.
type ConfigGetter func(key string) (string, bool)

// SecretConfigKeys are the stack config keys that hold secrets, set with
// `pulumi config set --secret`; Program warns about any of them set in plain
// text. Pulumi.yaml declares only requiredSecretConfigKeys (`secret: true`, no
// default): the CLI refuses to run a stack that lacks a declared key without a
// default, and a secret cannot have a default (it would be plain text). The
// optional ones are read all the same: a stack may set keys of the project's
// namespace that Pulumi.yaml does not declare.
var SecretConfigKeys = []string{
	"adminPassword", "stackSecret", "appPassword", "instancePassword", "sshPrivateKey",
	"bastionPrivateKey", "bastionPassword", "tlsKey", "binaryUrl",
}

// requiredSecretConfigKeys are the SecretConfigKeys every stack sets, the
// ones the README's deploy commands set and Pulumi.yaml declares.
// instancePassword is not one of them: keyPairName with sshPrivateKey
// replaces it.
var requiredSecretConfigKeys = []string{"adminPassword", "stackSecret", "appPassword"}

// clusterConfigKeys are every key ClusterArgsFromConfig reads.
var clusterConfigKeys = []string{
	"nodeCount", "zones", "nodeNamePrefix", "chargeType", "period", "periodUnit", "renewalStatus", "autoRenewPeriod",
	"vpcId", "vswitchIds", "vpcCidr", "vswitchCidrs",
	"instanceType", "imageId", "imageNameRegex", "systemDiskSize", "systemDiskCategory",
	"dataDiskSize", "dataDiskCategory", "deleteDataDisksOnDestroy",
	"instancePassword", "keyPairName", "sshPrivateKey",
	"publicAccess", "internetBandwidth", "internetChargeType",
	"allowedClientCidrs", "sshCidr", "monitoringCidr", "resourceTags",
	"natsVersion", "clusterName", "adminPassword", "stackSecret",
	"appAccount", "appUser", "appPassword",
	"maxFileStore", "maxMemoryStore", "durability", "serverTags",
	"lameDuckDuration", "lameDuckGracePeriod",
	"bastionHost", "bastionPort", "bastionUser", "bastionHostKey", "bastionPrivateKey", "bastionPassword",
	"binaryUrl", "binarySha256", "binaryPath", "binaryArch",
	"allowAnonymous", "allowPublicMonitoring", "allowPublicSsh", "allowPublicAnonymous",
	"tlsCa", "tlsCert", "tlsKey", "tlsVerifyClients", "tlsMonitoring",
}

// ClusterConfigKeys returns, sorted, every stack config key that
// ClusterArgsFromConfig reads; the root Pulumi.yaml declares each of them but
// the optional secrets (SecretConfigKeys not in requiredSecretConfigKeys).
func ClusterConfigKeys() []string {
	keys := slices.Clone(clusterConfigKeys)
	slices.Sort(keys)
	return keys
}

// Defaults of the stack program that natsnest.ClusterArgs does not have.
const (
	DefaultAppUser = "app"
)

// ClusterArgsFromConfig maps a stack's config to natsnest.ClusterArgs: what the root
// program (`pulumi up` in this repository) deploys. Unset keys stay zero so
// natsnest.ClusterArgs' own defaults apply. The empty values Pulumi.yaml gives
// optional keys as defaults (the CLI passes them as set values), "", 0, [] and
// {}, are unset too: lists and maps become nil. Values that do not parse are reported
// together, each naming its key, with the arguments read from the rest (a key
// that does not parse stays unset), so that validation can report the other
// problems too. It does not validate: NewCluster does.
func ClusterArgsFromConfig(get ConfigGetter) (*natsnest.ClusterArgs, error) {
	r := configReader{get: get}
	a := &natsnest.ClusterArgs{
		NodeCount:                r.int("nodeCount"),
		Zones:                    r.list("zones"),
		NodeNamePrefix:           r.str("nodeNamePrefix"),
		ChargeType:               r.str("chargeType"),
		Period:                   r.int("period"),
		PeriodUnit:               r.str("periodUnit"),
		RenewalStatus:            r.str("renewalStatus"),
		AutoRenewPeriod:          r.int("autoRenewPeriod"),
		VpcCIDR:                  r.str("vpcCidr"),
		VSwitchCIDRs:             r.list("vswitchCidrs"),
		InstanceType:             r.str("instanceType"),
		ImageID:                  r.str("imageId"),
		ImageNameRegex:           r.str("imageNameRegex"),
		SystemDiskSize:           r.gib("systemDiskSize"),
		SystemDiskCategory:       r.str("systemDiskCategory"),
		DataDiskSize:             r.gib("dataDiskSize"),
		DataDiskCategory:         r.str("dataDiskCategory"),
		DeleteDataDisksOnDestroy: r.bool("deleteDataDisksOnDestroy"),
		InstancePassword:         r.secret("instancePassword"),
		KeyPairName:              r.str("keyPairName"),
		SSHPrivateKey:            r.secret("sshPrivateKey"),
		PublicAccess:             r.bool("publicAccess"),
		InternetBandwidth:        r.int("internetBandwidth"),
		InternetChargeType:       r.str("internetChargeType"),
		AllowedClientCIDRs:       r.list("allowedClientCidrs"),
		SSHCIDR:                  r.str("sshCidr"),
		MonitoringCIDR:           r.str("monitoringCidr"),
		AllowPublicMonitoring:    r.bool("allowPublicMonitoring"),
		AllowPublicSSH:           r.bool("allowPublicSsh"),
		AllowPublicAnonymous:     r.bool("allowPublicAnonymous"),
		ResourceTags:             r.strMap("resourceTags"),
		Binary: natsnest.Binary{
			URL:       r.secret("binaryUrl"),
			SHA256:    r.str("binarySha256"),
			LocalPath: r.str("binaryPath"),
			Arch:      r.str("binaryArch"),
		},
	}
	a.ServerOptions = natsnest.ServerOptions{
		NATSVersion:         r.str("natsVersion"),
		ClusterName:         r.str("clusterName"),
		AdminPassword:       r.secret("adminPassword"),
		StackSecret:         r.secret("stackSecret"),
		MaxFileStore:        r.size("maxFileStore", 1),
		MaxMemoryStore:      r.size("maxMemoryStore", 1),
		Durability:          r.str("durability"),
		Tags:                r.list("serverTags"),
		LameDuckDuration:    r.duration("lameDuckDuration"),
		LameDuckGracePeriod: r.duration("lameDuckGracePeriod"),
		AllowAnonymous:      r.bool("allowAnonymous"),
	}
	if cert, key := r.str("tlsCert"), r.str("tlsKey"); cert != "" || key != "" {
		a.TLS = &natsnest.TLSArgs{
			CA: r.str("tlsCa"), Cert: cert, Key: r.secret("tlsKey"),
			VerifyClients: r.bool("tlsVerifyClients"),
			Monitoring:    r.bool("tlsMonitoring"),
		}
	} else {
		// No TLS without a certificate: a TLS option set alone would be
		// ignored, and clients would talk in plain text believing otherwise.
		for _, key := range []string{"tlsCa", "tlsVerifyClients", "tlsMonitoring"} {
			if v, _ := r.get(key); v != "" && v != "false" {
				r.fail(key, "needs tlsCert and tlsKey: without a certificate there is no TLS, and this setting would be ignored")
			}
		}
	}
	if pw := r.secret("appPassword"); pw != nil {
		user := r.str("appUser")
		if user == "" {
			user = DefaultAppUser
		}
		a.Accounts = []natsnest.Account{{Name: r.str("appAccount"), Users: []natsnest.User{{Name: user, Password: pw}}}}
	}
	if id := r.str("vpcId"); id != "" {
		a.VpcID = pulumi.String(id)
	}
	for _, id := range r.list("vswitchIds") {
		a.VSwitchIDs = append(a.VSwitchIDs, pulumi.String(id))
	}
	if host := r.str("bastionHost"); host != "" {
		a.Bastion = &natsnest.Bastion{Host: pulumi.String(host), Port: r.int("bastionPort"), User: r.str("bastionUser")}
		a.Bastion.PrivateKey = r.secret("bastionPrivateKey")
		a.Bastion.Password = r.secret("bastionPassword")
		if k := r.str("bastionHostKey"); k != "" {
			a.Bastion.HostKey = pulumi.String(k)
		}
	}
	return a, errors.Join(r.errs...)
}

// secret is a secret key's value as cfg.GetSecret gives it — an output,
// marked secret, which natsnest awaits and checks before it registers
// anything — or nil when the key is unset.
func (r *configReader) secret(key string) pulumi.StringInput {
	v := r.str(key)
	if v == "" {
		return nil
	}
	return pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
}

// configReader parses config values, collecting every error.
type configReader struct {
	get  ConfigGetter
	errs []error
}

func (r *configReader) fail(key, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%w: config %s: %s", natsnest.ErrInvalidArgs, key, fmt.Sprintf(format, args...)))
}

// nonZeroDefaults are the keys whose Pulumi.yaml default is not "", 0 or
// 0s, with that default. ClusterArgs' zero values mean "the default", so an
// explicit zero of one of them (nodeCount 0, maxMemoryStore 0) cannot be
// honoured: it is an error, not the default. (A key whose default is "",
// 0 or [] is simply unset at that value: the CLI passes project defaults to
// the program as set values.)
var nonZeroDefaults = map[string]string{
	"nodeCount": "3", "nodeNamePrefix": "nats", "chargeType": "PostPaid", "instanceType": "ecs.g7.large",
	"systemDiskSize": "40", "systemDiskCategory": "cloud_essd", "dataDiskSize": "40", "dataDiskCategory": "cloud_essd",
	"internetBandwidth": "5", "internetChargeType": "PayByTraffic", "clusterName": "C1", "appAccount": "APP",
	"appUser": "app", "maxMemoryStore": "1GiB", "durability": "default", "lameDuckDuration": "30s",
	"lameDuckGracePeriod": "10s", "bastionPort": "22", "bastionUser": "root",
}

// explicitZero fails key when it has a non-zero default and is set to zero.
func (r *configReader) explicitZero(key string, zero bool) {
	if def, ok := nonZeroDefaults[key]; ok && zero {
		r.fail(key, "is set to zero or empty, which natsnest would read as its default (%s): unset it for the default, or set a value", def)
	}
}

func (r *configReader) str(key string) string {
	v, ok := r.get(key)
	if ok {
		r.explicitZero(key, v == "")
	}
	return v
}

func (r *configReader) int(key string) int {
	n := r.int64(key)
	if int64(int(n)) != n {
		r.fail(key, "%d is out of range", n)
		return 0
	}
	return int(n)
}

func (r *configReader) int64(key string) int64 {
	v, ok := r.get(key)
	if !ok {
		return 0
	}
	if v == "" {
		r.explicitZero(key, true)
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		r.fail(key, "%q is not an integer", v)
	}
	r.explicitZero(key, err == nil && n == 0)
	return n
}

// sizeUnits are the units a size in stack config may carry.
var sizeUnits = []struct {
	suffix string
	bytes  int64
}{{"TiB", natsnest.TiB}, {"GiB", natsnest.GiB}, {"MiB", natsnest.MiB}, {"KiB", natsnest.KiB}, {"B", 1}}

// size reads a size in bytes: "10GiB", "512MiB", "1TiB", or a bare number
// of bare units (bytes for the stores, GiB for disks), so that a bare
// number keeps the meaning it always had.
func (r *configReader) size(key string, bare int64) int64 {
	v, ok := r.get(key)
	if !ok {
		return 0
	}
	s := strings.TrimSpace(v)
	if s == "" {
		r.explicitZero(key, true)
		return 0
	}
	unit := bare
	for _, u := range sizeUnits {
		if num, found := strings.CutSuffix(s, u.suffix); found {
			s, unit = strings.TrimSpace(num), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/unit {
		r.fail(key, "%q is not a size such as \"10GiB\", \"512MiB\" or a whole number", v)
		return 0
	}
	r.explicitZero(key, n == 0)
	return n * unit
}

// gib reads a disk size: GiB, or a size with a unit that is a whole number
// of GiB ("100GiB", "1TiB").
func (r *configReader) gib(key string) int {
	n := r.size(key, natsnest.GiB)
	if n%natsnest.GiB != 0 {
		r.fail(key, "disks come in whole GiB, not %d bytes", n)
		return 0
	}
	return int(n / natsnest.GiB)
}

func (r *configReader) bool(key string) bool {
	v, ok := r.get(key)
	if !ok || v == "" {
		return false
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		r.fail(key, "%q is not true or false", v)
	}
	return b
}

func (r *configReader) duration(key string) time.Duration {
	v, ok := r.get(key)
	if !ok {
		return 0
	}
	if v == "" {
		r.explicitZero(key, true)
		return 0
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		r.fail(key, "%q is not a duration such as \"30s\"", v)
	}
	r.explicitZero(key, err == nil && d == 0)
	return d
}

// list reads a JSON list of strings, or, for `pulumi config set zones a,b`,
// a comma-separated string.
func (r *configReader) list(key string) []string {
	v, ok := r.get(key)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return nil
	}
	if strings.HasPrefix(v, "[") {
		var out []string
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			r.fail(key, "is not a list of strings: %v", err)
		}
		if len(out) == 0 {
			return nil // Pulumi.yaml's default []: unset
		}
		return out
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

func (r *configReader) strMap(key string) map[string]string {
	v, ok := r.get(key)
	if !ok || strings.TrimSpace(v) == "" {
		return nil
	}
	var out map[string]string
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		r.fail(key, "is not a map of strings: %v", err)
	}
	if len(out) == 0 {
		return nil // Pulumi.yaml's default {}: unset
	}
	return out
}
