package natsnest

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-alicloud/sdk/v3/go/alicloud"
	"github.com/pulumi/pulumi-alicloud/sdk/v3/go/alicloud/ecs"
	"github.com/pulumi/pulumi-alicloud/sdk/v3/go/alicloud/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ClusterType is the Pulumi type token of Cluster.
const ClusterType = "natsnest:index:Cluster"

// newServers is NewServers; tests wrap it to see the hosts Cluster hands over.
var newServers = NewServers

// Cluster is a NATS JetStream cluster on Alibaba Cloud ECS.
type Cluster struct {
	pulumi.ResourceState

	// PrivateEndpoint is "nats://ip:4222,nats://ip:4222,…" over the nodes'
	// private addresses, in node order.
	PrivateEndpoint pulumi.StringOutput `pulumi:"privateEndpoint"`
	// PublicEndpoint is the same over the EIPs; empty without PublicAccess.
	PublicEndpoint pulumi.StringOutput `pulumi:"publicEndpoint"`
	// Nodes are, in node order, {name, zone, instanceId, imageId,
	// privateIp, publicIp} (publicIp empty without PublicAccess; imageId the
	// image the node was created from).
	Nodes pulumi.MapArrayOutput `pulumi:"nodes"`
	// ImageID is the image new nodes are created from: ClusterArgs.ImageID,
	// or the newest match of ImageNameRegex. Existing nodes keep the image
	// they were created from, and so does a replacement of one (the
	// instances ignore image changes). Set ClusterArgs.ImageID to this value
	// to pin it, so that nodes added later run what the others run.
	ImageID pulumi.StringOutput `pulumi:"imageId"`
	// NodeNames are the nodes' host names and server_names.
	NodeNames pulumi.StringArrayOutput `pulumi:"nodeNames"`
	// InstanceIDs, PrivateIPs and PublicIPs are per node, in node order.
	InstanceIDs pulumi.StringArrayOutput `pulumi:"instanceIds"`
	PrivateIPs  pulumi.StringArrayOutput `pulumi:"privateIps"`
	PublicIPs   pulumi.StringArrayOutput `pulumi:"publicIps"`
	// MonitoringURLs are every node's monitoring endpoint, http://ip:8222.
	MonitoringURLs pulumi.StringArrayOutput `pulumi:"monitoringUrls"`
	// ClusterName is the NATS cluster's name.
	ClusterName pulumi.StringOutput `pulumi:"clusterName"`
	// NatsContext is a ready `nats` CLI context (JSON). Secret.
	NatsContext pulumi.StringOutput `pulumi:"natsContext"`
	// VpcID, VSwitchIDs (one per zone) and SecurityGroupID let a program
	// add resources of its own next to the cluster.
	VpcID           pulumi.StringOutput      `pulumi:"vpcId"`
	VSwitchIDs      pulumi.StringArrayOutput `pulumi:"vswitchIds"`
	SecurityGroupID pulumi.StringOutput      `pulumi:"securityGroupId"`

	// Servers is the provisioning child component.
	Servers *Servers `pulumi:"-"`
}

// NewCluster creates the network (unless VpcID is given), a security group,
// NodeCount ECS instances each with a data disk (and an EIP with
// PublicAccess), and provisions NATS onto them through NewServers. Args are
// validated before anything is registered.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if args == nil {
		return nil, fmt.Errorf("%w: ClusterArgs: must not be nil", ErrInvalidArgs)
	}
	a, err := args.resolve(ctx.Context())
	if err != nil {
		return nil, err
	}
	if err := a.validate(); err != nil {
		return nil, err
	}
	// Decide the binary (and build the pinned one for an upload) before any
	// cloud resource exists, so a failed build leaves nothing half-made.
	// NewServers then finds a file and only checks its checksum. (Under
	// mocks nothing is built, and NewServers decides the same again.)
	bin, err := resolveBinary(ctx, ServersArgs{ServerOptions: a.ServerOptions, Binary: a.Binary}.withDefaults())
	if err != nil {
		return nil, err
	}
	if bin.localPath != "" && !underMocks(ctx) {
		a.Binary.LocalPath, a.Binary.SHA256 = bin.localPath, bin.opts.SHA256
	}

	c := &Cluster{}
	if err := ctx.RegisterComponentResource(ClusterType, name, c, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(c)
	mapTags, strTags := pulumi.Map{}, pulumi.StringMap{}
	for k, v := range a.ResourceTags {
		mapTags[k], strTags[k] = pulumi.String(v), pulumi.String(v)
	}

	imageID, err := a.image(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := a.checkZones(ctx, c); err != nil {
		return nil, err
	}
	if msg := a.unreachableContext(); msg != "" {
		warn(ctx, c, msg)
	}

	// Network: the given one, or a new VPC with a vswitch per zone.
	var vpcID pulumi.StringOutput
	var vswitchIDs []pulumi.StringOutput
	if a.VpcID != nil {
		vpcID = a.VpcID.ToStringOutput()
		for _, id := range a.VSwitchIDs {
			vswitchIDs = append(vswitchIDs, id.ToStringOutput())
		}
	} else {
		network, err := vpc.NewNetwork(ctx, name+"-vpc", &vpc.NetworkArgs{
			VpcName:     pulumi.String(name),
			CidrBlock:   pulumi.String(a.VpcCIDR),
			Description: pulumi.String("NATS cluster " + name),
			Tags:        mapTags,
		}, parent)
		if err != nil {
			return nil, err
		}
		vpcID = network.ID().ToStringOutput()
		for i, zone := range a.Zones {
			sw, err := vpc.NewSwitch(ctx, fmt.Sprintf("%s-vsw-%s", name, zone), &vpc.SwitchArgs{
				VpcId:       network.ID(),
				ZoneId:      pulumi.String(zone),
				CidrBlock:   pulumi.String(a.VSwitchCIDRs[i]),
				VswitchName: pulumi.String(fmt.Sprintf("%s-%s", name, zone)),
				Description: pulumi.String(fmt.Sprintf("NATS cluster %s in %s", name, zone)),
				Tags:        mapTags,
			}, parent)
			if err != nil {
				return nil, err
			}
			vswitchIDs = append(vswitchIDs, sw.ID().ToStringOutput())
		}
	}

	// Security group: members reach each other only through the rules below.
	sg, err := ecs.NewSecurityGroup(ctx, name+"-sg", &ecs.SecurityGroupArgs{
		Name:              pulumi.String(name),
		VpcId:             vpcID,
		InnerAccessPolicy: pulumi.String("Drop"),
		Description:       pulumi.String("NATS cluster " + name),
		Tags:              mapTags,
	}, parent)
	if err != nil {
		return nil, err
	}
	rule := func(suffix, port, description string, source ecs.SecurityGroupRuleArgs) (*ecs.SecurityGroupRule, error) {
		source.Type = pulumi.String("ingress")
		source.IpProtocol = pulumi.String("tcp")
		source.NicType = pulumi.String("intranet")
		source.Policy = pulumi.String("accept")
		source.Priority = pulumi.Int(1)
		source.PortRange = pulumi.String(port + "/" + port)
		source.SecurityGroupId = sg.ID()
		source.Description = pulumi.String(description)
		return ecs.NewSecurityGroupRule(ctx, name+"-sg-"+suffix, &source, parent)
	}
	clientPort, routePort, monitorPort := strconv.Itoa(a.ClientPort), strconv.Itoa(a.RoutePort), strconv.Itoa(a.MonitorPort)
	for _, cidr := range a.AllowedClientCIDRs {
		if _, err := rule("client-"+cidrSlug(cidr), clientPort, "NATS clients from "+cidr,
			ecs.SecurityGroupRuleArgs{CidrIp: pulumi.String(cidr)}); err != nil {
			return nil, err
		}
	}
	if a.NodeCount > 1 {
		if _, err := rule("routes", routePort, "NATS cluster routes between members of this group only",
			ecs.SecurityGroupRuleArgs{SourceSecurityGroupId: sg.ID()}); err != nil {
			return nil, err
		}
		// A leaving node's peer removal speaks the client protocol to the
		// other members: the inner policy drops it unless a rule allows it,
		// whatever AllowedClientCIDRs say.
		if _, err := rule("client-members", clientPort, "NATS clients between members of this group",
			ecs.SecurityGroupRuleArgs{SourceSecurityGroupId: sg.ID()}); err != nil {
			return nil, err
		}
	}
	if _, err := rule("monitoring", monitorPort, "NATS monitoring from "+a.MonitoringCIDR,
		ecs.SecurityGroupRuleArgs{CidrIp: pulumi.String(a.MonitoringCIDR)}); err != nil {
		return nil, err
	}
	sshRule, err := rule("ssh", "22", "SSH for provisioning from "+a.SSHCIDR,
		ecs.SecurityGroupRuleArgs{CidrIp: pulumi.String(a.SSHCIDR)})
	if err != nil {
		return nil, err
	}

	// Nodes.
	hosts := make([]Host, a.NodeCount)
	var nodes pulumi.MapArray
	var names []string
	var instanceIDs, privateIPs, publicIPs pulumi.StringArray
	for i := range a.NodeCount {
		node := nodeName(a.NodeNamePrefix, i)
		res := name + "-" + node
		zone := a.Zones[i%len(a.Zones)]
		spec := instanceSpec{AvailabilityZone: zone, SystemDiskCategory: a.SystemDiskCategory, KeyName: a.KeyPairName}
		key, err := registerHostKey(ctx, res, spec, c)
		if err != nil {
			return nil, err
		}
		instArgs := a.instanceArgs(name, node, zone, imageID, sg.ID(), vswitchIDs[i%len(vswitchIDs)], strTags, mapTags)
		instArgs.UserData = key.userData
		// A newer image from the lookup must not replace running nodes.
		ignore := []string{"imageId"}
		if key.keepUserData {
			ignore = append(ignore, "userData")
		}
		inst, err := ecs.NewInstance(ctx, res, instArgs, parent,
			// A new node must never run next to the one it replaces under
			// the same server_name.
			pulumi.DeleteBeforeReplace(true),
			pulumi.IgnoreChanges(ignore),
			pulumi.AdditionalSecretOutputs([]string{"userData"}))
		if err != nil {
			return nil, err
		}
		disk, err := ecs.NewEcsDisk(ctx, res+"-data", &ecs.EcsDiskArgs{
			DiskName:           pulumi.String(res + "-data"),
			Description:        pulumi.String(fmt.Sprintf("JetStream store of %s in NATS cluster %s", node, name)),
			ZoneId:             pulumi.String(zone),
			Category:           pulumi.String(a.DataDiskCategory),
			Size:               pulumi.Int(a.DataDiskSize),
			PaymentType:        pulumi.String("PayAsYouGo"),
			DeleteWithInstance: pulumi.Bool(false),
			// Growing DataDiskSize resizes the disk while the node runs,
			// instead of waiting for a reboot of every node at once.
			Type: pulumi.String("online"),
			Tags: mapTags,
		}, parent, pulumi.RetainOnDelete(!a.DeleteDataDisksOnDestroy))
		if err != nil {
			return nil, err
		}
		attach, err := ecs.NewEcsDiskAttachment(ctx, res+"-data-attach", &ecs.EcsDiskAttachmentArgs{
			DiskId:             disk.ID(),
			InstanceId:         inst.ID(),
			DeleteWithInstance: pulumi.Bool(false),
		}, parent, pulumi.DeleteBeforeReplace(true))
		if err != nil {
			return nil, err
		}

		host := Host{
			Name:           node,
			PrivateAddress: inst.PrivateIp,
			Connect:        inst.PrivateIp,
			Zone:           zone,
			// The disk is found by its serial, the disk ID; a resize re-runs
			// the disk step, which grows the filesystem.
			DataDiskSerial: disk.ID().ToStringOutput(),
			DataDiskSize:   pulumi.Int(a.DataDiskSize),
			// A replaced instance is provisioned again from scratch.
			InstanceID: inst.ID().ToStringOutput(),
			DependsOn:  []pulumi.Resource{sshRule, attach},
		}
		publicIP := pulumi.String("").ToStringOutput()
		if a.PublicAccess {
			eip, err := ecs.NewEipAddress(ctx, res+"-eip", &ecs.EipAddressArgs{
				AddressName:        pulumi.String(res),
				Description:        pulumi.String(fmt.Sprintf("%s of NATS cluster %s", node, name)),
				Bandwidth:          pulumi.String(strconv.Itoa(a.InternetBandwidth)),
				InternetChargeType: pulumi.String(a.InternetChargeType),
				PaymentType:        pulumi.String("PayAsYouGo"),
				Tags:               mapTags,
			}, parent)
			if err != nil {
				return nil, err
			}
			assoc, err := ecs.NewEipAssociation(ctx, res+"-eip-assoc", &ecs.EipAssociationArgs{
				AllocationId: eip.ID(),
				InstanceId:   inst.ID(),
				InstanceType: pulumi.String("EcsInstance"),
			}, parent, pulumi.DeleteBeforeReplace(true))
			if err != nil {
				return nil, err
			}
			publicIP = eip.IpAddress
			host.PublicAddress = eip.IpAddress
			if a.Bastion == nil {
				host.Connect = eip.IpAddress
			}
			// SSH to the EIP works once it is associated, not merely allocated.
			host.DependsOn = append(host.DependsOn, assoc)
		}
		// Before any other step: the node presents natsnest's host key,
		// which every connection to it pins.
		pin, err := registerHostKeyPin(ctx, res, node, key, inst, host.Connect, a.sshArgs(), host.DependsOn, c)
		if err != nil {
			return nil, err
		}
		host.HostKey = key.public
		host.DependsOn = append(host.DependsOn, pin)
		hosts[i] = host
		names = append(names, node)
		instanceIDs = append(instanceIDs, inst.ID().ToStringOutput())
		privateIPs = append(privateIPs, inst.PrivateIp)
		publicIPs = append(publicIPs, publicIP)
		nodes = append(nodes, pulumi.Map{
			"name":       pulumi.String(node),
			"zone":       pulumi.String(zone),
			"instanceId": inst.ID().ToStringOutput(),
			"imageId":    inst.ImageId,
			"privateIp":  inst.PrivateIp,
			"publicIp":   publicIP,
		})
	}

	servers, err := newServers(ctx, name+"-servers", &ServersArgs{
		ServerOptions: a.ServerOptions,
		Hosts:         hosts,
		SSH:           a.sshArgs(),
		Binary:        a.Binary,
		NoAdvertise:   a.PublicAccess,
	}, parent)
	if err != nil {
		return nil, err
	}

	c.Servers = servers
	c.PrivateEndpoint = servers.PrivateEndpoint
	c.PublicEndpoint = servers.PublicEndpoint
	c.MonitoringURLs = servers.MonitoringURLs
	c.ClusterName = servers.ClusterName
	c.NatsContext = pulumi.ToSecret(servers.NatsContext).(pulumi.StringOutput)
	c.Nodes = nodes.ToMapArrayOutput()
	c.NodeNames = pulumi.ToStringArray(names).ToStringArrayOutput()
	c.InstanceIDs = instanceIDs.ToStringArrayOutput()
	c.PrivateIPs = privateIPs.ToStringArrayOutput()
	c.PublicIPs = publicIPs.ToStringArrayOutput()
	c.VpcID = vpcID
	c.ImageID = imageID.ToStringOutput()
	c.VSwitchIDs = pulumi.StringArray(toInputs(vswitchIDs)).ToStringArrayOutput()
	c.SecurityGroupID = sg.ID().ToStringOutput()

	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"privateEndpoint": c.PrivateEndpoint,
		"publicEndpoint":  c.PublicEndpoint,
		"nodes":           c.Nodes,
		"imageId":         c.ImageID,
		"nodeNames":       c.NodeNames,
		"instanceIds":     c.InstanceIDs,
		"privateIps":      c.PrivateIPs,
		"publicIps":       c.PublicIPs,
		"monitoringUrls":  c.MonitoringURLs,
		"clusterName":     c.ClusterName,
		"natsContext":     c.NatsContext,
		"vpcId":           c.VpcID,
		"vswitchIds":      c.VSwitchIDs,
		"securityGroupId": c.SecurityGroupID,
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// instanceArgs are one node's ECS instance. The data disk is a separate
// resource: inline data disks are replaced with the instance and deleted
// with it.
func (a ClusterArgs) instanceArgs(cluster, node, zone string, imageID pulumi.StringInput,
	sgID pulumi.IDOutput, vswitchID pulumi.StringOutput, strTags pulumi.StringMap, mapTags pulumi.Map,
) *ecs.InstanceArgs {
	args := &ecs.InstanceArgs{
		InstanceName:       pulumi.String(cluster + "-" + node),
		HostName:           pulumi.String(node),
		Description:        pulumi.String(fmt.Sprintf("%s of NATS cluster %s", node, cluster)),
		AvailabilityZone:   pulumi.String(zone),
		VswitchId:          vswitchID,
		SecurityGroups:     pulumi.StringArray{sgID.ToStringOutput()},
		InstanceType:       pulumi.String(a.InstanceType),
		ImageId:            imageID,
		SystemDiskCategory: pulumi.String(a.SystemDiskCategory),
		SystemDiskSize:     pulumi.Int(a.SystemDiskSize),
		InstanceChargeType: pulumi.String(a.ChargeType),
		Tags:               strTags,
		// No VolumeTags: the provider applies them to every disk attached
		// to the instance, the separately managed data disk included, which
		// two resources would then own (the system disk stays untagged).
		// A later change of ChargeType must never convert the data disk,
		// which is bought apart from the instance.
		IncludeDataDisks: pulumi.Bool(false),
	}
	if a.ChargeType == ChargePrePaid {
		args.Period = pulumi.Int(a.Period)
		args.PeriodUnit = pulumi.String(a.PeriodUnit)
		args.RenewalStatus = pulumi.String(a.RenewalStatus)
		if a.RenewalStatus == RenewalAuto {
			args.AutoRenewPeriod = pulumi.Int(a.AutoRenewPeriod)
		}
		// Subscription instances cannot be released before their period
		// ends unless forced: destroy and scale-in need it.
		args.ForceDelete = pulumi.Bool(true)
	}
	if isSet(a.InstancePassword) {
		args.Password = a.pending.unknown(secret(plain(a.InstancePassword)).ToStringOutput())
	}
	if a.KeyPairName != "" {
		args.KeyName = pulumi.String(a.KeyPairName)
	}
	return args
}

// image is ImageID, or the newest system image whose name matches
// ImageNameRegex and that the instance type can run.
func (a ClusterArgs) image(ctx *pulumi.Context, c *Cluster) (pulumi.StringInput, error) {
	if a.ImageID != "" {
		return pulumi.String(a.ImageID), nil
	}
	res, err := ecs.GetImages(ctx, &ecs.GetImagesArgs{
		NameRegex:    pulumi.StringRef(a.ImageNameRegex),
		Owners:       pulumi.StringRef("system"),
		OsType:       pulumi.StringRef("linux"),
		InstanceType: pulumi.StringRef(a.InstanceType),
		MostRecent:   pulumi.BoolRef(true),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("natsnest: looking up the image %q: %w", a.ImageNameRegex, err)
	}
	if len(res.Images) == 0 || res.Images[0].Id == "" {
		return nil, fmt.Errorf("natsnest: no system image in this region matches ImageNameRegex %q for %s; set ImageID", a.ImageNameRegex, a.InstanceType)
	}
	return pulumi.String(res.Images[0].Id), nil
}

// warn logs a warning on r; tests replace it to see what users see.
var warn = func(ctx *pulumi.Context, r pulumi.Resource, msg string) {
	_ = ctx.Log.Warn(msg, &pulumi.LogArgs{Resource: r})
}

// checkZones refuses a zone the region does not have (a misspelt zone),
// before any cloud resource is registered, and warns when a zone does not
// currently offer the instance type with the data disk category (stock
// changes, and existing nodes must stay manageable when it runs out), and
// when one of several zones holds a majority of the nodes.
func (a ClusterArgs) checkZones(ctx *pulumi.Context, c *Cluster) error {
	region, err := alicloud.GetZones(ctx, &alicloud.GetZonesArgs{}, pulumi.Parent(c))
	if err != nil {
		return fmt.Errorf("natsnest: looking up the region's zones: %w", err)
	}
	var all []string
	for _, z := range region.Zones {
		all = append(all, z.Id)
	}
	var p problems
	for i, z := range a.Zones {
		if !slices.Contains(all, z) {
			p.add(fmt.Sprintf("Zones[%d]", i), "%q is not a zone of this region (alicloud:region); its zones are %s", z, strings.Join(all, ", "))
		}
	}
	if err := p.err(); err != nil {
		return err
	}
	if zone, n := majorityZone(a.Zones, a.NodeCount); zone != "" {
		warn(ctx, c, fmt.Sprintf("natsnest: zone %s holds %d of the %d nodes, a majority: if it fails, JetStream loses its quorum and the cluster stops; spread the nodes so that no zone holds a majority (three zones for three nodes)",
			zone, n, a.NodeCount))
	}

	res, err := alicloud.GetZones(ctx, &alicloud.GetZonesArgs{
		AvailableResourceCreation: pulumi.StringRef("Instance"),
		AvailableInstanceType:     pulumi.StringRef(a.InstanceType),
		AvailableDiskCategory:     pulumi.StringRef(a.DataDiskCategory),
		InstanceChargeType:        pulumi.StringRef(a.ChargeType),
	}, pulumi.Parent(c))
	if err != nil {
		warn(ctx, c, fmt.Sprintf("natsnest: could not check the zones' offers: %v", err))
		return nil
	}
	var offered []string
	for _, z := range res.Zones {
		offered = append(offered, z.Id)
	}
	if missing := unavailableZones(a.Zones, offered); len(missing) > 0 {
		warn(ctx, c, fmt.Sprintf("natsnest: zones %s do not currently offer %s with %s disks (offered: %s); new nodes there may fail to create",
			strings.Join(missing, ", "), a.InstanceType, a.DataDiskCategory, strings.Join(offered, ", ")))
	}
	return nil
}

// unreachableContext says what to allow when NatsContext, which uses the
// public endpoint with PublicAccess, cannot be used from the deploying
// machine (SSHCIDR) through the client rules the stack makes; "" when it can.
func (a ClusterArgs) unreachableContext() string {
	if !a.PublicAccess || a.SSHCIDR == "" {
		return ""
	}
	from, err := netip.ParsePrefix(a.SSHCIDR)
	if err != nil {
		return ""
	}
	for _, c := range a.AllowedClientCIDRs {
		if allowed, err := netip.ParsePrefix(c); err == nil && allowed.Bits() <= from.Bits() && allowed.Contains(from.Addr()) {
			return ""
		}
	}
	return fmt.Sprintf("natsnest: natsContext connects to the public endpoint, whose client port only AllowedClientCIDRs (%s) may reach; the deploying machine (SSHCIDR %s) is not among them. To use natsContext from there, add %s to AllowedClientCIDRs (natsnest:allowedClientCidrs), next to the ranges already listed",
		strings.Join(a.AllowedClientCIDRs, ", "), a.SSHCIDR, a.SSHCIDR)
}

// majorityZone is the zone that holds more than half of nodes spread
// round-robin over several zones, and how many it holds; "" when there is
// one zone (a zone outage stops the cluster anyway: documented) or none
// holds a majority.
func majorityZone(zones []string, nodes int) (string, int) {
	if len(zones) < 2 || nodes < 3 {
		return "", 0
	}
	for i, z := range zones {
		n := nodes / len(zones)
		if i < nodes%len(zones) {
			n++
		}
		if n > nodes/2 {
			return z, n
		}
	}
	return "", 0
}

// unavailableZones are the configured zones missing from offered, in the
// configured order.
func unavailableZones(configured, offered []string) []string {
	var missing []string
	for _, z := range configured {
		if !slices.Contains(offered, z) {
			missing = append(missing, z)
		}
	}
	return missing
}

// cidrSlug turns a CIDR into a resource name part: "10.0.0.0/16" → "10-0-0-0-16".
// Rules are named by their CIDR, not their position, so adding or removing
// one CIDR leaves the others' rules alone.
func cidrSlug(cidr string) string {
	return strings.NewReplacer(".", "-", "/", "-").Replace(cidr)
}

func toInputs(outs []pulumi.StringOutput) []pulumi.StringInput {
	in := make([]pulumi.StringInput, len(outs))
	for i, o := range outs {
		in[i] = o
	}
	return in
}
