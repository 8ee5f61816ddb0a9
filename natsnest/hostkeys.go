package natsnest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/pulumi/pulumi-alicloud/sdk/v3/go/alicloud/ecs"
	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"golang.org/x/crypto/ssh"
)

// A Cluster node's SSH host key (docs/architecture.md §4c). Three steps per
// node, each a command:local:Command:
//
//   - <node>-hostkey, before the instance: an Ed25519 key generated once by
//     the program and kept in the state as a secret. The step echoes the key
//     it was created with (its stdin, whose changes it ignores), so the key
//     stays the same on every later run, whatever the stack's secrets.
//   - <node>-hostkey-migrate, after the instance: when it is created, and
//     only then, an instance created without natsnest's key in its
//     user_data (a stack deployed before natsnest pinned host keys) may have
//     the key it presents trusted once to install natsnest's
//     (provision.HostKeyPinScript with Origin); otherwise a pinned check.
//   - <node>-hostkey-pin, after it and before every other step on the
//     node: makes the node present the key, never trusting one
//     (provision.HostKeyPinScript).
//
// Every other connection to the node pins the key (Host.HostKey).

// hostKeyRecord is what a node's hostkey step keeps.
type hostKeyRecord struct {
	PrivateKey string `json:"privateKey"`
	PublicKey  string `json:"publicKey"`
	// Spec is the instance's arguments that force its replacement, as
	// they were when the key was made.
	Spec instanceSpec `json:"spec"`
}

// instanceSpec are the arguments of a node's instance whose change
// replaces it (ForceNew in terraform-provider-alicloud v1.144.0's
// resource_alicloud_instance.go) that natsnest sets.
type instanceSpec struct {
	AvailabilityZone   string `json:"availabilityZone"`
	SystemDiskCategory string `json:"systemDiskCategory"`
	KeyName            string `json:"keyName"`
}

// nodeHostKey is a node's host key as its instance and steps use it.
type nodeHostKey struct {
	// public is "ssh-ed25519 AAAA…", which every connection pins; private
	// its private half (OpenSSH format, secret).
	public, private pulumi.StringOutput
	// userData installs the key at the instance's first boot (secret).
	userData pulumi.StringOutput
	// keepUserData says the instance's user_data is in ignoreChanges: an
	// instance that exists keeps the user_data it was created with, as a
	// change would reboot it. Not when the program sees that a replacement
	// is coming (spec differs from the one recorded with the key): the
	// engine would create the replacement with the ignored old value —
	// for a node deployed before natsnest pinned host keys, none.
	keepUserData bool
}

// newHostKey generates an Ed25519 host key.
func newHostKey(spec instanceSpec) (hostKeyRecord, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return hostKeyRecord{}, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return hostKeyRecord{}, err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return hostKeyRecord{}, err
	}
	return hostKeyRecord{
		PrivateKey: string(pem.EncodeToMemory(block)),
		PublicKey:  strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))),
		Spec:       spec,
	}, nil
}

// registerHostKey registers node res's hostkey step and reads back the key
// it keeps. It waits for the engine's answer, which decides whether the
// instance registered next keeps its user_data.
func registerHostKey(ctx *pulumi.Context, res string, spec instanceSpec, parent pulumi.Resource) (*nodeHostKey, error) {
	fresh, err := newHostKey(spec)
	if err != nil {
		return nil, fmt.Errorf("natsnest: %s: generating its SSH host key: %w", res, err)
	}
	stdin, err := json.Marshal(fresh)
	if err != nil {
		return nil, err
	}
	cmd, err := local.NewCommand(ctx, res+"-hostkey", &local.CommandArgs{
		Create: pulumi.String("cat"),
		Stdin:  pulumi.ToSecret(pulumi.String(string(stdin))).(pulumi.StringOutput),
		// The key must never reach the engine's log.
		Logging:                local.LoggingNone,
		AddPreviousOutputInEnv: pulumi.Bool(false),
	}, pulumi.Parent(parent),
		// The key is made once: later runs generate another, ignored.
		pulumi.IgnoreChanges([]string{"stdin"}),
		pulumi.AdditionalSecretOutputs([]string{"stdin", "stdout"}))
	if err != nil {
		return nil, err
	}
	kept := func(f func(hostKeyRecord) (string, error)) pulumi.StringOutput {
		return cmd.Stdout.ApplyT(func(s string) (string, error) {
			var r hostKeyRecord
			if err := json.Unmarshal([]byte(s), &r); err != nil || r.PublicKey == "" || r.PrivateKey == "" {
				return "", fmt.Errorf("natsnest: %s-hostkey keeps no host key in the state (%v): pulumi up --replace its URN makes a new one", res, err)
			}
			return f(r)
		}).(pulumi.StringOutput)
	}
	k := &nodeHostKey{keepUserData: true}
	k.public = pulumi.Unsecret(kept(func(r hostKeyRecord) (string, error) { return r.PublicKey, nil })).(pulumi.StringOutput)
	k.private = pulumi.ToSecret(kept(func(r hostKeyRecord) (string, error) { return r.PrivateKey, nil })).(pulumi.StringOutput)
	k.userData = pulumi.ToSecret(kept(func(r hostKeyRecord) (string, error) {
		return provision.HostKeyUserData(r.PrivateKey, r.PublicKey)
	})).(pulumi.StringOutput)

	got, err := internals.UnsafeAwaitOutput(ctx.Context(), cmd.Stdout)
	if err != nil {
		return nil, err
	}
	if s, ok := got.Value.(string); got.Known && ok && s != string(stdin) {
		// Made on an earlier run: a replacement is coming when the
		// instance's replacing arguments are no longer the recorded ones.
		var old hostKeyRecord
		if err := json.Unmarshal([]byte(s), &old); err != nil {
			return nil, fmt.Errorf("natsnest: %s-hostkey keeps no host key in the state (%v): pulumi up --replace its URN makes a new one", res, err)
		}
		k.keepUserData = old.Spec == spec
	}
	return k, nil
}

// registerHostKeyPin registers node's hostkey-migrate and hostkey-pin steps,
// after its instance (id, userData) and deps (the SSH rule, the EIP
// association), and returns the pin step, on which every other step on
// the node depends.
func registerHostKeyPin(ctx *pulumi.Context, res, node string, key *nodeHostKey, inst *ecs.Instance,
	connect pulumi.StringInput, s SSH, deps []pulumi.Resource, parent pulumi.Resource,
) (*local.Command, error) {
	s = s.withDefaults()
	id := inst.ID()
	// The user_data the instance was created with, as the engine keeps it
	// in the state. Not inst.UserData: the Go SDK fills an output the
	// state lacks with the input of the same name — for an instance
	// created before natsnest pinned host keys, the new user_data the
	// engine was told to ignore.
	birth := pulumi.Unsecret(pulumi.InternalGetRawOutputs(&inst.ResourceState).ApplyT(func(v any) string {
		props, _ := v.(resource.PropertyMap)
		u := props["userData"]
		for u.IsSecret() {
			u = u.SecretValue().Element
		}
		if !u.IsString() {
			return ""
		}
		return provision.BirthHostKey(u.StringValue())
	})).(pulumi.StringOutput)
	var bastionHost, bastionKey pulumi.StringInput = pulumi.String(""), pulumi.String("")
	if b := s.Bastion; b != nil {
		bastionHost = b.Host
		if b.HostKey != nil {
			bastionKey = b.HostKey
		}
	}
	sudo := s.User != "root"
	// script is the pin script; with migrate, it may trust the key an
	// instance created before natsnest pinned host keys presents, once.
	script := func(migrate bool) pulumi.StringOutput {
		return pulumi.All(connect, key.public, id, birth, bastionHost, bastionKey).ApplyT(func(vs []any) (string, error) {
			str := func(i int) string {
				if v, ok := vs[i].(pulumi.ID); ok {
					return string(v)
				}
				return vs[i].(string)
			}
			install, err := provision.HostKeyScript(provision.DefaultSSHDConfig, str(1))
			if err != nil {
				return "", err
			}
			o := provision.HostKeyPinOptions{
				Node:       provision.LeaveTarget{Name: node, Address: str(0), Port: s.Port, HostKey: str(1)},
				Birth:      str(3),
				InstanceID: str(2),
				Remote:     provision.RemoteCommand(install, sudo),
				User:       s.User,
			}
			if migrate && str(3) == "" {
				o.Origin = str(2)
			}
			if b := s.Bastion; b != nil {
				o.Bastion = &provision.LeaveTarget{Address: str(4), Port: b.Port, HostKey: str(5)}
				o.BastionUser = b.User
			}
			out, err := provision.HostKeyPinScript(o)
			if err != nil {
				return "", fmt.Errorf("natsnest: %s: %w", node, err)
			}
			return out, nil
		}).(pulumi.StringOutput)
	}
	// The migration runs when the step is created — with the instance, or
	// on the first up of a stack deployed before — and never again: a
	// change of its inputs runs the no-op update. Only `pulumi up --replace`
	// of this step runs it again (SECURITY.md, "Host keys of a Cluster").
	migrate, err := local.NewCommand(ctx, res+"-hostkey-migrate", &local.CommandArgs{
		Create:                 script(true),
		Update:                 pulumi.String("true"),
		Stdin:                  key.private,
		Environment:            sshEnv(s),
		Interpreter:            pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c")},
		AddPreviousOutputInEnv: pulumi.Bool(false),
		Logging:                local.LoggingStdoutAndStderr,
	}, pulumi.Parent(parent), pulumi.DependsOn(deps))
	if err != nil {
		return nil, err
	}
	return local.NewCommand(ctx, res+"-"+provision.StepHostKeyPin, &local.CommandArgs{
		Create:      script(false),
		Update:      script(false),
		Stdin:       key.private,
		Environment: sshEnv(s),
		Interpreter: pulumi.StringArray{pulumi.String("/bin/sh"), pulumi.String("-c")},
		// The previous run's stdout names the key installed last.
		AddPreviousOutputInEnv: pulumi.Bool(true),
		Logging:                local.LoggingStdoutAndStderr,
		// A replaced instance is checked again.
		Triggers: pulumi.Array{id},
	}, pulumi.Parent(parent), pulumi.DependsOn(append(slices.Clone(deps), migrate)))
}
