package natsnest

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Host is one machine that runs a node.
type Host struct {
	// Name is the node's server_name: unique in the cluster and stable for
	// the node's whole life (JetStream identifies peers by it). Required.
	Name string
	// Connect is the address provisioning reaches over SSH. Required.
	Connect pulumi.StringInput
	// PrivateAddress is the address other nodes route to and the one in
	// privateEndpoint. Required.
	PrivateAddress pulumi.StringInput
	// PublicAddress, when set, goes into publicEndpoint.
	PublicAddress pulumi.StringInput
	// Zone is added as the server tag "az:<zone>".
	Zone string
	// DataDiskSerial picks the data disk by its serial number (on ECS, the
	// disk ID). Either it or DataDevice; neither means: the single disk that
	// is neither the system disk nor mounted.
	DataDiskSerial pulumi.StringInput
	// DataDevice is the data disk's device path, e.g. /dev/vdb.
	DataDevice string
	// DependsOn are resources that must exist before SSH can work: the SSH
	// security group rule, the EIP association, the disk attachment.
	DependsOn []pulumi.Resource
}

// Bastion is a jump host that SSH connects through.
type Bastion struct {
	Host       pulumi.StringInput
	Port       int    // Defaults to 22.
	User       string // Defaults to "root".
	PrivateKey pulumi.StringInput
	Password   pulumi.StringInput
}

// SSH says how provisioning logs in to every host.
type SSH struct {
	// User defaults to "root".
	User string
	// Port defaults to 22.
	Port int
	// PrivateKey (PEM) or Password; one is required.
	PrivateKey pulumi.StringInput
	Password   pulumi.StringInput
	// Bastion, when set, is the jump host every connection goes through.
	Bastion *Bastion
	// DialErrorLimit is how many failed dials are retried, to cover a first
	// boot. Defaults to 100 (about 8 minutes).
	DialErrorLimit int
}

// Binary says how the nats-server binary reaches the nodes.
type Binary struct {
	// LocalPath is a nats-server binary on the deploying machine, uploaded to
	// every node. Defaults to one built from the Go module proxy for the
	// pinned version and the nodes' architecture. Ignored when URL is set.
	LocalPath string
	// URL, when set, is downloaded by every node instead: a nats-server
	// release .tar.gz (or a bare binary). Regions in mainland China often
	// cannot reach GitHub, so point it at a mirror or an OSS bucket.
	URL string
	// SHA256 is the checksum of what URL serves. Required with URL.
	SHA256 string
	// Arch is "amd64" or "arm64". Defaults to "amd64".
	Arch string
}

// ServersArgs provisions NATS onto machines that already exist.
type ServersArgs struct {
	ServerOptions
	// Hosts: 1, or an odd number from 3 to 11.
	Hosts []Host
	SSH   SSH
	// Binary says how nats-server is delivered. Defaults to an upload.
	Binary Binary
	// NoAdvertise stops servers from advertising other servers' addresses to
	// clients; set it when clients connect through public addresses.
	NoAdvertise bool
}

// Servers is NATS provisioned onto a set of hosts.
type Servers struct {
	pulumi.ResourceState

	// PrivateEndpoint is "nats://ip:4222,nats://ip:4222,…" over private addresses.
	PrivateEndpoint pulumi.StringOutput `pulumi:"privateEndpoint"`
	// PublicEndpoint is the same over public addresses; empty without them.
	PublicEndpoint pulumi.StringOutput `pulumi:"publicEndpoint"`
	// MonitoringURLs are every node's http://ip:8222 over private addresses.
	MonitoringURLs pulumi.StringArrayOutput `pulumi:"monitoringUrls"`
	// ClusterName is the cluster block's name.
	ClusterName pulumi.StringOutput `pulumi:"clusterName"`
	// NatsContext is a `nats` CLI context (JSON) for the first application
	// user. Secret.
	NatsContext pulumi.StringOutput `pulumi:"natsContext"`
}
