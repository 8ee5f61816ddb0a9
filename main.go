// The natsnest Pulumi program: a NATS JetStream cluster on Alibaba Cloud,
// configured by the stack (see Pulumi.yaml for every key and its default,
// stacks/ for the single-node and 3-node templates). Its body is
// internal/program.Program.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/natsnest/pulumi-natsnest/internal/program"
)

func main() {
	pulumi.Run(program.Program)
}
