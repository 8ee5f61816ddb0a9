// Command shim is the emulated Alibaba Cloud's provider plugin, built by the
// machine tier as pulumi-resource-alicloud onto the PATH of the Pulumi CLI it
// drives. The engine starts and kills plugins for every operation; the
// emulated cloud must outlive them, so it lives in the test process (package
// cloud, a gRPC ResourceProvider on a unix socket) and this plugin only
// forwards: it listens on a loopback port, prints it as a plugin does, and
// copies every connection's bytes to and from the socket named by
// NATSNEST_CLOUD_SOCKET. It imports nothing beyond the standard library, in a
// module of its own.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
)

func main() {
	sock := os.Getenv("NATSNEST_CLOUD_SOCKET")
	if sock == "" {
		fmt.Fprintln(os.Stderr, "pulumi-resource-alicloud (natsnest's emulated cloud): NATSNEST_CLOUD_SOCKET is not set: this plugin only forwards to an emulated cloud that a machine-tier test runs")
		os.Exit(1)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The engine reads the port from the plugin's first line of output.
	fmt.Printf("%d\n", l.Addr().(*net.TCPAddr).Port)
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go forward(c, sock)
	}
}

func forward(c net.Conn, sock string) {
	defer c.Close()
	u, err := net.Dial("unix", sock)
	if err != nil {
		fmt.Fprintf(os.Stderr, "the emulated cloud at %s does not answer: %v\n", sock, err)
		return
	}
	defer u.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = io.Copy(u, c); closeWrite(u) }()
	go func() { defer wg.Done(); _, _ = io.Copy(c, u); closeWrite(c) }()
	wg.Wait()
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}
