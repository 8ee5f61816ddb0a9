// Command quickstart runs the walkthrough of Alibaba Cloud Compute Nest's NATS
// service (stream my_stream, consumers foo_consumer and foo_consumer2, killing
// the stream leader, restarting it) against a local 3-node cluster of real
// nats-server processes, and prints a step-by-step report.
//
// It exits non-zero if any step fails, and always stops the cluster and
// removes its files, also on failure and on Ctrl-C. `make demo` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./cmd/quickstart\n\n"+
			"Runs the Compute Nest NATS walkthrough against a local 3-node cluster of real\n"+
			"nats-server processes and prints a step-by-step report; exits 1 if a step fails.\n")
	}
	flag.Parse()

	// Ctrl-C (or SIGTERM) cancels the running step; run then stops the
	// cluster before it returns.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		stop()
		os.Exit(1)
	}
}
