package natsnesttest_test

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/natsnest/pulumi-natsnest/natsnest/natsnesttest"
)

// A program's unit test: deploy a Cluster under Mocks, then ask what was
// registered — the security group rules that let clients in, an instance,
// the cluster's outputs.
func Example() {
	m := natsnesttest.New()
	var cluster *natsnest.Cluster
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var err error
		cluster, err = natsnest.NewCluster(ctx, "events", &natsnest.ClusterArgs{
			ServerOptions: natsnest.ServerOptions{
				AdminPassword: pulumi.String("Kq8#zR2vN6pW0xTy4mB7dLs"),
				StackSecret:   pulumi.String("Jr3v9QkP2mXw7TzLq3J0n2tY9sJ6mV1k"),
				Accounts:      []natsnest.Account{{Users: []natsnest.User{{Name: "app", Password: pulumi.String("Hn5$wQ9cV3kJ7rLp")}}}},
			},
			NodeCount:          3,
			Zones:              []string{"cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"},
			InstancePassword:   pulumi.String("Zx9#Lm4$Qw7Er"),
			PublicAccess:       true,
			SSHCIDR:            "203.0.113.7/32",
			AllowedClientCIDRs: []string{"10.0.0.0/8"},
		})
		return err
	}, pulumi.WithMocks("project", "stack", m))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range m.IngressTo(4222) {
		fmt.Printf("4222 from %s%s, public: %v\n", r.CIDR, r.SourceGroup, r.Public())
	}
	inst, _ := m.Resource(natsnesttest.Instance, "events-nats-2")
	fmt.Println("events-nats-2 is in", inst.Input("availabilityZone"))
	out, err := natsnesttest.ClusterOutputs(cluster)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out.PrivateEndpoint)
	// Output:
	// 4222 from 10.0.0.0/8, public: false
	// 4222 from sg-events-sg, public: false
	// events-nats-2 is in cn-hangzhou-j
	// nats://172.16.0.11:4222,nats://172.16.0.12:4222,nats://172.16.0.13:4222
}
