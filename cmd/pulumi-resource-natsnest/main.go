// Command pulumi-resource-natsnest is the Pulumi provider plugin for
// natsnest's JetStream resources: natsnest:index:Stream and
// natsnest:index:Consumer, declared with natsnest.NewStream and
// natsnest.NewConsumer and applied with package jsassets.
//
// It is a module of its own, so that a program importing natsnest inherits
// none of pulumi-go-provider's requirements. Build it onto PATH, or point a
// `plugins:` entry of Pulumi.yaml at the directory it is built in:
//
//	go build -o "$HOME/.local/bin/pulumi-resource-natsnest" ./cmd/pulumi-resource-natsnest
package main

import (
	"context"
	"fmt"
	"os"

	p "github.com/pulumi/pulumi-go-provider"
)

// version is the plugin's version, as the engine records it in the state.
const version = "0.1.0"

func main() {
	pr := &provider{}
	if err := p.RunProvider(context.Background(), "natsnest", version, pr.server()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
