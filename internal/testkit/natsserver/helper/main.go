// Command helper is the real nats-server for the root module's tests (see
// package natsserver): it lives in a module of its own so that nats-server
// never enters the module graph of a program that imports natsnest.
//
//	helper serve          answer Requests {Load: path} with what
//	                      server.ProcessConfigFile read
//	helper run [flags] F  run a server from F; send {ClientURL} once it
//	                      accepts connections, answer {Routes: true}
//	                      Requests, shut down when stdin closes
//
// Requests and Responses are gob-encoded (see package natsserver).
package main

import (
	"bufio"
	"encoding/gob"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/natsserver"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: helper serve | helper run [-host H] [-port P] [-no-monitoring] [-store DIR] FILE")
		os.Exit(2)
	}
	out := gob.NewEncoder(os.Stdout)
	in := gob.NewDecoder(bufio.NewReader(os.Stdin))
	switch os.Args[1] {
	case "serve":
		for {
			var req natsserver.Request
			if err := in.Decode(&req); err != nil {
				return // the test binary closed its end
			}
			var resp natsserver.Response
			if o, err := server.ProcessConfigFile(req.Load); err != nil {
				resp.Error = err.Error()
			} else {
				resp.Options = project(o)
			}
			out.Encode(resp)
		}
	case "run":
		fs := flag.NewFlagSet("run", flag.ExitOnError)
		host := fs.String("host", "", "client listen host")
		port := fs.Int("port", 0, "client port (-1: any free port)")
		noMon := fs.Bool("no-monitoring", false, "no monitoring port")
		store := fs.String("store", "", "JetStream store directory")
		fs.Parse(os.Args[2:])
		srv, err := run(fs.Arg(0), *host, *port, *noMon, *store)
		if err != nil {
			out.Encode(natsserver.Response{Error: err.Error()})
			os.Exit(1)
		}
		out.Encode(natsserver.Response{ClientURL: srv.ClientURL()})
		for {
			var req natsserver.Request
			if err := in.Decode(&req); err != nil {
				break // stdin closed: shut down
			}
			out.Encode(natsserver.Response{Routes: srv.NumRoutes()})
		}
		srv.Shutdown()
		srv.WaitForShutdown()
	default:
		fmt.Fprintf(os.Stderr, "helper: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func run(file, host string, port int, noMon bool, store string) (*server.Server, error) {
	o, err := server.ProcessConfigFile(file)
	if err != nil {
		return nil, err
	}
	if host != "" {
		o.Host = host
	}
	if port != 0 {
		o.Port = port
	}
	if noMon {
		o.HTTPPort, o.HTTPSPort = 0, 0
	}
	if store != "" {
		o.StoreDir = store
	}
	// Its log goes to stderr, which go test shows when a test fails: why a
	// server did not come up (a port taken, say) is there.
	o.NoSigs, o.NoLog = true, false
	srv, err := server.NewServer(o)
	if err != nil {
		return nil, err
	}
	srv.ConfigureLogger()
	go srv.Start()
	// Generous: make test runs many packages at once on small machines.
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("%s: not ready for connections after 30s (its log is above)", o.ServerName)
	}
	return srv, nil
}

// project copies what the tests compare out of server.Options.
func project(o *server.Options) *natsserver.Options {
	p := &natsserver.Options{
		ServerName:          o.ServerName,
		Host:                o.Host,
		Port:                o.Port,
		HTTPHost:            o.HTTPHost,
		HTTPPort:            o.HTTPPort,
		HTTPSPort:           o.HTTPSPort,
		LameDuckDuration:    o.LameDuckDuration,
		LameDuckGracePeriod: o.LameDuckGracePeriod,
		Tags:                o.Tags,
		SystemAccount:       o.SystemAccount,
		NoAuthUser:          o.NoAuthUser,
		JetStream:           o.JetStream,
		StoreDir:            o.StoreDir,
		JetStreamMaxStore:   o.JetStreamMaxStore,
		JetStreamMaxMemory:  o.JetStreamMaxMemory,
		SyncAlways:          o.SyncAlways,
		SyncInterval:        o.SyncInterval,
		Cluster: natsserver.Cluster{
			Name:        o.Cluster.Name,
			Host:        o.Cluster.Host,
			Port:        o.Cluster.Port,
			NoAdvertise: o.Cluster.NoAdvertise,
			Username:    o.Cluster.Username,
			Password:    o.Cluster.Password,
		},
	}
	if o.TLSConfig != nil {
		p.TLS = &natsserver.TLS{ClientAuth: o.TLSConfig.ClientAuth}
	}
	if o.Cluster.TLSConfig != nil {
		p.Cluster.TLS = &natsserver.TLS{ClientAuth: o.Cluster.TLSConfig.ClientAuth}
	}
	for _, u := range o.Users {
		pu := natsserver.User{Username: u.Username, Password: u.Password}
		if u.Account != nil {
			pu.Account = u.Account.Name
		}
		p.Users = append(p.Users, pu)
	}
	for _, u := range o.Nkeys {
		pu := natsserver.NkeyUser{Nkey: u.Nkey}
		if u.Account != nil {
			pu.Account = u.Account.Name
		}
		p.Nkeys = append(p.Nkeys, pu)
	}
	for _, a := range o.Accounts {
		p.Accounts = append(p.Accounts, a.Name)
	}
	for _, r := range o.Routes {
		pr := natsserver.Route{Scheme: r.Scheme, Host: r.Host}
		if r.User != nil {
			pr.User = r.User.Username()
			pr.Password, _ = r.User.Password()
		}
		p.Routes = append(p.Routes, pr)
	}
	return p
}
