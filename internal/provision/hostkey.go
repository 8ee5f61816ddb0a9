package provision

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// StepHostKeyPin names the step that makes a node present natsnest's SSH
// host key before any other step runs on it (hostkeypin.sh).
const StepHostKeyPin = "hostkey-pin"

// HostKeyWait bounds how long the hostkey-pin step waits for the SSH server
// of a node that is still booting.
const HostKeyWait = 5 * time.Minute

// hostKeyMarker starts the line of a node's user_data that names the host
// key it was created with; BirthHostKey reads it back. The user_data is
// part of the instance's state and must render byte for byte the same for
// the same key in every natsnest version: a changed rendering reboots the
// instance (docs/architecture.md §4c).
const hostKeyMarker = "# natsnest host key: "

// ed25519KeyRE is an Ed25519 public key in authorized_keys form, no comment.
var ed25519KeyRE = regexp.MustCompile(`^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+=*$`)

// HostKeyUserData is the user_data of a Cluster node: cloud-init installs
// privateKey (OpenSSH format) and publicKey ("ssh-ed25519 AAAA…") as the
// SSH host key before sshd first starts, removes the image's keys and
// makes no others, so the node never presents a key natsnest did not pin.
// The second line names the public key (BirthHostKey).
func HostKeyUserData(privateKey, publicKey string) (string, error) {
	if !ed25519KeyRE.MatchString(publicKey) {
		return "", fmt.Errorf("provision: host key %q is not an Ed25519 public key in authorized_keys form", publicKey)
	}
	priv := strings.TrimSpace(privateKey)
	if !strings.HasPrefix(priv, "-----BEGIN OPENSSH PRIVATE KEY-----\n") || !strings.HasSuffix(priv, "\n-----END OPENSSH PRIVATE KEY-----") {
		return "", fmt.Errorf("provision: the host key's private half is not an OpenSSH private key")
	}
	var b strings.Builder
	b.WriteString("#cloud-config\n")
	b.WriteString(hostKeyMarker + publicKey + "\n")
	b.WriteString("ssh_deletekeys: true\n")
	b.WriteString("ssh_genkeytypes: []\n")
	b.WriteString("ssh_keys:\n")
	b.WriteString("  ed25519_private: |\n")
	for _, l := range strings.Split(priv, "\n") {
		b.WriteString("    " + l + "\n")
	}
	b.WriteString("  ed25519_public: " + publicKey + "\n")
	return b.String(), nil
}

// BirthHostKey is the host key a node's user_data (HostKeyUserData, as
// given or base64-encoded, as ECS may return it) names, or "" when it
// names none: an instance created before natsnest pinned host keys.
func BirthHostKey(userData string) string {
	for _, text := range []string{userData, decodeBase64(userData)} {
		for _, l := range strings.SplitN(text, "\n", 3) {
			if k, ok := strings.CutPrefix(l, hostKeyMarker); ok && ed25519KeyRE.MatchString(strings.TrimSpace(k)) {
				return strings.TrimSpace(k)
			}
		}
	}
	return ""
}

func decodeBase64(s string) string {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return ""
	}
	return string(b)
}

// HostKeyScript renders the script that installs a node's host key,
// whose private half comes on stdin and must be publicKey's (hostkey.sh).
func HostKeyScript(sshdConfig, publicKey string) (string, error) {
	if !ed25519KeyRE.MatchString(publicKey) {
		return "", fmt.Errorf("provision: host key %q is not an Ed25519 public key in authorized_keys form", publicKey)
	}
	if !strings.HasPrefix(sshdConfig, "/") {
		return "", fmt.Errorf("provision: sshd config %q is not an absolute path", sshdConfig)
	}
	dir := sshdConfig[:strings.LastIndex(sshdConfig, "/")]
	if dir == "" {
		dir = "/"
	}
	return render("hostkey", "install natsnest's SSH host key and reload sshd", []variable{
		{"SSHD_DIR", dir},
		{"PUBLIC_KEY", publicKey},
	}, "hostkey"), nil
}

// HostKeyPinOptions are the settings of a node's hostkey-pin step.
type HostKeyPinOptions struct {
	// Node is the node: its server name, SSH address and port, and
	// HostKey, natsnest's key for it ("ssh-ed25519 AAAA…"), which every
	// other step pins.
	Node LeaveTarget
	// Birth is the key the instance's user_data names (BirthHostKey), ""
	// for none.
	Birth string
	// InstanceID is the instance the node runs on now; Origin the instance
	// created before natsnest pinned host keys whose key may be trusted
	// once, "" for none.
	InstanceID, Origin string
	// Remote is the install script (HostKeyScript) as the command line
	// SSH runs (RemoteCommand).
	Remote string
	// User logs in; Bastion and BastionUser as in LeaveLocalOptions.
	User        string
	Bastion     *LeaveTarget
	BastionUser string
}

// HostKeyPinScript renders the hostkey-pin step (hostkeypin.sh): it runs on
// the deploying machine with the private key on stdin and the SSH
// credentials in the environment, as the leave step does.
func HostKeyPinScript(o HostKeyPinOptions) (string, error) {
	if !serverNameRE.MatchString(o.Node.Name) {
		return "", fmt.Errorf("provision: server name %q must be 1-63 letters, digits, '.', '_' or '-'", o.Node.Name)
	}
	if !ed25519KeyRE.MatchString(o.Node.HostKey) {
		return "", fmt.Errorf("provision: %s: host key %q is not an Ed25519 public key in authorized_keys form", o.Node.Name, o.Node.HostKey)
	}
	line, err := o.Node.line(o.Node.Name)
	if err != nil {
		return "", err
	}
	f := strings.Fields(line)
	birth := "- -"
	if o.Birth != "" {
		if !ed25519KeyRE.MatchString(o.Birth) {
			return "", fmt.Errorf("provision: %s: birth host key %q is not an Ed25519 public key", o.Node.Name, o.Birth)
		}
		birth = o.Birth
	}
	for _, id := range []string{o.InstanceID, o.Origin} {
		if strings.ContainsAny(id, " '\n\t") {
			return "", fmt.Errorf("provision: %s: instance ID %q", o.Node.Name, id)
		}
	}
	if strings.TrimSpace(o.Remote) == "" {
		return "", fmt.Errorf("provision: the hostkey-pin step needs the install script")
	}
	if !sshUserRE.MatchString(o.User) {
		return "", fmt.Errorf("provision: SSH user %q is not a user name", o.User)
	}
	bastion, err := bastionLine(o.Bastion, o.BastionUser, o.User)
	if err != nil {
		return "", err
	}
	return renderLocal(StepHostKeyPin, "make the node present natsnest's SSH host key before any other step connects", []variable{
		{"NEEDS_SSH", "it checks that " + o.Node.Name + " presents natsnest's host key"},
		{"SERVER_NAME", o.Node.Name},
		{"SSH_USER", o.User},
		{"ADDRESS", f[1]},
		{"PORT", f[2]},
		{"PINNED", f[3] + " " + f[4]},
		{"BIRTH", birth},
		{"INSTANCE_ID", o.InstanceID},
		{"ORIGIN", o.Origin},
		{"CONNECT_TIMEOUT", seconds(SSHConnectTimeout)},
		{"CONNECT_ATTEMPTS", strconv.Itoa(SSHConnectAttempts)},
		{"WAIT", seconds(HostKeyWait)},
		{"BASTION", bastion},
		{"REMOTE", o.Remote},
	}, "hostkeypin"), nil
}
