package natsconf

import (
	"errors"
	"fmt"
)

// Node is what differs between the servers of one deployment.
type Node struct {
	// Name becomes server_name.
	Name string
	// RouteHost is the address other nodes dial this node's routes on
	// (a private IP on ECS, 127.0.0.1 on a local cluster).
	RouteHost string
	// ClientPort, MonitorPort and RoutePort override the template's ports
	// when non-zero; a local cluster on loopback gives each node its own.
	ClientPort, MonitorPort, RoutePort int
	// StoreDir overrides the template's JetStream store directory when set.
	StoreDir string
	// MonitorHost overrides the template's monitoring address when set
	// (the node's private address).
	MonitorHost string
	// Tags are added to the template's tags, e.g. the node's zone.
	Tags []string
}

// ClusterConfigs turns a template and the deployment's nodes into one Server
// per node, in the nodes' order. With one node no server has a cluster block;
// with several, every server routes to every node. The template's Cluster
// gives the cluster's name, listen host, port and route credentials; it is
// required for several nodes and ignored for one.
func ClusterConfigs(template Server, nodes []Node) ([]Server, error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: no nodes", ErrInvalidServer)
	}
	var errs []error
	names := map[string]bool{}
	for i, n := range nodes {
		if names[n.Name] {
			errs = append(errs, fieldErr(fmt.Sprintf("nodes[%d].Name", i), "server name %q is used twice", n.Name))
		}
		names[n.Name] = true
		if len(nodes) > 1 && n.RouteHost == "" {
			errs = append(errs, fieldErr(fmt.Sprintf("nodes[%d].RouteHost", i), "must not be empty in a cluster"))
		}
	}
	if len(nodes) > 1 && template.Cluster == nil {
		errs = append(errs, fieldErr("Cluster", "required for %d nodes", len(nodes)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	var routes []Route
	if len(nodes) > 1 {
		for _, n := range nodes {
			routes = append(routes, Route{Host: n.RouteHost, Port: orDefault(n.RoutePort, template.Cluster.Port)})
		}
	}
	servers := make([]Server, len(nodes))
	for i, n := range nodes {
		s := template
		s.Name = n.Name
		s.ClientPort = orDefault(n.ClientPort, template.ClientPort)
		s.MonitorPort = orDefault(n.MonitorPort, template.MonitorPort)
		if n.StoreDir != "" {
			s.JetStream.StoreDir = n.StoreDir
		}
		if n.MonitorHost != "" {
			s.MonitorHost = n.MonitorHost
		}
		s.Tags = append(append([]string(nil), template.Tags...), n.Tags...)
		s.Accounts = append([]Account(nil), template.Accounts...)
		if len(nodes) == 1 {
			s.Cluster = nil
		} else {
			c := *template.Cluster
			c.Port = orDefault(n.RoutePort, template.Cluster.Port)
			c.Routes = routes
			s.Cluster = &c
		}
		servers[i] = s
	}
	return servers, nil
}

func orDefault(v, def int) int {
	if v != 0 {
		return v
	}
	return def
}
