package program

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/natsnest/pulumi-natsnest/natsnest"
)

// fieldKeys maps the ClusterArgs fields the stack sets to their stack keys,
// so that what natsnest reports names what the user set. A field path
// matches its longest entry; the rest of it ("[1]") is kept.
var fieldKeys = map[string]string{
	"NodeCount": "nodeCount", "Zones": "zones", "NodeNamePrefix": "nodeNamePrefix",
	"ChargeType": "chargeType", "Period": "period", "PeriodUnit": "periodUnit",
	"RenewalStatus": "renewalStatus", "AutoRenewPeriod": "autoRenewPeriod",
	"VpcID": "vpcId", "VSwitchIDs": "vswitchIds", "VpcCIDR": "vpcCidr", "VSwitchCIDRs": "vswitchCidrs",
	"InstanceType": "instanceType", "ImageID": "imageId", "ImageNameRegex": "imageNameRegex",
	"SystemDiskSize": "systemDiskSize", "SystemDiskCategory": "systemDiskCategory",
	"DataDiskSize": "dataDiskSize", "DataDiskCategory": "dataDiskCategory",
	"InstancePassword": "instancePassword", "KeyPairName": "keyPairName", "SSHPrivateKey": "sshPrivateKey",
	"PublicAccess": "publicAccess", "InternetBandwidth": "internetBandwidth", "InternetChargeType": "internetChargeType",
	"AllowedClientCIDRs": "allowedClientCidrs", "SSHCIDR": "sshCidr", "MonitoringCIDR": "monitoringCidr",
	"AllowPublicMonitoring": "allowPublicMonitoring", "AllowPublicSSH": "allowPublicSsh",
	"AllowPublicAnonymous": "allowPublicAnonymous", "ResourceTags": "resourceTags",
	"Bastion": "bastionHost", "Bastion.Host": "bastionHost", "Bastion.Port": "bastionPort", "Bastion.User": "bastionUser",
	"Bastion.PrivateKey": "bastionPrivateKey", "Bastion.Password": "bastionPassword",
	"SSH.Bastion.Host": "bastionHost", "SSH.Bastion.Port": "bastionPort", "SSH.Bastion.User": "bastionUser",
	"Bastion.HostKey": "bastionHostKey", "SSH.Bastion.HostKey": "bastionHostKey",
	"SSH.PrivateKey": "sshPrivateKey", "SSH.Password": "instancePassword",
	"Binary.URL": "binaryUrl", "Binary.SHA256": "binarySha256", "Binary.LocalPath": "binaryPath", "Binary.Arch": "binaryArch",
	"NATSVersion": "natsVersion", "ClusterName": "clusterName", "AdminPassword": "adminPassword",
	"StackSecret": "stackSecret", "MaxFileStore": "maxFileStore", "MaxMemoryStore": "maxMemoryStore",
	"Durability": "durability", "Tags": "serverTags", "LameDuckDuration": "lameDuckDuration",
	"LameDuckGracePeriod": "lameDuckGracePeriod", "AllowAnonymous": "allowAnonymous",
	"TLS": "tlsCert", "TLS.CA": "tlsCa", "TLS.Cert": "tlsCert", "TLS.Key": "tlsKey",
	"TLS.VerifyClients": "tlsVerifyClients", "TLS.Monitoring": "tlsMonitoring",
	"Accounts": "appPassword", "Accounts[0].Name": "appAccount",
	"Accounts[0].Users[0].Name": "appUser", "Accounts[0].Users[0].Password": "appPassword",
}

// stackKeyErrors rewrites natsnest's invalid-argument errors (one per
// problem, joined) to name the stack key — "config sshCidr: …" rather than
// "SSHCIDR: …", as ClusterArgsFromConfig names the keys it cannot parse —
// keeping every problem and ErrInvalidArgs.
func stackKeyErrors(err error) error {
	if err == nil || !errors.Is(err, natsnest.ErrInvalidArgs) {
		return err
	}
	var leaves []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		leaves = append(leaves, e)
	}
	walk(err)
	prefix := natsnest.ErrInvalidArgs.Error() + ": "
	out := make([]error, 0, len(leaves))
	for _, e := range leaves {
		msg, ok := strings.CutPrefix(e.Error(), prefix)
		field, rule, hasField := strings.Cut(msg, ": ")
		if !ok || !hasField || strings.HasPrefix(field, "config ") {
			out = append(out, e)
			continue
		}
		best := ""
		for f := range fieldKeys {
			if (field == f || strings.HasPrefix(field, f+".") || strings.HasPrefix(field, f+"[")) && len(f) > len(best) {
				best = f
			}
		}
		if best == "" {
			out = append(out, e)
			continue
		}
		out = append(out, fmt.Errorf("%w: config %s%s: %s", natsnest.ErrInvalidArgs, fieldKeys[best], field[len(best):], fieldNamesToKeys(rule)))
	}
	return errors.Join(out...)
}

// fieldNameRE finds the Go field names a rule may mention ("set
// AllowPublicSSH"): words starting with an upper-case letter.
var fieldNameRE = regexp.MustCompile(`\b[A-Z][A-Za-z0-9]{4,}\b`)

// fieldNamesToKeys replaces the ClusterArgs field names a rule mentions by
// their stack keys.
func fieldNamesToKeys(rule string) string {
	return fieldNameRE.ReplaceAllStringFunc(rule, func(w string) string {
		if k, ok := fieldKeys[w]; ok {
			return k
		}
		return w
	})
}

// leaves are the single problems of err, a joined error or one problem.
func leaves(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, c := range j.Unwrap() {
			out = append(out, leaves(c)...)
		}
		return out
	}
	return []error{err}
}

// problemKey is the stack key a problem names ("config nodeCount: …",
// "config zones[1]: …" → "nodeCount", "zones"), "" for none.
func problemKey(err error) string {
	_, rest, ok := strings.Cut(err.Error(), "config ")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, ":")
	if i := strings.IndexAny(key, "[."); i >= 0 {
		key = key[:i]
	}
	return key
}

// problemKeys are the keys the problems of err name.
func problemKeys(err error) map[string]bool {
	keys := map[string]bool{}
	for _, e := range leaves(err) {
		if k := problemKey(e); k != "" {
			keys[k] = true
		}
	}
	return keys
}

// withoutKeys is err without the problems of keys.
func withoutKeys(err error, keys map[string]bool) error {
	var out []error
	for _, e := range leaves(err) {
		if !keys[problemKey(e)] {
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

// stackConfigError is every problem of a stack's config, each naming its key
// and wrapping natsnest.ErrInvalidArgs, shown as one list.
type stackConfigError struct{ problems []error }

// configProblems joins errs (each nil, one problem, or several joined) into
// one stackConfigError; nil when there is none.
func configProblems(errs ...error) error {
	var flat []error
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		flat = append(flat, e)
	}
	for _, e := range errs {
		walk(e)
	}
	if len(flat) == 0 {
		return nil
	}
	return &stackConfigError{flat}
}

func (e *stackConfigError) Error() string {
	prefix := natsnest.ErrInvalidArgs.Error() + ": "
	if len(e.problems) == 1 {
		return "natsnest: the stack's config: " + strings.TrimPrefix(e.problems[0].Error(), prefix)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "natsnest: %d problems in the stack's config:", len(e.problems))
	for _, p := range e.problems {
		b.WriteString("\n  - " + strings.TrimPrefix(p.Error(), prefix))
	}
	return b.String()
}

func (e *stackConfigError) Unwrap() []error { return e.problems }

// unknownConfigKeys refuses keys of the project's namespace that the
// program does not read — a misspelt key (tlscert) would otherwise be
// ignored and its setting silently lost — naming the nearest known key.
// config is every key of the stack: the Go SDK offers no list, but a real
// `pulumi up` passes them all in PULUMI_CONFIG (configFromEnvironment).
func unknownConfigKeys(project string, config map[string]string) error {
	known := append(ClusterConfigKeys(), "alicloudVersion")
	var errs []error
	for _, full := range slices.Sorted(mapKeys(config)) {
		key, ok := strings.CutPrefix(full, project+":")
		if !ok || slices.Contains(known, key) {
			continue
		}
		errs = append(errs, fmt.Errorf("%w: config %s: is not a key natsnest reads; did you mean %s:%s? (`pulumi config rm %s`)",
			natsnest.ErrInvalidArgs, full, project, nearest(key, known), full))
	}
	return errors.Join(errs...)
}

// configFromEnvironment is the stack's config as the engine passes it to a
// Go program (PULUMI_CONFIG, a JSON object); empty under mocks.
func configFromEnvironment() (map[string]string, error) {
	raw := os.Getenv("PULUMI_CONFIG")
	if raw == "" {
		return nil, nil
	}
	var config map[string]string
	if err := json.Unmarshal([]byte(raw), &config); err != nil {
		return nil, fmt.Errorf("natsnest: PULUMI_CONFIG: %w", err)
	}
	return config, nil
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// nearest is the entry of known closest to key (edit distance, ignoring case).
func nearest(key string, known []string) string {
	best, bestD := "", -1
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), strings.ToLower(k)); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
