package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// Provider configuration keys (natsnest.JetStreamProviderArgs).
const (
	keyServers = "servers"
	keyUser    = "user"
	keyPass    = "password"
	keyCA      = "caCert"
)

// dialTimeout bounds each server's TCP and TLS handshake: the plugin runs on
// the deploying machine, and a security group that drops its packets must
// fail the operation at once rather than hang it.
const dialTimeout = 5 * time.Second

type connection struct {
	servers  []string
	user     string
	password string
	caPEM    string
}

func (pr *provider) checkConfig(_ context.Context, req p.CheckRequest) (p.CheckResponse, error) {
	var failures []p.CheckFailure
	if v := req.Inputs.Get(keyServers); !v.IsComputed() {
		if _, err := parseServers(str(v)); err != nil {
			failures = append(failures, p.CheckFailure{Property: keyServers, Reason: err.Error()})
		}
	}
	user, pass := req.Inputs.Get(keyUser), req.Inputs.Get(keyPass)
	if !user.IsComputed() && !pass.IsComputed() && (str(user) == "") != (str(pass) == "") {
		failures = append(failures, p.CheckFailure{Property: keyUser, Reason: "user and password go together: set both or neither"})
	}
	if v := req.Inputs.Get(keyCA); v.IsString() && v.AsString() != "" {
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(v.AsString())) {
			failures = append(failures, p.CheckFailure{Property: keyCA, Reason: "holds no PEM certificate"})
		}
	}
	return p.CheckResponse{Inputs: req.Inputs, Failures: failures}, nil
}

// diffConfig never replaces: the connection is not part of what a stream
// is, so a new list of servers (scaling out), a new password or CA updates
// the provider and leaves every stream and consumer in place.
func (pr *provider) diffConfig(_ context.Context, req p.DiffRequest) (p.DiffResponse, error) {
	detail := map[string]p.PropertyDiff{}
	for _, k := range []string{keyServers, keyUser, keyPass, keyCA} {
		o, n := req.OldInputs.Get(k), req.Inputs.Get(k)
		if n.IsComputed() || !o.Equals(n) {
			detail[k] = p.PropertyDiff{Kind: p.Update, InputDiff: true}
		}
	}
	return p.DiffResponse{HasChanges: len(detail) > 0, DetailedDiff: detail}, nil
}

func (pr *provider) configure(_ context.Context, req p.ConfigureRequest) error {
	servers, err := parseServers(str(req.Args.Get(keyServers)))
	if err != nil {
		return fmt.Errorf("natsnest provider: %s: %w", keyServers, err)
	}
	pr.conn = connection{
		servers:  servers,
		user:     str(req.Args.Get(keyUser)),
		password: str(req.Args.Get(keyPass)),
		caPEM:    str(req.Args.Get(keyCA)),
	}
	return nil
}

func str(v property.Value) string {
	if v.IsString() {
		return v.AsString()
	}
	return ""
}

// parseServers reads "nats://h:4222,nats://h:4222,…" (what Cluster and
// Servers export as privateEndpoint and publicEndpoint).
func parseServers(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("is required: the cluster's endpoint, e.g. cluster.PrivateEndpoint")
	}
	var out []string
	for _, u := range strings.Split(s, ",") {
		u = strings.TrimSpace(u)
		parsed, err := url.Parse(u)
		if err != nil || (parsed.Scheme != "nats" && parsed.Scheme != "tls") || parsed.Host == "" || parsed.User != nil {
			return nil, fmt.Errorf("%q is not a nats:// or tls:// URL with a host and no credentials", u)
		}
		out = append(out, u)
	}
	return out, nil
}

// dial connects to the cluster from this (the deploying) machine. When no
// server answers in time it fails naming the addresses and what to allow.
func (c connection) dial(ctx context.Context) (jetstream.JetStream, func(), error) {
	if len(c.servers) == 0 {
		return nil, nil, errors.New("natsnest provider: not configured with servers")
	}
	opts := []nats.Option{
		nats.Name("pulumi-resource-natsnest"),
		nats.Timeout(dialTimeout),
	}
	if c.user != "" {
		opts = append(opts, nats.UserInfo(c.user, c.password))
	}
	if c.caPEM != "" {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(c.caPEM))
		opts = append(opts, nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	nc, err := nats.Connect(strings.Join(c.servers, ","), opts...)
	if err != nil {
		return nil, nil, unreachable(c.servers, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return js, nc.Close, nil
}

func unreachable(servers []string, err error) error {
	var nerr net.Error
	if errors.Is(err, nats.ErrNoServers) || errors.As(err, &nerr) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cannot reach NATS at %s from this machine within %s (%v): the natsnest provider connects from where `pulumi up` runs, "+
			"so that machine needs TCP to the client port 4222; allow its address in the cluster's AllowedClientCIDRs (or use the "+
			"publicEndpoint with PublicAccess), or run pulumi from inside the VPC", strings.Join(servers, ","), dialTimeout, err)
	}
	return fmt.Errorf("connecting to NATS at %s: %w", strings.Join(servers, ","), err)
}
