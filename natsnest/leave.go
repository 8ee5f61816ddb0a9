package natsnest

import (
	"fmt"
	"net"
	"strconv"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// leaveCommands registers, on every host of a cluster, the command
// <name>-<host>-leave. It runs nothing when created or updated; its Delete
// runs provision.LeaveScript on the host. So when a host is dropped from
// Hosts (a scale in), pulumi deletes the command before the machine — after
// the remaining nodes were reloaded with routes that no longer name the
// host, as pulumi performs deletes last — and the script stops the server
// with lame duck mode and peer-removes it from JetStream, whose meta leader
// moves the server's stream replicas to the remaining ones. Each host's
// command depends on the previous host's, so deletes run one host at a
// time, last host first, each after the remaining servers are healthy:
// streams keep their quorum throughout.
//
// The admin's credentials reach the script on stdin (kept, as a secret, in
// the state, as Delete needs them). A change of the connection (a new SSH
// key or address) updates the command, which runs nothing and keeps the new
// connection for its Delete. The script takes a node out only when the
// other servers no longer route to it, since pulumi-command also runs Delete
// when the command is replaced (`pulumi up --replace`) and on destroy.
//
// A single node has no JetStream cluster to leave and gets no command.
func leaveCommands(ctx *pulumi.Context, name string, parent pulumi.Resource, a ServersArgs, services []*remote.Command) ([]*remote.Command, error) {
	if len(a.Hosts) < 2 {
		return nil, nil
	}
	sudo := a.SSH.User != "root"
	conn := connection(a)
	private := make([]any, len(a.Hosts))
	for i, h := range a.Hosts {
		private[i] = h.PrivateAddress
	}
	addrs := pulumi.All(private...).ApplyT(toStrings).(pulumi.StringArrayOutput)
	stdin := a.pending.unknown(pulumi.ToSecret(pulumi.String(provision.LeavePayload(natsconf.DefaultAdminUser, plain(a.AdminPassword)))).(pulumi.StringOutput))
	leaves := make([]*remote.Command, len(a.Hosts))
	for i, h := range a.Hosts {
		script := addrs.ApplyT(func(addrs []string) (string, error) {
			var peers []string
			for j, addr := range addrs {
				if j != i {
					peers = append(peers, net.JoinHostPort(addr, strconv.Itoa(a.ClientPort)))
				}
			}
			s, err := provision.LeaveScript(layout, provision.LeaveOptions{
				ServerName: h.Name,
				ClientPort: a.ClientPort,
				Route:      net.JoinHostPort(addrs[i], strconv.Itoa(a.RoutePort)),
				Peers:      peers,
			})
			if err != nil {
				return "", fmt.Errorf("natsnest: host %s: %w", h.Name, err)
			}
			return provision.RemoteCommand(s, sudo), nil
		}).(pulumi.StringOutput)
		deps := append([]pulumi.Resource{services[i]}, h.DependsOn...)
		if i > 0 {
			deps = append(deps, leaves[i-1])
		}
		var err error
		leaves[i], err = remote.NewCommand(ctx, fmt.Sprintf("%s-%s-%s", name, h.Name, provision.StepLeave), &remote.CommandArgs{
			Connection:             conn(h),
			Delete:                 script,
			Stdin:                  stdin,
			AddPreviousOutputInEnv: pulumi.Bool(false),
			Logging:                stepLogging(provision.StepLeave),
		}, pulumi.Parent(parent), pulumi.DependsOn(deps))
		if err != nil {
			return nil, err
		}
	}
	return leaves, nil
}
