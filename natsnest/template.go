package natsnest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
)

// routePassword derives the password routes authenticate with from the stack
// secret, so the user has one secret less to keep and it never changes by itself.
func routePassword(stackSecret string) string {
	mac := hmac.New(sha256.New, []byte(stackSecret))
	mac.Write([]byte("natsnest route password"))
	return hex.EncodeToString(mac.Sum(nil))[:40]
}

// serverTemplate converts defaulted, valid options into the renderer's model,
// common to every node. natsconf.ClusterConfigs adds what differs per node.
// noAdvertise is set with public access, where clients cannot reach the
// private addresses servers would otherwise advertise.
func (o ServerOptions) serverTemplate(noAdvertise bool) natsconf.Server {
	sync := natsconf.DefaultSyncInterval
	if o.Durability == DurabilityAlways {
		sync = natsconf.SyncAlways
	}
	accounts := make([]natsconf.Account, len(o.Accounts))
	for i, a := range o.Accounts {
		users := make([]natsconf.User, len(a.Users))
		for j, u := range a.Users {
			users[j] = natsconf.User{Name: u.Name, Password: u.Password}
		}
		accounts[i] = natsconf.Account{Name: a.Name, JetStream: a.JetStream != nil && *a.JetStream, Users: users}
	}
	return natsconf.Server{
		Host:                "0.0.0.0",
		ClientPort:          o.ClientPort,
		MonitorPort:         o.MonitorPort,
		Tags:                o.Tags,
		LameDuckDuration:    o.LameDuckDuration,
		LameDuckGracePeriod: o.LameDuckGracePeriod,
		System: natsconf.SystemAccount{
			Name:     natsconf.DefaultSystemAccount,
			User:     natsconf.DefaultAdminUser,
			Password: o.AdminPassword,
		},
		Accounts: accounts,
		JetStream: natsconf.JetStream{
			StoreDir:       StoreDir,
			MaxFileStore:   o.MaxFileStore,
			MaxMemoryStore: o.MaxMemoryStore,
			SyncInterval:   sync,
		},
		Cluster: &natsconf.Cluster{
			Name:        o.ClusterName,
			Host:        "0.0.0.0",
			Port:        o.RoutePort,
			User:        natsconf.DefaultRouteUser,
			Password:    routePassword(o.StackSecret),
			NoAdvertise: noAdvertise,
		},
		HashSeed: o.StackSecret,
	}
}
