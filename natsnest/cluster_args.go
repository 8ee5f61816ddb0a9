package natsnest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Charge types of ECS instances, as the ECS API names them.
const (
	// ChargePostPaid is pay-as-you-go, billed by the hour.
	ChargePostPaid = "PostPaid"
	// ChargePrePaid is a subscription bought for Period PeriodUnits.
	ChargePrePaid = "PrePaid"
)

// Renewal statuses of subscription (PrePaid) instances, as ECS names them.
const (
	// RenewalAuto renews the subscription by AutoRenewPeriod PeriodUnits
	// before it expires.
	RenewalAuto = "AutoRenewal"
	// RenewalNormal renews only by hand; ECS reminds before expiry.
	RenewalNormal = "Normal"
	// RenewalNone never renews: the instance stops when the period ends.
	RenewalNone = "NotRenewal"
)

// Defaults of ClusterArgs, applied by (ClusterArgs).withDefaults.
const (
	DefaultNodeCount          = 3
	DefaultNodeNamePrefix     = "nats"
	DefaultChargeType         = ChargePostPaid
	DefaultPeriod             = 1
	DefaultPeriodUnit         = "Month"
	DefaultRenewalStatus      = RenewalAuto
	DefaultAutoRenewPeriod    = 1
	DefaultVpcCIDR            = "172.16.0.0/12"
	DefaultVSwitchPrefixBits  = 24
	DefaultInstanceType       = "ecs.g7.large"
	DefaultSystemDiskSize     = 40
	DefaultSystemDiskCategory = "cloud_essd"
	DefaultDataDiskSize       = 40
	DefaultDataDiskCategory   = "cloud_essd"
	DefaultInternetBandwidth  = 5
	DefaultInternetChargeType = "PayByTraffic"
	// DefaultMaxFileStorePercent of the data disk is JetStream's file store
	// limit, leaving room for the filesystem's own overhead.
	DefaultMaxFileStorePercent = 90
	// DefaultImageNameRegexAMD64 and DefaultImageNameRegexARM64 find Alibaba
	// Cloud's Debian 12 system images: Debian 12 is what the machine tests
	// run, so what is tested is what ships. Other images (Alibaba Cloud
	// Linux, Ubuntu) can be chosen with ImageNameRegex or ImageID; they are
	// allowed but untested.
	DefaultImageNameRegexAMD64 = `^debian_12_[0-9]+_x64_20G_alibase_[0-9]+\.vhd$`
	DefaultImageNameRegexARM64 = `^debian_12_[0-9]+_arm64_20G_alibase_[0-9]+\.vhd$`
)

// Limits Alibaba Cloud puts on ClusterArgs' values.
const (
	MinNodeCount        = 1
	MaxNodeCount        = 11
	maxResourceTags     = 20
	instancePasswordMin = 8
	instancePasswordMax = 30
	// InstancePasswordSpecials are the special characters ECS accepts in an
	// instance password (Compute Nest's form lists the same).
	InstancePasswordSpecials = "()`~!@#$%^&*-+={}[]:;'<>,.?/"
)

// ClusterArgs configures a NATS JetStream cluster on Alibaba Cloud ECS: the
// network, a security group, one ECS instance per node with its own data
// disk, optionally an EIP per node, and the servers provisioned over SSH.
//
// Plain Go values decide resource counts and configuration; the only
// pulumi.Inputs are VpcID and VSwitchIDs, references to resources that may be
// created in the same program. The region is the provider's (alicloud:region).
type ClusterArgs struct {
	// ServerOptions are the settings every node runs with. MaxFileStore
	// defaults to 90% of DataDiskSize here.
	ServerOptions

	// NodeCount is the number of nodes: 1, or an odd number from 3 to 11.
	// Defaults to 3.
	NodeCount int
	// Zones are the zone IDs (e.g. "cn-hangzhou-i") the nodes are spread
	// over, round-robin in the given order: node i goes to
	// Zones[i%len(Zones)]. Changing the list later moves existing nodes to
	// other zones, which replaces them with new, empty data disks, so settle
	// it before the first up; NodeCount can grow without moving any node.
	// At most NodeCount zones. Required.
	Zones []string
	// NodeNamePrefix names the nodes <prefix>-1 … <prefix>-N: their host
	// names and server_names. It derives from the node's index only, never
	// from an address, so a node keeps its JetStream identity across
	// replacements. Lower-case letters, digits and '-'. Defaults to "nats".
	NodeNamePrefix string

	// ChargeType is "PostPaid" (pay-as-you-go) or "PrePaid" (subscription).
	// Subscription instances are force-deleted on destroy or scale-in.
	// Data disks and EIPs are always pay-as-you-go. Defaults to "PostPaid".
	ChargeType string
	// Period is how many PeriodUnits a subscription runs: 1-9, 12, 24, 36, 48
	// or 60 months, or 1-4 weeks. Only with "PrePaid". Defaults to 1.
	Period int
	// PeriodUnit is "Month" or "Week". Only with "PrePaid". Defaults to "Month".
	PeriodUnit string
	// RenewalStatus is what happens when a subscription ends: RenewalAuto
	// ("AutoRenewal"), RenewalNormal ("Normal", by hand) or RenewalNone
	// ("NotRenewal"). Nodes bought together expire together, and a cluster
	// whose nodes all stop at once loses every stream's quorum, so renewal
	// is automatic unless said otherwise. Only with "PrePaid". Defaults to
	// "AutoRenewal".
	RenewalStatus string
	// AutoRenewPeriod is how many PeriodUnits each automatic renewal buys:
	// 1, 2, 3, 6 or 12 months, or 1 to 3 weeks. Only with RenewalAuto.
	// Defaults to 1.
	AutoRenewPeriod int

	// VpcID is an existing VPC to deploy into; it may be another resource's
	// output. With it VSwitchIDs and VpcCIDR are required and no network is
	// created. Defaults to nil: a new VPC.
	VpcID pulumi.StringInput
	// VSwitchIDs are existing vswitches, one per entry of Zones in the same
	// order, each in its zone. Required with VpcID, not allowed without.
	VSwitchIDs []pulumi.StringInput
	// VpcCIDR is the VPC's address range: the new VPC's, or the existing
	// one's (required with VpcID, as nothing is looked up). It is the default
	// source for clients, monitoring and SSH. Defaults to "172.16.0.0/12".
	VpcCIDR string
	// VSwitchCIDRs are the new vswitches' ranges inside VpcCIDR, one per
	// entry of Zones. Only without VpcID. Defaults to the i-th /24 of VpcCIDR
	// for Zones[i] (172.16.0.0/24, 172.16.1.0/24, …).
	VSwitchCIDRs []string

	// InstanceType is the ECS instance type; its family decides the CPU
	// architecture (g6r, c6r, g8y, c8y, r8y, g8m, c8m, r8m are arm64), and
	// so Binary.Arch and the default image. Defaults to "ecs.g7.large".
	InstanceType string
	// ImageID overrides the image lookup. Defaults to "": the newest system
	// image matching ImageNameRegex.
	ImageID string
	// ImageNameRegex selects the system image by name. A newer match never
	// replaces running nodes (the instances ignore image changes). Defaults
	// to Debian 12 for the instance type's architecture
	// (DefaultImageNameRegexAMD64 or DefaultImageNameRegexARM64); Alibaba
	// Cloud Linux and Ubuntu images work the same way but are untested.
	ImageNameRegex string
	// SystemDiskSize is the system disk's size in GiB, 20 to 2048. Defaults to 40.
	SystemDiskSize int
	// SystemDiskCategory is the system disk's category: "cloud_essd",
	// "cloud_ssd" or "cloud_efficiency" (what the default provider plugin
	// accepts). Defaults to "cloud_essd".
	SystemDiskCategory string
	// DataDiskSize is each node's data disk in GiB, 20 to 32768; JetStream's
	// store lives on it at /data. Defaults to 40.
	DataDiskSize int
	// DataDiskCategory is the data disk's category: "cloud_essd",
	// "cloud_ssd" or "cloud_efficiency". Defaults to "cloud_essd".
	DataDiskCategory string
	// DeleteDataDisksOnDestroy releases the data disks when the cluster is
	// destroyed. Off, they are retained (and billed) so no stream is lost by
	// accident; delete them in the console. Defaults to false.
	DeleteDataDisksOnDestroy bool

	// InstancePassword is root's password: 8 to 30 characters, at least three
	// of upper case, lower case, digits and InstancePasswordSpecials, nothing
	// else, and not guessable (as User.Password). Provisioning logs in with
	// it unless SSHPrivateKey is set. Either it or KeyPairName with
	// SSHPrivateKey is required. A secret.
	InstancePassword pulumi.StringInput
	// KeyPairName is an existing ECS key pair installed for root. Requires
	// SSHPrivateKey.
	KeyPairName string
	// SSHPrivateKey is the PEM private key of KeyPairName (unencrypted), used
	// by provisioning. Requires KeyPairName. A secret.
	SSHPrivateKey pulumi.StringInput

	// PublicAccess gives every node an EIP; clients then use publicEndpoint,
	// servers stop advertising private addresses (no_advertise), and SSH goes
	// to the EIPs unless Bastion is set. Defaults to false.
	PublicAccess bool
	// InternetBandwidth is each EIP's bandwidth in Mbit/s, 1 to 200.
	// Defaults to 5.
	InternetBandwidth int
	// InternetChargeType is how EIPs are billed: "PayByTraffic" or
	// "PayByBandwidth". Defaults to "PayByTraffic".
	InternetChargeType string

	// AllowedClientCIDRs may connect to the client port. "0.0.0.0/0" opens it
	// to the internet and is only ever used when given here. Defaults to
	// [VpcCIDR].
	AllowedClientCIDRs []string
	// SSHCIDR may connect to port 22, which provisioning needs on every later
	// up and destroy. Required with PublicAccess and no Bastion (use the
	// deploying machine's address, e.g. "203.0.113.7/32"). Defaults to VpcCIDR.
	SSHCIDR string
	// MonitoringCIDR may reach the monitoring port (healthz, varz). It must
	// lie in private address space (10/8, 172.16/12, 192.168/16) unless
	// AllowPublicMonitoring is set. Defaults to VpcCIDR.
	MonitoringCIDR string
	// AllowPublicSSH permits an SSHCIDR outside private address space that
	// is wider than a /24 (0.0.0.0/0 included): port 22 of every node open
	// to a large part of the internet. The deploying machine's own address
	// (a /32) needs no such permission. Defaults to false.
	AllowPublicSSH bool
	// AllowPublicAnonymous permits AllowAnonymous when AllowedClientCIDRs
	// reach beyond private address space: anyone there could publish and
	// subscribe without credentials. Defaults to false.
	AllowPublicAnonymous bool
	// AllowPublicMonitoring permits a MonitoringCIDR outside private
	// address space, e.g. "0.0.0.0/0". The monitoring port has no
	// authentication: whoever reaches it reads the servers' configuration,
	// connections (with client addresses and user names), accounts and
	// subjects. Defaults to false.
	AllowPublicMonitoring bool

	// ResourceTags are set on every resource that takes tags (VPC, vswitches,
	// security group, instances and their system disks, data disks, EIPs).
	// Not ServerOptions.Tags, which are server_tags inside nats.conf.
	// Defaults to none.
	ResourceTags map[string]string

	// Bastion, when set, is the jump host provisioning connects through, to
	// the nodes' private addresses. Defaults to nil.
	Bastion *Bastion
	// Binary says how nats-server reaches the nodes. Its Arch defaults to the
	// instance type's architecture. Defaults to an upload from the deploying machine.
	Binary Binary

	// pending are the secrets not known yet (a preview); set by resolve.
	pending pending
}

// withDefaults returns a copy of a with every default applied; the one place
// ClusterArgs' defaults are set.
func (a ClusterArgs) withDefaults() ClusterArgs {
	a.ServerOptions = a.ServerOptions.withDefaults()
	if a.NodeCount == 0 {
		a.NodeCount = DefaultNodeCount
	}
	if a.NodeNamePrefix == "" {
		a.NodeNamePrefix = DefaultNodeNamePrefix
	}
	a.Zones = slices.Clone(a.Zones)
	if a.ChargeType == "" {
		a.ChargeType = DefaultChargeType
	}
	if a.ChargeType == ChargePrePaid {
		if a.Period == 0 {
			a.Period = DefaultPeriod
		}
		if a.PeriodUnit == "" {
			a.PeriodUnit = DefaultPeriodUnit
		}
		if a.RenewalStatus == "" {
			a.RenewalStatus = DefaultRenewalStatus
		}
		if a.RenewalStatus == RenewalAuto && a.AutoRenewPeriod == 0 {
			a.AutoRenewPeriod = DefaultAutoRenewPeriod
		}
	}
	if a.VpcCIDR == "" && a.VpcID == nil {
		a.VpcCIDR = DefaultVpcCIDR
	}
	a.VSwitchIDs = slices.Clone(a.VSwitchIDs)
	a.VSwitchCIDRs = slices.Clone(a.VSwitchCIDRs)
	if a.VpcID == nil && len(a.VSwitchCIDRs) == 0 {
		if vpc, err := netip.ParsePrefix(a.VpcCIDR); err == nil {
			for i := range a.Zones {
				if sub, ok := nthSubnet(vpc, DefaultVSwitchPrefixBits, i); ok {
					a.VSwitchCIDRs = append(a.VSwitchCIDRs, sub.String())
				}
			}
		}
	}
	if a.InstanceType == "" {
		a.InstanceType = DefaultInstanceType
	}
	if a.Binary.Arch == "" {
		a.Binary.Arch = instanceArch(a.InstanceType)
	}
	if a.ImageID == "" && a.ImageNameRegex == "" {
		a.ImageNameRegex = DefaultImageNameRegexAMD64
		if a.Binary.Arch == "arm64" {
			a.ImageNameRegex = DefaultImageNameRegexARM64
		}
	}
	if a.SystemDiskSize == 0 {
		a.SystemDiskSize = DefaultSystemDiskSize
	}
	if a.SystemDiskCategory == "" {
		a.SystemDiskCategory = DefaultSystemDiskCategory
	}
	if a.DataDiskSize == 0 {
		a.DataDiskSize = DefaultDataDiskSize
	}
	if a.DataDiskCategory == "" {
		a.DataDiskCategory = DefaultDataDiskCategory
	}
	if a.MaxFileStore == 0 {
		a.MaxFileStore = int64(a.DataDiskSize) << 30 * DefaultMaxFileStorePercent / 100
	}
	if a.InternetBandwidth == 0 {
		a.InternetBandwidth = DefaultInternetBandwidth
	}
	if a.InternetChargeType == "" {
		a.InternetChargeType = DefaultInternetChargeType
	}
	// Without VpcCIDR (an existing VPC whose range was not given) these stay
	// empty; validate reports the missing VpcCIDR once.
	a.AllowedClientCIDRs = slices.Clone(a.AllowedClientCIDRs)
	if len(a.AllowedClientCIDRs) == 0 && a.VpcCIDR != "" {
		a.AllowedClientCIDRs = []string{a.VpcCIDR}
	}
	if a.SSHCIDR == "" && (!a.PublicAccess || a.Bastion != nil) {
		a.SSHCIDR = a.VpcCIDR
	}
	if a.MonitoringCIDR == "" {
		a.MonitoringCIDR = a.VpcCIDR
	}
	tags := make(map[string]string, len(a.ResourceTags))
	for k, v := range a.ResourceTags {
		tags[k] = v
	}
	a.ResourceTags = tags
	if a.Bastion != nil {
		b := *a.Bastion
		a.Bastion = &b
	}
	return a
}

// Validate reports every problem of the arguments at once, each naming its
// field and the rule and wrapping ErrInvalidArgs. NewCluster calls it before
// it registers any resource. A secret given as an output is awaited first
// (a config secret resolves at once, another resource's output once that
// resource exists), so call it inside the Pulumi program.
func (a *ClusterArgs) Validate() error {
	if a == nil {
		return fmt.Errorf("%w: ClusterArgs: must not be nil", ErrInvalidArgs)
	}
	d, err := a.resolve(context.Background())
	if err != nil {
		return errors.Join(err, a.withDefaults().validate())
	}
	return d.validate()
}

// resolve is a with every default applied and every secret given as an
// output awaited (secrets.go): those known become plain values, those not
// known yet (a preview) are listed in pending.
func (a ClusterArgs) resolve(ctx context.Context) (ClusterArgs, error) {
	d := a.withDefaults()
	refs := append(d.ServerOptions.secretRefs(),
		secretRef{"InstancePassword", &d.InstancePassword}, secretRef{"SSHPrivateKey", &d.SSHPrivateKey})
	if b := d.Bastion; b != nil {
		refs = append(refs, secretRef{"Bastion.PrivateKey", &b.PrivateKey}, secretRef{"Bastion.Password", &b.Password})
	}
	refs = append(refs, secretRef{"Binary.URL", &d.Binary.URL})
	unknown, err := awaitSecrets(ctx, refs)
	d.pending = unknown
	return d, err
}

var (
	zoneRE           = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+$`)
	nodeNamePrefixRE = regexp.MustCompile(`^[a-z]([a-z0-9]|-[a-z0-9]){0,39}$`)
	instanceTypeRE   = regexp.MustCompile(`^ecs\.[a-z0-9-]+\.[a-z0-9-]+$`)
	imageIDRE        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{1,127}$`)
	keyPairNameRE    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:-]{1,127}$`)
	// diskCategories are the categories terraform-provider-alicloud
	// v1.144.0 (which pulumi-alicloud v3.10.0, the default plugin, wraps)
	// accepts for both an instance's system disk and an ecs.EcsDisk; it
	// rejects cloud_auto and cloud_essd_entry before anything is created.
	diskCategories  = []string{"cloud_essd", "cloud_ssd", "cloud_efficiency"}
	monthPeriods    = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 24, 36, 48, 60}
	autoRenewMonths = []int{1, 2, 3, 6, 12}
	autoRenewWeeks  = []int{1, 2, 3}
	// arm64Families are the ECS instance families with arm64 CPUs: the
	// Ampere Altra (g6r, c6r) and Yitian 710 (g8y, c8y, r8y, g8m, c8m, r8m)
	// families, and their bare-metal (ebm) variants.
	arm64Families = []string{"g6r", "c6r", "g8y", "c8y", "r8y", "g8m", "c8m", "r8m",
		"ebmg6r", "ebmc6r", "ebmg8y", "ebmc8y", "ebmr8y"}
)

// validate reports every problem of a, which has its defaults applied.
func (a ClusterArgs) validate() error {
	var p problems

	if a.NodeCount < MinNodeCount || a.NodeCount > MaxNodeCount || (a.NodeCount > 1 && a.NodeCount%2 == 0) {
		p.add("NodeCount", "%d must be 1 or an odd number from 3 to 11 (a Raft quorum needs an odd count)", a.NodeCount)
	}
	if len(a.Zones) == 0 {
		p.add("Zones", "at least one zone is required, e.g. \"cn-hangzhou-i\"")
	} else if a.NodeCount >= MinNodeCount && len(a.Zones) > a.NodeCount {
		p.add("Zones", "%d zones for %d nodes: at most one zone per node", len(a.Zones), a.NodeCount)
	}
	seenZones := map[string]bool{}
	for i, z := range a.Zones {
		f := fmt.Sprintf("Zones[%d]", i)
		if !zoneRE.MatchString(z) {
			p.add(f, "%q is not a zone ID such as \"cn-hangzhou-i\"", z)
		} else if seenZones[z] {
			p.add(f, "zone %q is listed twice", z)
		}
		seenZones[z] = true
	}
	if !nodeNamePrefixRE.MatchString(a.NodeNamePrefix) {
		p.add("NodeNamePrefix", "%q must be 1-40 lower-case letters, digits and single '-', starting with a letter", a.NodeNamePrefix)
	}

	switch a.ChargeType {
	case ChargePostPaid:
		if a.Period != 0 {
			p.add("Period", "only applies to ChargeType %q", ChargePrePaid)
		}
		if a.PeriodUnit != "" {
			p.add("PeriodUnit", "only applies to ChargeType %q", ChargePrePaid)
		}
		if a.RenewalStatus != "" {
			p.add("RenewalStatus", "only applies to ChargeType %q", ChargePrePaid)
		}
		if a.AutoRenewPeriod != 0 {
			p.add("AutoRenewPeriod", "only applies to ChargeType %q", ChargePrePaid)
		}
	case ChargePrePaid:
		switch a.RenewalStatus {
		case RenewalAuto:
			periods := autoRenewMonths
			if a.PeriodUnit == "Week" {
				periods = autoRenewWeeks
			}
			if !slices.Contains(periods, a.AutoRenewPeriod) {
				p.add("AutoRenewPeriod", "%d must be one of %v (%ss)", a.AutoRenewPeriod, periods, strings.ToLower(a.PeriodUnit))
			}
		case RenewalNormal, RenewalNone:
			if a.AutoRenewPeriod != 0 {
				p.add("AutoRenewPeriod", "only applies to RenewalStatus %q", RenewalAuto)
			}
		default:
			p.add("RenewalStatus", "%q must be %q, %q or %q", a.RenewalStatus, RenewalAuto, RenewalNormal, RenewalNone)
		}
		switch a.PeriodUnit {
		case "Month":
			if !slices.Contains(monthPeriods, a.Period) {
				p.add("Period", "%d months must be one of %v", a.Period, monthPeriods)
			}
		case "Week":
			if a.Period < 1 || a.Period > 4 {
				p.add("Period", "%d weeks must be 1 to 4", a.Period)
			}
		default:
			p.add("PeriodUnit", "%q must be \"Month\" or \"Week\"", a.PeriodUnit)
		}
	default:
		p.add("ChargeType", "%q must be %q or %q", a.ChargeType, ChargePostPaid, ChargePrePaid)
	}

	a.validateNetwork(&p)

	if !instanceTypeRE.MatchString(a.InstanceType) {
		p.add("InstanceType", "%q is not an ECS instance type such as %q", a.InstanceType, DefaultInstanceType)
	}
	if a.ImageID != "" && !imageIDRE.MatchString(a.ImageID) {
		p.add("ImageID", "%q is not an image ID", a.ImageID)
	}
	if a.ImageID == "" {
		if _, err := regexp.Compile(a.ImageNameRegex); err != nil {
			p.add("ImageNameRegex", "%q does not compile: %v", a.ImageNameRegex, err)
		}
	}
	if a.SystemDiskSize < 20 || a.SystemDiskSize > 2048 {
		p.add("SystemDiskSize", "%d GiB must be 20 to 2048", a.SystemDiskSize)
	}
	if !slices.Contains(diskCategories, a.SystemDiskCategory) {
		p.add("SystemDiskCategory", "%q must be one of %v", a.SystemDiskCategory, diskCategories)
	}
	if a.DataDiskSize < 20 || a.DataDiskSize > 32768 {
		p.add("DataDiskSize", "%d GiB must be 20 to 32768", a.DataDiskSize)
	}
	if !slices.Contains(diskCategories, a.DataDiskCategory) {
		p.add("DataDiskCategory", "%q must be one of %v", a.DataDiskCategory, diskCategories)
	}
	if limit := int64(a.DataDiskSize) << 30 * 95 / 100; a.DataDiskSize > 0 && a.MaxFileStore > limit {
		p.add("MaxFileStore", "%d bytes must leave room for the filesystem: at most 95%% of the %d GiB data disk (%d)", a.MaxFileStore, a.DataDiskSize, limit)
	}

	a.validateLogin(&p)

	if a.PublicAccess {
		if a.InternetBandwidth < 1 || a.InternetBandwidth > 200 {
			p.add("InternetBandwidth", "%d Mbit/s must be 1 to 200", a.InternetBandwidth)
		}
		if a.InternetChargeType != "PayByTraffic" && a.InternetChargeType != "PayByBandwidth" {
			p.add("InternetChargeType", "%q must be \"PayByTraffic\" or \"PayByBandwidth\"", a.InternetChargeType)
		}
	}

	seenCIDRs := map[string]bool{}
	for i, c := range a.AllowedClientCIDRs {
		f := fmt.Sprintf("AllowedClientCIDRs[%d]", i)
		if pfx, ok := parseCIDR(&p, f, c); ok {
			if seenCIDRs[c] {
				p.add(f, "%q is listed twice", c)
			}
			seenCIDRs[c] = true
			if a.AllowAnonymous && !isPrivate(pfx) && !a.AllowPublicAnonymous {
				p.add(f, "%q reaches beyond private addresses, and AllowAnonymous lets clients in without credentials: use private ranges, or set AllowPublicAnonymous", c)
			}
		}
	}
	a.validateReach(&p)
	switch {
	case a.SSHCIDR != "":
		if pfx, ok := parseCIDR(&p, "SSHCIDR", a.SSHCIDR); ok && !isPrivate(pfx) && pfx.Bits() < 24 && !a.AllowPublicSSH {
			p.add("SSHCIDR", "%q opens SSH on every node to a public range wider than a /24: use the deploying machine's address (e.g. \"203.0.113.7/32\"), or set AllowPublicSSH", a.SSHCIDR)
		}
	case a.PublicAccess && a.Bastion == nil:
		p.add("SSHCIDR", "is required with PublicAccess and no Bastion: the deploying machine's address, e.g. \"203.0.113.7/32\"")
	}
	if a.MonitoringCIDR != "" {
		if pfx, ok := parseCIDR(&p, "MonitoringCIDR", a.MonitoringCIDR); ok && !isPrivate(pfx) && !a.AllowPublicMonitoring {
			p.add("MonitoringCIDR", "%q reaches beyond private addresses, and monitoring has no authentication: use a private range, or set AllowPublicMonitoring", a.MonitoringCIDR)
		}
	}

	if len(a.ResourceTags) > maxResourceTags {
		p.add("ResourceTags", "%d tags, at most %d are allowed", len(a.ResourceTags), maxResourceTags)
	}
	for _, k := range sortedKeys(a.ResourceTags) {
		f := fmt.Sprintf("ResourceTags[%q]", k)
		lk := strings.ToLower(k)
		switch {
		case k == "" || len(k) > 128:
			p.add(f, "keys must be 1 to 128 characters")
		case strings.HasPrefix(lk, "aliyun") || strings.HasPrefix(lk, "acs:"):
			p.add(f, "keys must not start with \"aliyun\" or \"acs:\"")
		case strings.Contains(lk, "http://") || strings.Contains(lk, "https://"):
			p.add(f, "keys must not contain http:// or https://")
		}
		if v := a.ResourceTags[k]; len(v) > 128 || strings.Contains(v, "http://") || strings.Contains(v, "https://") {
			p.add(f, "values must be at most 128 characters, without http:// or https://")
		}
	}

	if arch := instanceArch(a.InstanceType); a.Binary.Arch != arch {
		p.add("Binary.Arch", "%q contradicts InstanceType %q, whose CPUs are %s: the nodes could not run the binary", a.Binary.Arch, a.InstanceType, arch)
	}

	// The provisioning half validates what it owns (server options, binary,
	// SSH, node names) with the very rules NewServers applies, so nothing
	// fails there after cloud resources exist.
	sa := a.serversArgsForValidation()
	if a.TLS != nil && a.TLS.Routes {
		p.add("TLS.Routes", "is not supported by Cluster: routes verify each node's certificate against its private address, which ECS assigns only at creation, so no certificate can name it in advance; use TLS for clients, or Servers with known addresses")
		t := *a.TLS
		t.Routes = false // reported once, here, not per placeholder address
		sa.TLS = &t
	}
	if err := sa.Validate(); err != nil {
		p = append(p, err)
	}
	return p.err()
}

func (a ClusterArgs) validateNetwork(p *problems) {
	if a.VpcID != nil {
		if s, ok := a.VpcID.(pulumi.String); ok && s == "" {
			p.add("VpcID", "must not be empty")
		}
		if a.VpcCIDR == "" {
			p.add("VpcCIDR", "is required with VpcID: the existing VPC's range (nothing is looked up)")
		}
		if len(a.VSwitchIDs) != len(a.Zones) {
			p.add("VSwitchIDs", "%d vswitches for %d zones: with VpcID give one per zone, in the order of Zones", len(a.VSwitchIDs), len(a.Zones))
		}
		for i, id := range a.VSwitchIDs {
			if id == nil {
				p.add(fmt.Sprintf("VSwitchIDs[%d]", i), "must not be nil")
			} else if s, ok := id.(pulumi.String); ok && s == "" {
				p.add(fmt.Sprintf("VSwitchIDs[%d]", i), "must not be empty")
			}
		}
		if len(a.VSwitchCIDRs) > 0 {
			p.add("VSwitchCIDRs", "only applies to a new VPC (VpcID is set)")
		}
		// The client, monitoring and SSH rules default to it: it must be
		// the private range a VPC has, never one that reaches the internet.
		if a.VpcCIDR != "" {
			if vpc, ok := parseCIDR(p, "VpcCIDR", a.VpcCIDR); ok && !isPrivate(vpc) {
				p.add("VpcCIDR", "%q must lie in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16: a VPC's range is private", a.VpcCIDR)
			}
		}
		return
	}
	if len(a.VSwitchIDs) > 0 {
		p.add("VSwitchIDs", "requires VpcID")
	}
	vpc, ok := parseCIDR(p, "VpcCIDR", a.VpcCIDR)
	if ok && (vpc.Bits() < 8 || vpc.Bits() > 24) {
		p.add("VpcCIDR", "%q must have a prefix length from /8 to /24", a.VpcCIDR)
		ok = false
	}
	if ok && !isPrivate(vpc) {
		p.add("VpcCIDR", "%q must lie in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16", a.VpcCIDR)
	}
	if len(a.VSwitchCIDRs) != len(a.Zones) {
		p.add("VSwitchCIDRs", "%d ranges for %d zones: give one per zone, in the order of Zones", len(a.VSwitchCIDRs), len(a.Zones))
	}
	var subs []netip.Prefix
	for i, c := range a.VSwitchCIDRs {
		f := fmt.Sprintf("VSwitchCIDRs[%d]", i)
		sub, sok := parseCIDR(p, f, c)
		if !sok {
			continue
		}
		if sub.Bits() < 16 || sub.Bits() > 29 {
			p.add(f, "%q must have a prefix length from /16 to /29", c)
		}
		if ok && (sub.Bits() < vpc.Bits() || !vpc.Contains(sub.Addr())) {
			p.add(f, "%q is not inside VpcCIDR %q", c, a.VpcCIDR)
		}
		for j, other := range subs {
			if other.Overlaps(sub) {
				p.add(f, "%q overlaps VSwitchCIDRs[%d] %q", c, j, other)
			}
		}
		subs = append(subs, sub)
	}
}

// validateReach refuses what provisioning could not reach: it SSHes to
// every node on each up and destroy, and pulumi-command dials an
// unreachable address about a hundred times, 15 s each, per host, while
// everything is billed. A VPC this program creates is reachable from
// outside only through the nodes' EIPs: nothing else is in it yet, so no
// bastion can be either. In an existing VPC (VpcID), the deploying
// machine, or a Bastion, may sit inside it.
func (a ClusterArgs) validateReach(p *problems) {
	if a.VpcID != nil {
		return
	}
	switch {
	case !a.PublicAccess:
		p.add("PublicAccess", "is required with a new VPC: provisioning SSHes to every node, and a VPC this program creates is reachable from outside only through the nodes' EIPs; set PublicAccess (with SSHCIDR), or deploy into an existing VPC (VpcID) that the deploying machine or a Bastion is in")
	case a.Bastion != nil:
		p.add("Bastion", "requires VpcID: a bastion cannot sit in a VPC this program creates; with PublicAccess, provisioning reaches the nodes over their EIPs")
	}
}

func (a ClusterArgs) validateLogin(p *problems) {
	if isEmpty(a.InstancePassword) && a.KeyPairName == "" {
		p.add("InstancePassword", "an instance password or KeyPairName with SSHPrivateKey is required")
	}
	if pw, ok := known(a.InstancePassword); ok && pw != "" {
		if err := checkInstancePassword(pw); err != "" {
			p.add("InstancePassword", "%s", err)
		} else if why := guessable(pw); why != "" {
			p.add("InstancePassword", "%s: guessable, and root's password on every node; generate one", why)
		}
	}
	if a.KeyPairName != "" && !keyPairNameRE.MatchString(a.KeyPairName) {
		p.add("KeyPairName", "%q is not a key pair name", a.KeyPairName)
	}
	switch {
	case a.KeyPairName != "" && isEmpty(a.SSHPrivateKey):
		p.add("SSHPrivateKey", "is required with KeyPairName: provisioning logs in with it")
	case a.KeyPairName == "" && isSet(a.SSHPrivateKey):
		p.add("KeyPairName", "is required with SSHPrivateKey: it installs the key on the instances")
	}
	checkPrivateKey(p, "SSHPrivateKey", a.SSHPrivateKey)
}

// checkInstancePassword applies ECS's password rules; it returns what is
// wrong without repeating the password.
func checkInstancePassword(pw string) string {
	if n := len(pw); n < instancePasswordMin || n > instancePasswordMax {
		return fmt.Sprintf("must be %d to %d characters, got %d", instancePasswordMin, instancePasswordMax, n)
	}
	var upper, lower, digit, special bool
	for _, r := range pw {
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= '0' && r <= '9':
			digit = true
		case strings.ContainsRune(InstancePasswordSpecials, r):
			special = true
		default:
			return fmt.Sprintf("may only contain letters, digits and %s", InstancePasswordSpecials)
		}
	}
	classes := 0
	for _, has := range []bool{upper, lower, digit, special} {
		if has {
			classes++
		}
	}
	if classes < 3 {
		return fmt.Sprintf("must contain at least three of: upper case, lower case, digits, specials from %s", InstancePasswordSpecials)
	}
	return ""
}

// serversArgsForValidation is what NewServers will receive, with placeholder
// addresses where the cloud resources' outputs will be.
func (a ClusterArgs) serversArgsForValidation() *ServersArgs {
	n := a.NodeCount
	if n < MinNodeCount || n > MaxNodeCount || (n > 1 && n%2 == 0) {
		n = MinNodeCount // NodeCount's own problem is reported above, once.
	}
	prefix := a.NodeNamePrefix
	if !nodeNamePrefixRE.MatchString(prefix) {
		prefix = DefaultNodeNamePrefix // reported once, as NodeNamePrefix, above
	}
	hosts := make([]Host, n)
	for i := range hosts {
		addr := pulumi.String(fmt.Sprintf("192.0.2.%d", i+1)) // TEST-NET-1: a placeholder
		hosts[i] = Host{
			Name:           nodeName(prefix, i),
			Connect:        addr,
			PrivateAddress: addr,
			DataDiskSerial: pulumi.String(fmt.Sprintf("d-placeholder%d", i+1)),
		}
		// A zone that is no zone is reported once, as Zones[i], above.
		if len(a.Zones) > 0 && zoneRE.MatchString(a.Zones[i%len(a.Zones)]) {
			hosts[i].Zone = a.Zones[i%len(a.Zones)]
		}
		if a.PublicAccess {
			hosts[i].PublicAddress = pulumi.String(fmt.Sprintf("198.51.100.%d", i+1))
		}
	}
	// The key and password are checked above, under their own fields, and
	// not a second time as SSH's.
	ssh := a.sshArgs()
	switch {
	case ssh.PrivateKey != nil:
		ssh.PrivateKey = checkedElsewhere()
	case ssh.Password != nil:
		ssh.Password = checkedElsewhere()
	default:
		ssh.Password = pulumi.String("placeholder") // the missing login is reported above, once
	}
	return &ServersArgs{
		ServerOptions: a.ServerOptions,
		Hosts:         hosts,
		SSH:           ssh,
		Binary:        a.Binary,
		NoAdvertise:   a.PublicAccess,
	}
}

// sshArgs is how provisioning logs in: as root, with the key when there is
// one, else with the instance password (secrets either way: the
// connection makes them so).
func (a ClusterArgs) sshArgs() SSH {
	s := SSH{User: "root", Bastion: a.Bastion}
	if isSet(a.SSHPrivateKey) {
		s.PrivateKey = a.SSHPrivateKey
	} else if isSet(a.InstancePassword) {
		s.Password = a.InstancePassword
	}
	return s
}

// checkedElsewhere stands for a secret that validation checks under
// another field: a value never known, which the rules skip.
func checkedElsewhere() pulumi.StringInput {
	return pulumi.UnsafeUnknownOutput(nil).ApplyT(func(any) string { return "" }).(pulumi.StringOutput)
}

// secret wraps a plain string as a secret input.
func secret(s string) pulumi.StringInput {
	return pulumi.ToSecret(pulumi.String(s)).(pulumi.StringOutput)
}

// nodeName is node i's host name and server_name (i counts from 0, names from 1).
func nodeName(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i+1) }

// instanceArch is the CPU architecture of an instance type's family:
// arm64 for arm64Families, amd64 otherwise.
func instanceArch(instanceType string) string {
	parts := strings.Split(instanceType, ".")
	if len(parts) == 3 && slices.Contains(arm64Families, parts[1]) {
		return "arm64"
	}
	return "amd64"
}

// nthSubnet is the i-th subnet with the given prefix length inside vpc.
func nthSubnet(vpc netip.Prefix, bits, i int) (netip.Prefix, bool) {
	vpc = vpc.Masked()
	if !vpc.Addr().Is4() || bits < vpc.Bits() || bits > 32 || i < 0 || (bits-vpc.Bits() < 31 && i >= 1<<(bits-vpc.Bits())) {
		return netip.Prefix{}, false
	}
	a := vpc.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(i) << (32 - bits)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits), true
}

var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

func isPrivate(p netip.Prefix) bool {
	for _, r := range privateRanges {
		if p.Bits() >= r.Bits() && r.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// parseCIDR accepts an IPv4 CIDR in its canonical form ("10.0.0.0/16", not
// "10.0.0.1/16"), the form security group rules and vswitches take.
func parseCIDR(p *problems, field, s string) (netip.Prefix, bool) {
	pfx, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		p.add(field, "%q is not a CIDR such as \"10.0.0.0/16\"", s)
	case !pfx.Addr().Is4():
		p.add(field, "%q is not an IPv4 CIDR", s)
	case pfx.Masked() != pfx:
		p.add(field, "%q has host bits set; did you mean %q?", s, pfx.Masked().String())
	default:
		return pfx, true
	}
	return netip.Prefix{}, false
}

func checkCIDR(p *problems, field, s string) bool {
	_, ok := parseCIDR(p, field, s)
	return ok
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
