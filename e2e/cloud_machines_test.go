package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"golang.org/x/crypto/ssh"

	"github.com/natsnest/pulumi-natsnest/internal/testkit/cloud"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/machines"
)

// machineEffects sees the cloud's instances as machines.
type machineEffects struct {
	b      *cloud.Machines
	signer ssh.Signer
}

func (e machineEffects) boot(t *testing.T, inst string) string {
	m := e.b.Machine(inst)
	if m == nil || !m.Running() {
		return ""
	}
	id, err := m.BootID()
	if err != nil {
		t.Errorf("boot ID of %s: %v", inst, err)
	}
	return id
}

func (e machineEffects) exists(inst string) bool { return e.b.Machine(inst) != nil }

func (e machineEffects) diskOn(disk string) string { return e.b.DiskOn(disk) }

// eipOn is the instance whose SSH answers on addr: the host key it shows
// is the one on that machine's disk.
func (e machineEffects) eipOn(t *testing.T, addr string) string {
	var who string
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(e.signer)}, Timeout: 5 * time.Second,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			for _, m := range e.b.Fleet.Machines {
				if k, err := m.CurrentHostKey(); err == nil && string(k.Marshal()) == string(key.Marshal()) {
					who = m.Name
					return nil
				}
			}
			return fmt.Errorf("%s answers with a host key of no instance", addr)
		}}
	c, err := ssh.Dial("tcp", net.JoinHostPort(addr, "22"), cfg)
	if err != nil {
		t.Logf("EIP %s: %v", addr, err)
		return ""
	}
	c.Close()
	return who
}

// The emulated cloud's rules on real machines: each instance a Debian
// machine booted with cloud-init (host name, root's password, user_data),
// its data disk a block device hot-plugged with the disk ID as serial, its
// EIP an address the host translates; a stop and start is a new boot ID,
// a replacement a new machine.
func TestCloudRulesOnMachines(t *testing.T) {
	fleet := machines.New(t, machines.Options{VPC: true})
	b := cloud.NewMachines(fleet)
	signer, err := ssh.ParsePrivateKey([]byte(fleet.PrivateKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	k := knobs{}
	for key, v := range baseKnobs {
		k[key] = v
	}
	a := fleet.Prefix.Addr().As4()
	a[2] = 1
	k["vpc.cidrBlock"] = fleet.Prefix.String()
	k["vsw.cidrBlock"] = netip.PrefixFrom(netip.AddrFrom4(a), 24).String()
	runCloudRules(t, b, machineEffects{b, signer}, k, func(t *testing.T, out auto.OutputMap) {
		inst := out["instanceId"].Value.(string)
		m := b.Machine(inst)
		got, err := m.Run("hostname; cat /root/user-data-ran; lsblk -dno SERIAL,TYPE | grep " + out["diskId"].Value.(string))
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("node-1\none\n%s disk", out["diskId"].Value.(string))
		if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(want), " ") {
			t.Errorf("instance %s: host name, user_data's file, data disk:\n%s\nwant:\n%s", inst, got, want)
		}
		// Root logs in with the instance's password, as on ECS.
		key, _ := m.CurrentHostKey()
		c, err := ssh.Dial("tcp", net.JoinHostPort(m.Addr, "22"), &ssh.ClientConfig{User: "root",
			Auth: []ssh.AuthMethod{ssh.Password("Emulated-Pw-42")}, HostKeyCallback: ssh.FixedHostKey(key), Timeout: 5 * time.Second})
		if err != nil {
			t.Errorf("root with the instance's password: %v", err)
		} else {
			c.Close()
		}
		t.Logf("verified: instance %s is machine %s: host name node-1 from cloud-init, user_data ran, disk %s with its ID as serial, root's password works, EIP %s reaches it",
			inst, m.Addr, out["diskId"].Value, out["eip"].Value)
	})
}
