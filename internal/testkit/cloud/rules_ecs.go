package cloud

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// --- security group rule ---------------------------------------------------

var sgRuleKind = &kind{
	token: SGRuleToken, short: "security group rule",
	// Every argument but description forces a new rule.
	forceNew: forceNew(sgRuleGo, map[string]string{
		"type": "30", "ipProtocol": "38", "nicType": "45", "policy": "53", "portRange": "61", "priority": "69",
		"securityGroupId": "77", "cidrIp": "83", "sourceSecurityGroupId": "89", "sourceGroupOwnerAccount": "96",
	}),
	required: []string{"type", "ipProtocol", "securityGroupId"}, // sgr.go:30, :38, :77
	defaults: map[string]resource.PropertyValue{
		"policy":    resource.NewProperty("accept"), // sgr.go:53
		"portRange": resource.NewProperty("-1/-1"),  // sgr.go:61
		"priority":  resource.NewProperty(1.0),      // sgr.go:69
	},
	validations: []validation{
		oneOf("type", cite(sgRuleGo, "30"), "ingress", "egress"),
		oneOf("ipProtocol", cite(sgRuleGo, "38"), "tcp", "udp", "icmp", "gre", "all"),
		oneOf("nicType", cite(sgRuleGo, "45"), "internet", "intranet"),
		oneOf("policy", cite(sgRuleGo, "53"), "accept", "drop"),
		{"priority", cite(sgRuleGo, "69"), func(v resource.PropertyValue) string {
			if v.IsNumber() && (v.NumberValue() < 1 || v.NumberValue() > 100) {
				return fmt.Sprintf("expected priority to be in the range (1 - 100), got %v", v.NumberValue())
			}
			return ""
		}},
	},
	create: func(c *Cloud, name string, in resource.PropertyMap) (string, resource.PropertyMap, error) {
		sg := c.get(SGToken, str(in, "securityGroupId"))
		if sg == nil {
			return "", nil, fmt.Errorf("InvalidSecurityGroupId.NotFound: %s", str(in, "securityGroupId"))
		}
		cidr, source := str(in, "cidrIp"), str(in, "sourceSecurityGroupId")
		if cidr == "" && source == "" {
			return "", nil, fmt.Errorf("Either cidr_ip or source_security_group_id is required. (%s)", cite(sgRuleGo, "124-128"))
		}
		proto, ports := str(in, "ipProtocol"), str(in, "portRange")
		if (proto == "tcp" || proto == "udp") && ports == "-1/-1" {
			return "", nil, fmt.Errorf("'tcp' and 'udp' can support port range: [1, 65535]. Please correct it and try again. (%s)", cite(sgRuleGo, "352-359"))
		}
		nic := str(in, "nicType")
		if (str(sg.state, "vpcId") != "" || source != "") && nic == "internet" {
			return "", nil, fmt.Errorf("When security group in the vpc or authorizing permission for source/destination security group, the nic_type must be 'intranet'. (%s)", cite(sgRuleGo, "403-409"))
		}
		from := cidr
		if from == "" {
			from = source
		}
		// sgId:direction:protocol:ports:nicType:cidr-or-source:policy:priority
		// (sgr.go:150-156); nic_type left out is an empty segment.
		id := fmt.Sprintf("%s:%s:%s:%s:%s:%s:%s:%d", sg.id, str(in, "type"), proto, ports, nic, from, str(in, "policy"), int(num(in, "priority")))
		if c.objects[id] != nil {
			return "", nil, fmt.Errorf("InvalidPermission.Duplicate: the rule %s exists already", id)
		}
		return id, in.Copy(), nil
	},
	update: keepInputs, // description only: sgr.go:229-276
}

// --- instance --------------------------------------------------------------

// instanceStopStart are the arguments whose change stops the instance, is
// applied, and starts it again when its status is Running
// (instance.go:768-892; user_data, host_name and password are the "reboot"
// of modifyInstanceAttribute, :1541-1581).
var instanceStopStart = map[string]string{
	"imageId":              cite(instanceGo, "768-807, 1462-1466"),
	"vswitchId":            cite(instanceGo, "768-807, 1657-1660"),
	"subnetId":             cite(instanceGo, "768-807, 1657-1660"),
	"privateIp":            cite(instanceGo, "768-807, 1657-1660"),
	"instanceType":         cite(instanceGo, "768-807, 1709-1740"),
	"userData":             cite(instanceGo, "1541-1552"),
	"hostName":             cite(instanceGo, "1555-1559"),
	"password":             cite(instanceGo, "1562-1567"),
	"kmsEncryptedPassword": cite(instanceGo, "1568-1579"),
}

var instanceKind = &kind{
	token: InstanceToken, short: "instance",
	forceNew: forceNew(instanceGo, map[string]string{
		"availabilityZone": "43", "systemDiskCategory": "151", "systemDiskAutoSnapshotPolicyId": "180",
		"dataDisks": "185-250", "roleName": "337", "keyName": "345", "spotStrategy": "352", "spotPriceLimit": "361",
		"securityEnhancementStrategy": "382", "hpcClusterId": "409",
	}),
	required: []string{"imageId", "instanceType", "securityGroups"}, // instance.go:50, :55, :71
	defaults: map[string]resource.PropertyValue{
		"instanceName":       resource.NewProperty("ECS-Instance"),   // :83
		"internetChargeType": resource.NewProperty("PayByTraffic"),   // :100
		"systemDiskCategory": resource.NewProperty(defaultDiskCateg), // :151
		"systemDiskSize":     resource.NewProperty(40.0),             // :168
		"instanceChargeType": resource.NewProperty("PostPaid"),       // :271
		"periodUnit":         resource.NewProperty("Month"),          // :285
		"renewalStatus":      resource.NewProperty("Normal"),         // :292
		"autoRenewPeriod":    resource.NewProperty(1.0),              // :302
		"includeDataDisks":   resource.NewProperty(true),             // :309
		"status":             resource.NewProperty(statusRunning),    // :326
		"spotStrategy":       resource.NewProperty("NoSpot"),         // :352
	},
	validations: []validation{
		matches("instanceType", cite(instanceGo, "55"), regexp.MustCompile(`^ecs\..*`), "prefix must be 'ecs.', got"),
		length("instanceName", cite(instanceGo, "83"), 2, 128),
		length("description", cite(instanceGo, "94"), 2, 256),
		oneOf("internetChargeType", cite(instanceGo, "100"), "PayByBandwidth", "PayByTraffic"),
		oneOf("systemDiskCategory", cite(instanceGo, "151"), "all", "cloud", "ephemeral_ssd", "cloud_essd", "cloud_efficiency", "cloud_ssd", "local_disk"),
		oneOf("instanceChargeType", cite(instanceGo, "271"), "PrePaid", "PostPaid"),
		intIn("period", cite(instanceGo, "277"), 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 24, 36, 48, 60),
		oneOf("periodUnit", cite(instanceGo, "285"), "Week", "Month"),
		oneOf("renewalStatus", cite(instanceGo, "292"), "AutoRenewal", "Normal", "NotRenewal"),
		intIn("autoRenewPeriod", cite(instanceGo, "302"), 1, 2, 3, 6, 12),
		oneOf("status", cite(instanceGo, "326"), statusRunning, statusStopped),
		oneOf("spotStrategy", cite(instanceGo, "352"), "NoSpot", "SpotAsPriceGo", "SpotWithPriceLimit"),
	},
	computed: []string{"privateIp", "publicIp", "status", "availabilityZone", "hostName", "keyName", "roleName"},
	create:   createInstance,
	update:   updateInstance,
	remove:   releaseInstance,
}

// vswitchOf is the instance's vswitch: vswitch_id, or the older subnet_id
// (ConflictsWith each other, instance.go:253).
func vswitchOf(c *Cloud, in resource.PropertyMap) (*object, error) {
	id := str(in, "vswitchId")
	if id == "" {
		id = str(in, "subnetId")
	}
	sw := c.get(SwitchToken, id)
	if sw == nil {
		return nil, fmt.Errorf("InvalidVSwitchId.NotFound: %q", id)
	}
	return sw, nil
}

func createInstance(c *Cloud, name string, in resource.PropertyMap) (string, resource.PropertyMap, error) {
	sw, err := vswitchOf(c, in)
	if err != nil {
		return "", nil, err
	}
	zone := str(in, "availabilityZone")
	if zone != "" && zone != str(sw.state, "zoneId") {
		return "", nil, fmt.Errorf("InvalidParameter.Mismatch: the vswitch %s is in zone %s, not %s", sw.id, str(sw.state, "zoneId"), zone)
	}
	for _, g := range strs(in, "securityGroups") {
		if c.get(SGToken, g) == nil {
			return "", nil, fmt.Errorf("InvalidSecurityGroupId.NotFound: %s", g)
		}
	}
	if k := str(in, "keyName"); k != "" && c.KeyPairs[k] == "" {
		return "", nil, fmt.Errorf("InvalidKeyPairName.NotFound: %s", k)
	}
	ip, err := c.allocatePrivateIP(sw, str(in, "privateIp"))
	if err != nil {
		return "", nil, err
	}
	id := c.newID("i") // RunInstances' InstanceIdSet[0], instance.go:476
	out := in.Copy()
	out["availabilityZone"] = resource.NewProperty(str(sw.state, "zoneId"))
	out["privateIp"] = resource.NewProperty(ip.String())
	out["publicIp"] = resource.NewProperty("") // no internet_max_bandwidth_out: no public IP, :547-552
	out["keyName"] = resource.NewProperty(str(in, "keyName"))
	out["roleName"] = resource.NewProperty(str(in, "roleName"))
	if str(out, "hostName") == "" {
		out["hostName"] = resource.NewProperty("iZ" + id[2:] + "Z") // ECS names it after the instance
	}
	if err := c.Backend.Boot(Instance{
		ID: id, HostName: str(out, "hostName"), PrivateIP: ip.String(),
		Password: str(in, "password"), AuthorizedKey: c.KeyPairs[str(in, "keyName")], UserData: userData(str(in, "userData")),
	}); err != nil {
		return "", nil, fmt.Errorf("booting %s: %w", id, err)
	}
	out["status"] = resource.NewProperty(statusRunning) // RunInstances, then wait for Running: :483
	// Created Stopped: the update that follows create stops it (:768-807).
	if str(in, "status") == statusStopped {
		if err := c.Backend.Stop(id); err != nil {
			return "", nil, err
		}
		out["status"] = resource.NewProperty(statusStopped)
	}
	return id, out, nil
}

func updateInstance(c *Cloud, o *object, news resource.PropertyMap, changed []string) (resource.PropertyMap, error) {
	out := o.state.Copy()
	running := str(o.state, "status") == statusRunning
	target := str(news, "status")
	var restart []string
	for _, k := range changed {
		if _, ok := instanceStopStart[k]; ok {
			restart = append(restart, k)
		}
	}
	statusChange := slices.Contains(changed, "status")
	if len(restart) > 0 || statusChange {
		// StopInstance when running (or asked to stop), the changes, then
		// StartInstance when the target is Running (instance.go:808-887).
		if running || (statusChange && target == statusStopped) {
			if err := c.Backend.Stop(o.id); err != nil {
				return nil, err
			}
			c.logf("stop instance %s for %v (%s)", o.id, restart, cite(instanceGo, "808-835"))
		}
		// ModifyInstanceVpcAttribute while stopped (instance.go:1657-1660).
		if slices.Contains(restart, "privateIp") || slices.Contains(restart, "vswitchId") || slices.Contains(restart, "subnetId") {
			sw, err := vswitchOf(c, news)
			if err != nil {
				return nil, err
			}
			if str(sw.state, "zoneId") != str(o.state, "availabilityZone") {
				return nil, fmt.Errorf("InvalidVSwitchId.ZoneMismatch: vswitch %s is not in the instance's zone %s", sw.id, str(o.state, "availabilityZone"))
			}
			delete(c.objects, o.id) // its own address is free to keep
			ip, err := c.allocatePrivateIP(sw, str(news, "privateIp"))
			c.objects[o.id] = o
			if err != nil {
				return nil, err
			}
			if err := c.Backend.Readdress(o.id, ip.String()); err != nil {
				return nil, err
			}
			out["privateIp"] = resource.NewProperty(ip.String())
			c.logf("move instance %s to %s in %s (%s)", o.id, ip, sw.id, cite(instanceGo, "1657-1660"))
		}
		if target == statusRunning {
			if err := c.Backend.Start(o.id); err != nil {
				return nil, err
			}
			c.logf("start instance %s (%s)", o.id, cite(instanceGo, "853-887"))
		}
	}
	ip := out["privateIp"]
	out = withComputed(o, news)
	if _, given := news["privateIp"]; !given {
		out["privateIp"] = ip
	}
	out["status"] = resource.NewProperty(target)
	return out, nil
}

func releaseInstance(c *Cloud, o *object) error {
	// A subscription instance needs force_delete (instance.go:1122-1173);
	// then DeleteInstance with Force=true, without stopping it first.
	force := o.state["forceDelete"]
	if str(o.state, "instanceChargeType") == prePaid && !(force.IsBool() && force.BoolValue()) {
		return fmt.Errorf("Please convert 'PrePaid' instance to 'PostPaid' or set 'force_delete' as true before deleting 'PrePaid' instance. (%s)", cite(instanceGo, "1122-1133"))
	}
	for _, other := range c.objects {
		if other.kind.token == DiskAttachToken && str(other.state, "instanceId") == o.id {
			// A released instance takes its attached disks' devices with
			// it: the data disk goes back to Available.
			mounted, err := c.Backend.Detach(str(other.state, "diskId"), o.id)
			if err != nil {
				return err
			}
			c.noteDetach(str(other.state, "diskId"), o.id, mounted, "released with the instance (DeleteInstance Force=true, "+cite(instanceGo, "1138-1145")+")")
		}
	}
	return c.Backend.Release(o.id)
}

// userData is what the instance's cloud-init gets: the provider sends a
// value that is base64 as it is, and base64-encodes any other
// (instance.go:1291-1298); ECS decodes it.
func userData(v string) string {
	if b, err := base64.StdEncoding.DecodeString(v); err == nil {
		return string(b)
	}
	return v
}

// allocatePrivateIP picks ip (when given) or the next free address of the
// vswitch (skipping the first four and the last, which ECS reserves).
func (c *Cloud) allocatePrivateIP(sw *object, want string) (netip.Addr, error) {
	p, err := netip.ParsePrefix(str(sw.state, "cidrBlock"))
	if err != nil {
		return netip.Addr{}, err
	}
	used := map[netip.Addr]bool{}
	for _, o := range c.objects {
		if o.kind.token == InstanceToken {
			if a, err := netip.ParseAddr(str(o.state, "privateIp")); err == nil {
				used[a] = true
			}
		}
	}
	if want != "" {
		a, err := netip.ParseAddr(want)
		if err != nil || !p.Contains(a) || used[a] {
			return netip.Addr{}, fmt.Errorf("InvalidPrivateIpAddress: %s is not a free address of vswitch %s", want, sw.id)
		}
		return a, nil
	}
	a := p.Masked().Addr()
	for range 4 {
		a = a.Next()
	}
	for ; p.Contains(a.Next()); a = a.Next() {
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("InvalidVSwitchId.IpNotEnough: vswitch %s is full", sw.id)
}

// --- data disk -------------------------------------------------------------

var diskKind = &kind{
	token: DiskToken, short: "disk",
	forceNew: forceNew(diskGo, map[string]string{
		"advancedFeatures": "30", "dedicatedBlockStorageClusterId": "41", "encryptAlgorithm": "84", "encrypted": "89",
		"kmsKeyId": "100", "snapshotId": "127", "storageSetId": "137", "storageSetPartitionNumber": "142",
		"zoneId": "153", "availabilityZone": "160",
	}),
	defaults: map[string]resource.PropertyValue{
		"category":           resource.NewProperty(defaultDiskCateg), // :35
		"deleteAutoSnapshot": resource.NewProperty(false),            // :46
		"deleteWithInstance": resource.NewProperty(false),            // :51
		"enableAutoSnapshot": resource.NewProperty(false),            // :79
	},
	validations: []validation{
		oneOf("category", cite(diskGo, "35"), "cloud", "cloud_efficiency", "cloud_essd", "cloud_ssd"),
		length("diskName", cite(diskGo, "60"), 2, 128),
		oneOf("paymentType", cite(diskGo, "105"), "PayAsYouGo", "Subscription"),
		oneOf("type", cite(diskGo, "148"), "offline", "online"),
	},
	computed: []string{"status", "zoneId"},
	create: func(c *Cloud, name string, in resource.PropertyMap) (string, resource.PropertyMap, error) {
		zone := str(in, "zoneId")
		if zone == "" {
			zone = str(in, "availabilityZone")
		}
		if !slices.Contains(c.Zones, zone) {
			return "", nil, fmt.Errorf("InvalidZoneId.NotFound: %q", zone)
		}
		size := int(num(in, "size"))
		if size < 20 {
			return "", nil, fmt.Errorf("InvalidSize.ValueNotSupported: %d GiB (a %s disk is 20 to 32768 GiB)", size, str(in, "category"))
		}
		id := c.newID("d") // response["DiskId"], ecs_disk.go:276
		if err := c.Backend.NewDisk(id, size); err != nil {
			return "", nil, err
		}
		out := in.Copy()
		out["zoneId"] = resource.NewProperty(zone)
		out["status"] = resource.NewProperty(diskAvailable)
		return id, out, nil
	},
	update: func(c *Cloud, o *object, news resource.PropertyMap, changed []string) (resource.PropertyMap, error) {
		// size is ResizeDisk in place (ecs_disk.go:331-365); the API
		// refuses to shrink a disk.
		if slices.Contains(changed, "size") && num(news, "size") < num(o.state, "size") {
			return nil, fmt.Errorf("InvalidDiskSize.TooSmall: disk %s cannot shrink from %v to %v GiB", o.id, num(o.state, "size"), num(news, "size"))
		}
		return keepInputs(c, o, news, changed)
	},
	remove: func(c *Cloud, o *object) error {
		// One DeleteDisk (ecs_disk.go:541-572); an attached disk is In_use,
		// which DeleteDisk refuses.
		if str(o.state, "status") == diskInUse {
			return fmt.Errorf("IncorrectDiskStatus: disk %s is attached (In_use)", o.id)
		}
		return c.Backend.DeleteDisk(o.id)
	},
}

// --- disk attachment -------------------------------------------------------

var diskAttachKind = &kind{
	token: DiskAttachToken, short: "disk attachment",
	forceNew: forceNew(diskAttachGo, map[string]string{
		"bootable": "28", "diskId": "43", "instanceId": "48", "keyPairName": "53", "password": "58",
	}),
	required: []string{"diskId", "instanceId"},
	defaults: map[string]resource.PropertyValue{
		"bootable": resource.NewProperty(false), "deleteWithInstance": resource.NewProperty(false), // :28, :34
	},
	computed: []string{"device"},
	create: func(c *Cloud, name string, in resource.PropertyMap) (string, resource.PropertyMap, error) {
		disk, inst := c.get(DiskToken, str(in, "diskId")), c.get(InstanceToken, str(in, "instanceId"))
		if disk == nil || inst == nil {
			return "", nil, fmt.Errorf("InvalidDiskId.NotFound or InvalidInstanceId.NotFound: %s, %s", str(in, "diskId"), str(in, "instanceId"))
		}
		if str(disk.state, "status") != diskAvailable {
			return "", nil, fmt.Errorf("IncorrectDiskStatus: disk %s is %s", disk.id, str(disk.state, "status"))
		}
		if str(disk.state, "zoneId") != str(inst.state, "availabilityZone") {
			return "", nil, fmt.Errorf("InvalidDiskId.Mismatch: disk %s (zone %s) and instance %s (zone %s) are in different zones", disk.id, str(disk.state, "zoneId"), inst.id, str(inst.state, "availabilityZone"))
		}
		// AttachDisk, then wait for In_use (ecs_disk_attachment.go:67-118);
		// the instance keeps running.
		if err := c.Backend.Attach(disk.id, inst.id); err != nil {
			return "", nil, err
		}
		disk.state["status"] = resource.NewProperty(diskInUse)
		out := in.Copy()
		out["device"] = resource.NewProperty("/dev/xvdb")
		return disk.id + ":" + inst.id, out, nil // ecs_disk_attachment.go:116
	},
	update: keepInputs, // delete_with_instance: a no-op update, :178-181
	remove: func(c *Cloud, o *object) error {
		diskID, instID := str(o.state, "diskId"), str(o.state, "instanceId")
		disk := c.get(DiskToken, diskID)
		if disk == nil || c.get(InstanceToken, instID) == nil || str(disk.state, "status") != diskInUse {
			// InvalidDisk.AlreadyDetached, InvalidInstanceId.NotFound:
			// success (:182-226).
			if disk != nil {
				disk.state["status"] = resource.NewProperty(diskAvailable)
			}
			return nil
		}
		// DetachDisk: ECS takes the device from a running instance
		// (:182-226).
		mounted, err := c.Backend.Detach(diskID, instID)
		if err != nil {
			return err
		}
		c.noteDetach(diskID, instID, mounted, "DetachDisk, "+cite(diskAttachGo, "182-226"))
		disk.state["status"] = resource.NewProperty(diskAvailable)
		return nil
	},
}

func (c *Cloud) noteDetach(diskID, instID string, mounted bool, how string) {
	if mounted {
		c.logf("detach %s from %s: detached while mounted (%s)", diskID, instID, how)
	} else {
		c.logf("detach %s from %s (%s)", diskID, instID, how)
	}
	if d := c.get(DiskToken, diskID); d != nil {
		d.state["status"] = resource.NewProperty(diskAvailable)
	}
}

// --- EIP -------------------------------------------------------------------

var eipKind = &kind{
	token: EIPToken, short: "EIP",
	forceNew: forceNew(eipGo, map[string]string{
		"internetChargeType": "69", "isp": "76", "paymentType": "94", "instanceChargeType": "102",
	}),
	validations: []validation{
		length("addressName", cite(eipGo, "39"), 2, 128),
		length("description", cite(eipGo, "64"), 2, 256),
		oneOf("internetChargeType", cite(eipGo, "69"), "PayByBandwidth", "PayByTraffic", "PayByDominantTraffic"),
		oneOf("isp", cite(eipGo, "76"), "BGP", "BGP_PRO"),
		oneOf("paymentType", cite(eipGo, "94"), "PayAsYouGo", "Subscription"),
	},
	computed: []string{"ipAddress", "status"},
	create: func(c *Cloud, name string, in resource.PropertyMap) (string, resource.PropertyMap, error) {
		ip, err := c.allocatePublicIP()
		if err != nil {
			return "", nil, err
		}
		out := in.Copy()
		out["ipAddress"] = resource.NewProperty(ip.String()) // eip_address.go:111, :240
		out["status"] = resource.NewProperty(diskAvailable)
		return c.newID("eip"), out, nil // response["AllocationId"], eip_address.go:211
	},
	update: keepInputs,
	remove: func(c *Cloud, o *object) error {
		// A subscription EIP only leaves the state (eip_address.go:386-389);
		// ReleaseEipAddress refuses one still associated.
		if str(o.state, "paymentType") == "Subscription" {
			return nil
		}
		if str(o.state, "status") == eipInUse {
			return fmt.Errorf("IncorrectEipStatus: EIP %s is still associated (%s)", o.id, cite(eipGo, "385-425"))
		}
		return nil
	},
}

func (c *Cloud) allocatePublicIP() (netip.Addr, error) {
	used := map[string]bool{}
	for _, o := range c.objects {
		if o.kind.token == EIPToken {
			used[str(o.state, "ipAddress")] = true
		}
	}
	if !c.PublicPool.IsValid() {
		return netip.Addr{}, fmt.Errorf("the emulated cloud has no address pool for EIPs")
	}
	for a := c.PublicPool.Masked().Addr().Next(); c.PublicPool.Contains(a.Next()); a = a.Next() {
		if !used[a.String()] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("QuotaExceeded.Eip: the pool %s is used up", c.PublicPool)
}

// --- EIP association -------------------------------------------------------

var eipAssocKind = &kind{
	token: EIPAssocToken, short: "EIP association",
	forceNew: forceNew(eipAssocGo, map[string]string{
		"allocationId": "27", "instanceId": "33", "instanceType": "39", "privateIpAddress": "52",
	}),
	required: []string{"allocationId", "instanceId"},
	computed: []string{"instanceType"},
	create: func(c *Cloud, name string, in resource.PropertyMap) (string, resource.PropertyMap, error) {
		eip, inst := c.get(EIPToken, str(in, "allocationId")), c.get(InstanceToken, str(in, "instanceId"))
		if eip == nil || inst == nil {
			return "", nil, fmt.Errorf("InvalidAllocationId.NotFound or InvalidInstanceId.NotFound: %s, %s", str(in, "allocationId"), str(in, "instanceId"))
		}
		if str(eip.state, "status") == eipInUse {
			return "", nil, fmt.Errorf("IncorrectEipStatus: EIP %s is associated already", eip.id)
		}
		// AssociateEipAddress, EcsInstance unless told (eip_association.go:62-113).
		if err := c.Backend.Associate(str(eip.state, "ipAddress"), inst.id); err != nil {
			return "", nil, err
		}
		eip.state["status"] = resource.NewProperty(eipInUse)
		out := in.Copy()
		if str(out, "instanceType") == "" {
			out["instanceType"] = resource.NewProperty("EcsInstance")
		}
		return eip.id + ":" + inst.id, out, nil // eip_association.go:110
	},
	update: keepInputs, // force: a no-op update, :134-137
	remove: func(c *Cloud, o *object) error {
		eip := c.get(EIPToken, str(o.state, "allocationId"))
		if eip == nil {
			return nil
		}
		// UnassociateEipAddress (eip_association.go:139-186).
		if c.get(InstanceToken, str(o.state, "instanceId")) != nil {
			if err := c.Backend.Disassociate(str(eip.state, "ipAddress"), str(o.state, "instanceId")); err != nil {
				return err
			}
		}
		eip.state["status"] = resource.NewProperty(diskAvailable)
		return nil
	},
}

// --- lookups ---------------------------------------------------------------

var invokes = map[string]func(c *Cloud, args resource.PropertyMap) (resource.PropertyMap, error){
	getImagesToken: func(c *Cloud, args resource.PropertyMap) (resource.PropertyMap, error) {
		// One of name_regex, owners, most_recent or image_owner_id
		// (data_source_alicloud_images.go:249-251).
		if str(args, "nameRegex") == "" && str(args, "owners") == "" && !args["mostRecent"].IsBool() && str(args, "imageOwnerId") == "" {
			return nil, fmt.Errorf("One of name_regex, owners, most_recent or image_owner_id must be assigned (%s)", cite(imagesGo, "249-251"))
		}
		var ids, images []resource.PropertyValue
		if re := str(args, "nameRegex"); re == "" || regexp.MustCompile(re).MatchString(c.ImageID) {
			ids = append(ids, resource.NewProperty(c.ImageID))
			images = append(images, resource.NewProperty(resource.PropertyMap{
				"id": resource.NewProperty(c.ImageID), "imageId": resource.NewProperty(c.ImageID),
				"name": resource.NewProperty(c.ImageID), "osType": resource.NewProperty("linux"),
				"architecture": resource.NewProperty("x86_64"), "status": resource.NewProperty("Available"),
			}))
		}
		return resource.PropertyMap{"id": resource.NewProperty(hashID(ids)), "ids": resource.NewProperty(ids), "images": resource.NewProperty(images)}, nil
	},
	getZonesToken: func(c *Cloud, args resource.PropertyMap) (resource.PropertyMap, error) {
		zones := slices.Sorted(slices.Values(c.Zones)) // sorted, data_source_alicloud_zones.go
		var ids, list []resource.PropertyValue
		for _, z := range zones {
			ids = append(ids, resource.NewProperty(z))
			list = append(list, resource.NewProperty(resource.PropertyMap{"id": resource.NewProperty(z)}))
		}
		return resource.PropertyMap{"id": resource.NewProperty(hashID(ids)), "ids": resource.NewProperty(ids), "zones": resource.NewProperty(list)}, nil
	},
}

// hashID stands in for dataResourceIdHash: a stable ID of the results.
func hashID(ids []resource.PropertyValue) string {
	h := uint32(2166136261)
	for _, id := range ids {
		for _, b := range []byte(id.StringValue() + "-") {
			h = (h ^ uint32(b)) * 16777619
		}
	}
	return strconv.FormatUint(uint64(h), 10)
}
