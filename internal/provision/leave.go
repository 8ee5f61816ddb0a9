package provision

import (
	"encoding/base64"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// serverNameRE is natsnest's rule for server names (natsnest.Host.Name).
var serverNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// StepLeave names the command whose Delete takes a node out of the cluster.
const StepLeave = "leave"

// LeaveOptions are the leave script's settings: who this server is and
// which servers to ask.
type LeaveOptions struct {
	// ServerName is this node's server_name, the peer to remove.
	ServerName string
	// ClientPort is this node's client port: the script asks its own
	// server, on loopback, when no peer answers.
	ClientPort int
	// Route is this node's route address, "host:port", as the other nodes'
	// routes name it (and /varz's cluster.urls shows it).
	Route string
	// Peers are the other nodes' client addresses, "host:port".
	Peers []string
	// RemoveTimeout bounds the retries of the peer-remove. Defaults to 5 minutes.
	RemoveTimeout time.Duration
	// HealthyTimeout bounds the wait for every remaining server's health
	// afterwards. Defaults to 10 minutes.
	HealthyTimeout time.Duration
	// HealthyRounds is how many health checks in a row, a second apart,
	// must pass. Defaults to 3.
	HealthyRounds int
	// AskTime is how long the script collects the servers' answers to a
	// question to all of them. Defaults to 2 seconds.
	AskTime time.Duration
}

// LeaveScript renders the leave step: run as the Delete of a command on a
// node that leaves the cluster (a scale in), it stops natsd with lame duck
// mode, disables it and removes the server from JetStream (peer-remove, by
// server name, as the system account's admin, whose credentials come on
// stdin — see LeavePayload), then waits until every remaining server is
// healthy. It leaves a node alone that every other server still routes to:
// pulumi-command runs Delete also when the command is replaced (`pulumi up
// --replace`) and when the whole stack is destroyed.
func LeaveScript(l Layout, o LeaveOptions) (string, error) {
	if err := l.check(); err != nil {
		return "", err
	}
	if !serverNameRE.MatchString(o.ServerName) {
		return "", fmt.Errorf("provision: server name %q must be 1-63 letters, digits, '.', '_' or '-'", o.ServerName)
	}
	if o.ClientPort < 1 || o.ClientPort > 65535 {
		return "", fmt.Errorf("provision: client port %d is outside 1..65535", o.ClientPort)
	}
	if err := checkHostPort(o.Route); err != nil {
		return "", fmt.Errorf("provision: route %w", err)
	}
	for _, p := range o.Peers {
		if err := checkHostPort(p); err != nil {
			return "", fmt.Errorf("provision: peer %w", err)
		}
	}
	if o.RemoveTimeout <= 0 {
		o.RemoveTimeout = 5 * time.Minute
	}
	if o.HealthyTimeout <= 0 {
		o.HealthyTimeout = 10 * time.Minute
	}
	if o.HealthyRounds <= 0 {
		o.HealthyRounds = 3
	}
	if o.AskTime <= 0 {
		o.AskTime = 2 * time.Second
	}
	ask := int64((o.AskTime + time.Second - 1) / time.Second)
	return render(StepLeave, "take this server out of the cluster: lame duck, peer-remove, wait for the rest to be healthy", []variable{
		{"SERVICE", Service},
		{"SERVER_NAME", o.ServerName},
		{"SELF_CLIENT", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.ClientPort))},
		{"SELF_ROUTE", o.Route},
		{"PEERS", strings.Join(o.Peers, " ")},
		{"REMOVE_TIMEOUT", seconds(o.RemoveTimeout)},
		{"HEALTHY_TIMEOUT", seconds(o.HealthyTimeout)},
		{"HEALTHY_ROUNDS", strconv.Itoa(o.HealthyRounds)},
		{"ASK_SECONDS", strconv.FormatInt(ask, 10)},
	}, "natslib", "leave"), nil
}

// LeavePayload is the leave script's stdin: the system account admin's
// user and password. Secret.
func LeavePayload(user, password string) string {
	enc := base64.StdEncoding.EncodeToString
	return "user " + enc([]byte(user)) + "\npassword " + enc([]byte(password)) + "\n"
}

// checkHostPort accepts "host:port" with a plain host name or IP address.
func checkHostPort(s string) error {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q has no port in 1..65535", s)
	}
	if net.ParseIP(h) == nil && !serverNameRE.MatchString(h) {
		return fmt.Errorf("%q has an invalid host", s)
	}
	return nil
}
