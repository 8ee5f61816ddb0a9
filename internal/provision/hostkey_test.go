package provision

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testHostKey is a fresh Ed25519 host key: its OpenSSH private key and
// its public key in authorized_keys form.
func testHostKey(t *testing.T) (string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp)))
}

func TestHostKeyUserData(t *testing.T) {
	priv, pub := testHostKey(t)
	ud, err := HostKeyUserData(priv, pub)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ud, "#cloud-config\n"+hostKeyMarker+pub+"\n") {
		t.Errorf("user_data does not start with #cloud-config and the key's line:\n%s", ud)
	}
	for _, want := range []string{"ssh_deletekeys: true\n", "ssh_genkeytypes: []\n", "  ed25519_private: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n", "  ed25519_public: " + pub + "\n"} {
		if !strings.Contains(ud, want) {
			t.Errorf("user_data lacks %q:\n%s", want, ud)
		}
	}
	again, _ := HostKeyUserData(priv, pub)
	if again != ud {
		t.Error("the same key rendered two different user_data: a rendering that changes reboots instances")
	}
	// What ECS gives back, as given or base64, names the key; other user
	// data names none.
	for _, in := range []string{ud, base64.StdEncoding.EncodeToString([]byte(ud))} {
		if got := BirthHostKey(in); got != pub {
			t.Errorf("BirthHostKey = %q, want %q", got, pub)
		}
	}
	for _, in := range []string{"", "#cloud-config\n{}\n", "#cloud-config\n# natsnest host key: ssh-rsa AAAAB3Nza\n", "#!/bin/sh\necho '# natsnest host key: " + pub + "'\n"} {
		if got := BirthHostKey(in); got != "" {
			t.Errorf("BirthHostKey(%q) = %q, want none", in, got)
		}
	}
	// Refused: a key that is not Ed25519, a private half that is not one.
	if _, err := HostKeyUserData(priv, "ssh-rsa AAAAB3NzaC1yc2E"); err == nil {
		t.Error("an RSA public key was accepted")
	}
	if _, err := HostKeyUserData("not a key", pub); err == nil {
		t.Error("a private key that is none was accepted")
	}
}

// TestHostKeyUserDataThroughCloudInit checks the user_data against
// cloud-init's own schema when cloud-init is installed here.
func TestHostKeyUserDataThroughCloudInit(t *testing.T) {
	if _, err := exec.LookPath("cloud-init"); err != nil {
		t.Skip("cloud-init is not installed here; the machine tier boots instances with it (make e2e)")
	}
	priv, pub := testHostKey(t)
	ud, _ := HostKeyUserData(priv, pub)
	f := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(f, []byte(ud), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cloud-init", "schema", "-c", f).CombinedOutput(); err != nil {
		t.Errorf("cloud-init schema: %v\n%s", err, out)
	}
}

func TestHostKeyInstallScript(t *testing.T) {
	priv, pub := testHostKey(t)
	s, err := HostKeyScript("/etc/ssh/sshd_config", pub)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, "SSHD_DIR='/etc/ssh'") || !strings.Contains(s, "PUBLIC_KEY='"+pub+"'") {
		t.Errorf("script variables:\n%s", s)
	}
	if strings.Contains(s, "PRIVATE KEY") || strings.Contains(s, priv[40:80]) {
		t.Error("the private key is in the script: it must come on stdin only")
	}
	if _, err := HostKeyScript("etc/ssh/sshd_config", pub); err == nil {
		t.Error("a relative sshd config path was accepted")
	}
}

// pinOptions is nats-2's hostkey-pin step with natsnest's key pub.
func pinOptions(pub string) HostKeyPinOptions {
	return HostKeyPinOptions{Node: LeaveTarget{Name: "nats-2", Address: "10.0.0.2", Port: 22, HostKey: pub},
		InstanceID: "i-new", Remote: "bash -c 'install the host key'", User: "root"}
}

func TestHostKeyPin(t *testing.T) {
	priv, pub := testHostKey(t)
	_, birth := testHostKey(t)
	_, other := testHostKey(t)
	run := func(o HostKeyPinOptions, files map[string]string, env ...string) leaveRun {
		t.Helper()
		s, err := HostKeyPinScript(o)
		if err != nil {
			t.Fatal(err)
		}
		return runLocal(t, s, priv, files, append(env, "NATSNEST_SSH_PASSWORD="+testPassword)...)
	}
	installs := func(r leaveRun) int {
		n := 0
		for _, c := range r.calls {
			if strings.Contains(c["args"], "install the host key") && c["login"] != "" {
				n++
			}
		}
		return n
	}

	t.Run("presents natsnest's key", func(t *testing.T) {
		r := run(pinOptions(pub), map[string]string{"10.0.0.2": "ok", "10.0.0.2.key": pub})
		if r.code != 0 || !strings.Contains(r.out, "presents natsnest's host key") || !strings.HasSuffix(r.out, "installed "+pub+"\n") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
		}
		if len(r.calls) != 1 || r.calls[0]["stdin"] != "" || !strings.Contains(r.calls[0]["known"], pub) {
			t.Errorf("want one pinned check with nothing on its stdin: %+v", r.calls)
		}
	})

	t.Run("born with an older key", func(t *testing.T) {
		o := pinOptions(pub)
		o.Birth = birth
		r := run(o, map[string]string{"10.0.0.2": "ok", "10.0.0.2.key": birth, "10.0.0.2.next": pub})
		if r.code != 0 || installs(r) != 1 || !strings.Contains(r.out, "pinned to the key natsnest gave it before") {
			t.Fatalf("exit %d, %d installs\nstdout:\n%s\nstderr:\n%s", r.code, installs(r), r.out, r.err)
		}
		for _, c := range r.calls {
			if c["login"] != "" && !strings.Contains(c["known"], pub) && !strings.Contains(c["known"], birth) {
				t.Errorf("a login with known_hosts %q: neither natsnest's key nor the birth key", c["known"])
			}
			if strings.Contains(c["args"], "install the host key") && c["stdin"] != priv {
				t.Error("the install did not get the private key on its stdin")
			}
		}
	})

	t.Run("rotation: the key installed last", func(t *testing.T) {
		r := run(pinOptions(pub), map[string]string{"10.0.0.2": "ok", "10.0.0.2.key": other, "10.0.0.2.next": pub},
			"PULUMI_COMMAND_STDOUT=natsnest hostkey-pin: nats-2 presents natsnest's host key\ninstalled "+other)
		if r.code != 0 || installs(r) != 1 {
			t.Fatalf("exit %d, %d installs\nstdout:\n%s\nstderr:\n%s", r.code, installs(r), r.out, r.err)
		}
	})

	t.Run("migration: trusted once for the origin instance", func(t *testing.T) {
		o := pinOptions(pub)
		o.InstanceID, o.Origin = "i-old", "i-old"
		r := run(o, map[string]string{"10.0.0.2": "ok", "10.0.0.2.key": other, "10.0.0.2.next": pub})
		if r.code != 0 || installs(r) != 1 || !strings.Contains(r.err, "trusting the host key it presents now once") || !strings.Contains(r.out, "migrated") {
			t.Fatalf("exit %d, %d installs\nstdout:\n%s\nstderr:\n%s", r.code, installs(r), r.out, r.err)
		}
	})

	// Refused before any login: nothing sent.
	for name, c := range map[string]struct {
		o   func(HostKeyPinOptions) HostKeyPinOptions
		env []string
	}{
		"an imposter":                       {o: func(o HostKeyPinOptions) HostKeyPinOptions { return o }},
		"a replaced origin instance":        {o: func(o HostKeyPinOptions) HostKeyPinOptions { o.Origin = "i-old"; return o }},
		"the origin after its installation": {o: func(o HostKeyPinOptions) HostKeyPinOptions { o.InstanceID, o.Origin = "i-old", "i-old"; return o }, env: []string{"PULUMI_COMMAND_STDOUT=installed " + pub}},
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			r := run(c.o(pinOptions(pub)), map[string]string{"10.0.0.2": "ok", "10.0.0.2.key": other, "10.0.0.2.next": pub}, c.env...)
			if r.code == 0 || !strings.Contains(r.err, "refused before logging in, nothing was sent") {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.err)
			}
			for _, call := range r.calls {
				if call["login"] != "" {
					t.Errorf("ssh logged in to a host presenting another key: %q", call["args"])
				}
			}
		})
	}

	t.Run("a node that does not answer", func(t *testing.T) {
		o := pinOptions(pub)
		s, _ := HostKeyPinScript(o)
		s = strings.Replace(s, "WAIT='300'", "WAIT='0'", 1)
		r := runLocal(t, s, priv, map[string]string{"10.0.0.2": "down"}, "NATSNEST_SSH_PASSWORD=x")
		if r.code == 0 || !strings.Contains(r.err, "does not answer over SSH within 0s") {
			t.Fatalf("exit %d\nstderr:\n%s", r.code, r.err)
		}
	})
}

func TestHostKeyPinRefusesBadInput(t *testing.T) {
	_, pub := testHostKey(t)
	for name, o := range map[string]HostKeyPinOptions{
		"no key":         {Node: LeaveTarget{Name: "n1", Address: "10.0.0.1", Port: 22}, Remote: "x", User: "root"},
		"an RSA key":     {Node: LeaveTarget{Name: "n1", Address: "10.0.0.1", Port: 22, HostKey: "ssh-rsa AAAAB3NzaC1yc2E"}, Remote: "x", User: "root"},
		"a bad address":  {Node: LeaveTarget{Name: "n1", Address: "10.0.0.1; rm", Port: 22, HostKey: pub}, Remote: "x", User: "root"},
		"a bad instance": {Node: LeaveTarget{Name: "n1", Address: "10.0.0.1", Port: 22, HostKey: pub}, InstanceID: "i-1' x", Remote: "x", User: "root"},
		"no script":      {Node: LeaveTarget{Name: "n1", Address: "10.0.0.1", Port: 22, HostKey: pub}, User: "root"},
	} {
		if _, err := HostKeyPinScript(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
