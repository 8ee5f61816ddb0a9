package natsnest_test

import (
	"strings"
	"testing"

	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// FuzzValidateThenRender: whatever a user puts into the fields that reach
// nats.conf, either Validate refuses it, or every node's files render and
// nats-server's own parser loads them with the values given — validation
// and rendering never disagree, and no value can add a key to the config.
func FuzzValidateThenRender(f *testing.F) {
	for _, s := range [][5]string{
		{"app", "app-password-0123", "APP", "C1", "env:prod"},
		{"a\"b", "pass\nword-0123", "ACC}", "C 1", "x\ny"},
		{"ops@example.com", "p@ss w0rd {}[]\\\"'", "A-1", "c_2", "team:ops/eu"},
		{"include", "$SYS-0123456789", "SYS", "$G", "az:x"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	f.Fuzz(func(t *testing.T, user, password, account, cluster, tag string) {
		a := svArgs(t, 3)
		a.Accounts = []natsnest.Account{{Name: account, Users: []natsnest.User{{Name: user, Password: pulumi.String(password)}}}}
		a.ClusterName = cluster
		a.Tags = []string{tag}
		if err := a.Validate(); err != nil {
			return
		}
		d := natsnest.ServersWithDefaults(*a)
		files, err := natsnest.RenderNodeFiles(d, []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"})
		if err != nil {
			t.Fatalf("valid arguments do not render: %v", err)
		}
		// Empty names take their defaults.
		account, cluster = d.Accounts[0].Name, d.ClusterName
		o := loadWithFiles(t, files[0])
		if o.Cluster.Name != cluster || len(o.Tags) != 1 || o.Tags[0] != strings.ToLower(tag) {
			t.Errorf("cluster %q tags %v, want %q [%q]", o.Cluster.Name, o.Tags, cluster, tag)
		}
		found := false
		for _, u := range o.Users {
			if u.Username == user {
				found = u.Account == account
			}
		}
		if !found {
			t.Errorf("user %q of account %q is not in the loaded config", user, account)
		}
	})
}
