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
	// Peers are the other nodes' client addresses, "host:port". None: a
	// single node, which has no cluster to leave (only Drain applies).
	Peers []string
	// Drain, on the node itself, stops natsd with lame duck if it still
	// runs, syncs and unmounts DataMount afterwards: the node's data disk
	// is detached and its instance released next (Cluster).
	Drain bool
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
	return render(StepLeave, "take this server out of the cluster: lame duck, peer-remove, wait for the rest to be healthy; drain", []variable{
		{"SERVICE", Service},
		{"DATA_MOUNT", DataMount},
		{"DRAIN", boolFlag(o.Drain)},
		{"SERVER_NAME", o.ServerName},
		{"SELF_CLIENT", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.ClientPort))},
		{"SELF_ROUTE", o.Route},
		{"PEERS", strings.Join(o.Peers, " ")},
		{"REMOVE_TIMEOUT", seconds(o.RemoveTimeout)},
		{"HEALTHY_TIMEOUT", seconds(o.HealthyTimeout)},
		{"HEALTHY_ROUNDS", strconv.Itoa(o.HealthyRounds)},
		{"ASK_SECONDS", strconv.FormatInt(ask, 10)},
	}, "natslib", "drain", "leave"), nil
}

// The leave step's wait for a node that is gone: OpenSSH's ConnectTimeout
// and ConnectionAttempts, so at most their product (one minute) before the
// step goes on without it.
const (
	SSHConnectTimeout  = 20 * time.Second
	SSHConnectAttempts = 3
)

// LeaveTarget is a node the leave step may reach over SSH.
type LeaveTarget struct {
	// Name is the node's server name; Address and Port where SSH reaches it.
	Name    string
	Address string
	Port    int
	// HostKey is the host key it must present, in authorized_keys form
	// ("ssh-ed25519 AAAA…"); empty: not checked.
	HostKey string
}

// LeaveLocalOptions are the settings of the leave step's Delete on the
// deploying machine.
type LeaveLocalOptions struct {
	// Remote is the leave script as the command line SSH runs (see
	// RemoteCommand); its mode, "self" or "peer", is appended.
	Remote string
	// Targets are the node that leaves, first, then the others, in the
	// order they are tried when it does not answer.
	Targets []LeaveTarget
	// User logs in to every node (and the bastion, unless BastionUser).
	User string
	// Bastion, when set, is the jump host (its Name unused); BastionUser
	// logs in to it.
	Bastion     *LeaveTarget
	BastionUser string
	// Drain says the remote script drains the node (a Cluster node).
	Drain bool
	// URN is the step's own URN, named when nothing can proceed.
	URN string
}

var (
	hostNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
	sshUserRE  = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)
	hostKeyRE  = regexp.MustCompile(`^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+=*$`)
)

// LeaveLocalScript renders the leave step's Delete as it runs on the
// deploying machine (POSIX sh and OpenSSH): it runs Remote on the node that
// leaves; when that node does not answer within SSHConnectAttempts ×
// SSHConnectTimeout it says so and runs Remote in peer mode on the first
// other node that answers. A refused login or a changed host key fails.
// The credentials come from the environment: NATSNEST_SSH_KEY or
// NATSNEST_SSH_PASSWORD, and NATSNEST_BASTION_KEY or
// NATSNEST_BASTION_PASSWORD; its stdin goes to the remote script.
func LeaveLocalScript(o LeaveLocalOptions) (string, error) {
	if len(o.Targets) == 0 {
		return "", fmt.Errorf("provision: the leave step needs the node that leaves")
	}
	if strings.TrimSpace(o.Remote) == "" || strings.ContainsAny(o.Remote, "\x00") {
		return "", fmt.Errorf("provision: the leave step needs the remote script")
	}
	if !sshUserRE.MatchString(o.User) {
		return "", fmt.Errorf("provision: SSH user %q is not a user name", o.User)
	}
	if !strings.HasPrefix(o.URN, "urn:pulumi:") || strings.ContainsAny(o.URN, "'\n") {
		return "", fmt.Errorf("provision: %q is not the step's URN", o.URN)
	}
	var targets []string
	for _, t := range o.Targets {
		if !serverNameRE.MatchString(t.Name) {
			return "", fmt.Errorf("provision: server name %q must be 1-63 letters, digits, '.', '_' or '-'", t.Name)
		}
		l, err := t.line(t.Name)
		if err != nil {
			return "", err
		}
		targets = append(targets, l)
	}
	bastion, err := bastionLine(o.Bastion, o.BastionUser, o.User)
	if err != nil {
		return "", err
	}
	vars := []variable{
		{"NEEDS_SSH", "it takes " + o.Targets[0].Name + " out of the cluster"},
		{"SERVER_NAME", o.Targets[0].Name},
		{"SSH_USER", o.User},
		{"CONNECT_TIMEOUT", seconds(SSHConnectTimeout)},
		{"CONNECT_ATTEMPTS", strconv.Itoa(SSHConnectAttempts)},
		{"TARGETS", strings.Join(targets, "\n")},
		{"BASTION", bastion},
		{"DRAIN", boolFlag(o.Drain)},
		{"DATA_MOUNT", DataMount},
		{"REMOTE", o.Remote},
		{"URN", o.URN},
	}
	return renderLocal(StepLeave, "the leave script on the node over OpenSSH, or on another node when it does not answer", vars, "leavelocal"), nil
}

// line is t as the local scripts read it: NAME ADDRESS PORT TYPE KEY, the
// host key "- -" when not given.
func (t LeaveTarget) line(name string) (string, error) {
	if net.ParseIP(t.Address) == nil && !hostNameRE.MatchString(t.Address) {
		return "", fmt.Errorf("provision: %s: SSH address %q is neither an IP address nor a host name", name, t.Address)
	}
	if t.Port < 1 || t.Port > 65535 {
		return "", fmt.Errorf("provision: %s: SSH port %d is outside 1..65535", name, t.Port)
	}
	key, err := hostKeyWords(name, t.HostKey)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s %d %s", name, t.Address, t.Port, key), nil
}

// hostKeyWords is an authorized_keys-form host key as TYPE KEY, its
// comment dropped, or "- -" when empty.
func hostKeyWords(name, key string) (string, error) {
	if key == "" {
		return "- -", nil
	}
	f := strings.Fields(key)
	if len(f) < 2 || !hostKeyRE.MatchString(f[0]+" "+f[1]) {
		return "", fmt.Errorf("provision: %s: host key %q is not in authorized_keys form", name, key)
	}
	return f[0] + " " + f[1], nil
}

// bastionLine is the bastion as sshlocal.sh reads BASTION: ADDRESS PORT
// USER TYPE KEY, or "" without one.
func bastionLine(b *LeaveTarget, bastionUser, user string) (string, error) {
	if b == nil {
		return "", nil
	}
	if bastionUser == "" {
		bastionUser = user
	}
	if !sshUserRE.MatchString(bastionUser) {
		return "", fmt.Errorf("provision: bastion user %q is not a user name", bastionUser)
	}
	l, err := b.line("bastion")
	if err != nil {
		return "", err
	}
	f := strings.Fields(l) // bastion ADDRESS PORT TYPE KEY
	return strings.Join([]string{f[1], f[2], bastionUser, f[3], f[4]}, " "), nil
}

// renderLocal assembles a step that runs on the deploying machine (POSIX
// sh and OpenSSH, sshlocal.sh) as a command:local:Command.
func renderLocal(step, purpose string, vars []variable, parts ...string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	fmt.Fprintf(&b, "# natsnest %s step, on the machine that runs pulumi: %s.\n", step, purpose)
	b.WriteString("# Rendered by natsnest; runs as a command:local:Command.\n")
	b.WriteString("set -eu\n")
	b.WriteString("umask 077\n")
	fmt.Fprintf(&b, "STEP=%s\n", ShellQuote(step))
	for _, v := range vars {
		if strings.Contains(v.value, "$") {
			b.WriteString("# shellcheck disable=SC2016 # a literal $\n")
		}
		fmt.Fprintf(&b, "%s=%s\n", v.name, ShellQuote(v.value))
	}
	b.WriteString("\n")
	b.WriteString(fragment("sshlocal"))
	for _, p := range parts {
		b.WriteString("\n")
		b.WriteString(fragment(p))
	}
	return b.String()
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
