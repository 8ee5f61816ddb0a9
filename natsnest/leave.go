package natsnest

import (
	"fmt"
	"net"
	"strconv"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// leaveCommands registers, on every host of a cluster and on every Cluster
// node, the step <name>-<host>-leave: a command:local:Command that runs
// nothing when created or updated; its Delete runs OpenSSH from the
// deploying machine (provision.LeaveLocalScript), which runs
// provision.LeaveScript on the host (docs/architecture.md §4b).
//
// When a host is dropped from Hosts (a scale in), pulumi deletes the step
// after the remaining nodes were reloaded with routes that no longer name
// the host, as pulumi performs deletes last, and before the machine goes:
// the script stops the server with lame duck mode and peer-removes it from
// JetStream, whose meta leader moves the server's stream replicas to the
// remaining ones. Each host's step depends on the previous host's, so
// deletes run one host at a time, last host first, each after the remaining
// servers are healthy: streams keep their quorum throughout. The script
// takes a node out only when the other servers no longer route to it, since
// the step is also deleted on destroy and, on a Cluster node, when the
// instance is replaced (its ID is a trigger).
//
// On a Cluster node (Host.InstanceID set) the script then drains the node:
// natsd stopped with lame duck, the store synced, /data unmounted. The step
// depends on Host.DependsOn — the disk attachment and the EIP association —
// so the engine deletes it before it detaches the disk or releases the
// instance.
//
// A host that does not answer within provision.SSHConnectAttempts ×
// provision.SSHConnectTimeout is reported and left as it is; the script
// then runs in peer mode on the first other host that answers, which
// peer-removes it if it leaves. pulumi-command's remote.Command could not
// do that: it fails every Delete whose dial fails.
//
// The admin's credentials reach the script on stdin, the SSH credentials in
// its environment: secrets in the state, which Delete needs, never on a
// command line. A change of the connection updates the step, which runs
// nothing and keeps the new connection for its Delete.
//
// A single Servers host has no cluster to leave and nothing to drain, and
// gets no step.
func leaveCommands(ctx *pulumi.Context, name string, parent pulumi.Resource, a ServersArgs, services []*remote.Command) ([]*local.Command, error) {
	n := len(a.Hosts)
	if n < 2 && a.Hosts[0].InstanceID == nil {
		return nil, nil
	}
	sudo := a.SSH.User != "root"
	optional := func(in pulumi.StringInput) pulumi.Input {
		if in == nil {
			return pulumi.String("")
		}
		return in
	}
	// Everything the scripts name: the parent's URN, then per host its
	// private address, SSH address and host key, then the bastion's.
	inputs := []any{urnWithoutDependency(parent)}
	for _, h := range a.Hosts {
		inputs = append(inputs, h.PrivateAddress, h.Connect, optional(h.HostKey))
	}
	b := a.SSH.Bastion
	if b != nil {
		inputs = append(inputs, b.Host, optional(b.HostKey))
	}
	all := pulumi.All(inputs...)
	stdin := a.pending.unknown(pulumi.ToSecret(pulumi.String(provision.LeavePayload(natsconf.DefaultAdminUser, plain(a.AdminPassword)))).(pulumi.StringOutput))
	env := sshEnv(a.SSH)
	leaves := make([]*local.Command, n)
	for i, h := range a.Hosts {
		resName := fmt.Sprintf("%s-%s-%s", name, h.Name, provision.StepLeave)
		script := all.ApplyT(func(vs []any) (string, error) {
			str := func(v any) string {
				if s, ok := v.(string); ok {
					return s
				}
				return fmt.Sprint(v)
			}
			at := func(j, k int) string { return str(vs[1+3*j+k]) }
			var peers []string
			targets := []provision.LeaveTarget{{Name: h.Name, Address: at(i, 1), Port: a.SSH.Port, HostKey: at(i, 2)}}
			for j, o := range a.Hosts {
				if j != i {
					peers = append(peers, net.JoinHostPort(at(j, 0), strconv.Itoa(a.ClientPort)))
					targets = append(targets, provision.LeaveTarget{Name: o.Name, Address: at(j, 1), Port: a.SSH.Port, HostKey: at(j, 2)})
				}
			}
			remoteScript, err := provision.LeaveScript(layout, provision.LeaveOptions{
				ServerName: h.Name,
				ClientPort: a.ClientPort,
				Route:      net.JoinHostPort(at(i, 0), strconv.Itoa(a.RoutePort)),
				Peers:      peers,
				Drain:      h.InstanceID != nil,
			})
			if err != nil {
				return "", fmt.Errorf("natsnest: host %s: %w", h.Name, err)
			}
			parentURN := resource.URN(str(vs[0]))
			o := provision.LeaveLocalOptions{
				Remote:  provision.RemoteCommand(remoteScript, sudo),
				Targets: targets,
				User:    a.SSH.User,
				Drain:   h.InstanceID != nil,
				URN:     string(resource.NewURN(parentURN.Stack(), parentURN.Project(), parentURN.QualifiedType(), localCommandType, resName)),
			}
			if b != nil {
				o.Bastion = &provision.LeaveTarget{Address: str(vs[1+3*n]), Port: b.Port, HostKey: str(vs[2+3*n])}
				o.BastionUser = b.User
			}
			s, err := provision.LeaveLocalScript(o)
			if err != nil {
				return "", fmt.Errorf("natsnest: host %s: %w", h.Name, err)
			}
			return s, nil
		}).(pulumi.StringOutput)
		deps := append([]pulumi.Resource{services[i]}, h.DependsOn...)
		if i > 0 {
			deps = append(deps, leaves[i-1])
		}
		args := &local.CommandArgs{
			Delete:                 script,
			Stdin:                  stdin,
			Environment:            env,
			Interpreter:            pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c")},
			AddPreviousOutputInEnv: pulumi.Bool(false),
			Logging:                local.LoggingStdoutAndStderr,
		}
		if h.InstanceID != nil {
			// A replaced instance deletes the step first: the node is
			// drained before its disk is detached.
			args.Triggers = pulumi.Array{h.InstanceID}
		}
		var err error
		leaves[i], err = local.NewCommand(ctx, resName, args, pulumi.Parent(parent), pulumi.DependsOn(deps))
		if err != nil {
			return nil, err
		}
	}
	return leaves, nil
}

// sshEnv is the environment of a step that runs OpenSSH locally
// (provision's sshlocal.sh): the login's credentials, as secrets.
func sshEnv(s SSH) pulumi.StringMap {
	env := pulumi.StringMap{}
	for key, v := range map[string]pulumi.StringInput{"NATSNEST_SSH_KEY": s.PrivateKey, "NATSNEST_SSH_PASSWORD": s.Password} {
		if isSet(v) {
			env[key] = pulumi.ToSecret(v.ToStringOutput()).(pulumi.StringOutput)
		}
	}
	if b := s.Bastion; b != nil {
		for key, v := range map[string]pulumi.StringInput{"NATSNEST_BASTION_KEY": b.PrivateKey, "NATSNEST_BASTION_PASSWORD": b.Password} {
			if isSet(v) {
				env[key] = pulumi.ToSecret(v.ToStringOutput()).(pulumi.StringOutput)
			}
		}
	}
	return env
}

// urnWithoutDependency is r's URN as an output that does not depend on r.
// The leave step names its own URN, derived from its parent's; an input
// depending on the parent component would make the step wait for every
// child of that component — itself included.
func urnWithoutDependency(r pulumi.Resource) pulumi.StringOutput {
	ch := make(chan string, 1)
	r.URN().ApplyT(func(u pulumi.URN) string {
		ch <- string(u)
		return ""
	})
	return pulumi.String("").ToStringOutput().ApplyT(func(string) string { return <-ch }).(pulumi.StringOutput)
}

// localCommandType is pulumi-command's local command, the leave step's type.
const localCommandType = "command:local:Command"
