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
			users[j] = natsconf.User{Name: u.Name, Password: plain(u.Password), NKey: u.NKey}
		}
		accounts[i] = natsconf.Account{Name: a.Name, JetStream: a.JetStream != nil && *a.JetStream, Users: users}
	}
	noAuthUser := ""
	if o.AllowAnonymous && len(accounts) > 0 {
		noAuthUser = anonymousNKey(plain(o.StackSecret))
		accounts[0].Users = append(accounts[0].Users, natsconf.User{NKey: noAuthUser})
	}
	clientTLS, routeTLS := tlsTemplate(o.TLS)
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
			Password: plain(o.AdminPassword),
		},
		Accounts:   accounts,
		NoAuthUser: noAuthUser,
		TLS:        clientTLS,
		MonitorTLS: o.TLS != nil && o.TLS.Monitoring,
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
			Password:    routePassword(plain(o.StackSecret)),
			NoAdvertise: noAdvertise,
			TLS:         routeTLS,
		},
		HashSeed: plain(o.StackSecret),
	}
}
