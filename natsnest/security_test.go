package natsnest_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/natsserver"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/testpki"
	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// pemPKI is a CA made by the test and what it issued, as PEM strings.
type pemPKI struct {
	CA, Cert, Key string
	ca            *testpki.CA
}

type certSpec = testpki.Spec

// newPEMPKI makes a CA and a server certificate valid for an hour, naming
// 127.0.0.1 and 10.0.0.1-3 (svArgs' private addresses), for server and
// client authentication.
func newPEMPKI(t testing.TB) *pemPKI {
	t.Helper()
	ca := testpki.New(t)
	p := &pemPKI{CA: ca.PEM, ca: ca}
	p.Cert, p.Key = p.issue(t, certSpec{IPs: []string{"127.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3"}})
	return p
}

// issue signs a certificate with the CA; zero fields get the defaults.
func (p *pemPKI) issue(t testing.TB, s certSpec) (cert, key string) {
	t.Helper()
	return p.ca.Issue(t, s)
}

func (p *pemPKI) tls() *natsnest.TLSArgs {
	return &natsnest.TLSArgs{CA: p.CA, Cert: p.Cert, Key: pulumi.String(p.Key), VerifyClients: true, Routes: true, Monitoring: true}
}

// keyMaterial is the base64 body of a PEM key: what must never appear
// outside a secret.
func keyMaterial(key string) string {
	lines := strings.Split(strings.TrimSpace(key), "\n")
	return strings.Join(lines[1:len(lines)-1], "\n")
}

// writeNodeFiles writes a node's rendered config into a temp dir, with its
// TLS paths pointed at the payload's files written next to it, and returns
// the config's path.
func writeNodeFiles(t *testing.T, f provision.NodeFiles) string {
	t.Helper()
	dir := t.TempDir()
	conf := f.Config
	if f.TLSCert != "" {
		tlsDir := filepath.Join(dir, "tls")
		os.Mkdir(tlsDir, 0o700)
		for name, content := range map[string]string{provision.TLSCertFile: f.TLSCert, provision.TLSKeyFile: f.TLSKey, provision.TLSCAFile: f.TLSCA} {
			if content != "" {
				os.WriteFile(filepath.Join(tlsDir, name), []byte(content), 0o600)
			}
		}
		conf = strings.ReplaceAll(conf, `"`+provision.DefaultLayout().TLSDir()+"/", `"`+tlsDir+"/")
	}
	os.WriteFile(filepath.Join(dir, natsconf.ConfigFile), []byte(conf), 0o600)
	if f.Routes != "" {
		os.WriteFile(filepath.Join(dir, natsconf.RoutesFile), []byte(f.Routes), 0o600)
	}
	return filepath.Join(dir, natsconf.ConfigFile)
}

// loadWithFiles loads a node's rendered config (see writeNodeFiles) with
// nats-server's own parser.
func loadWithFiles(t *testing.T, f provision.NodeFiles) *natsserver.Options {
	t.Helper()
	o, err := natsserver.Load(writeNodeFiles(t, f))
	if err != nil {
		t.Fatalf("nats-server rejects the config: %v\n%s", err, f.Config)
	}
	return o
}

// TLS reaches every node: the PEMs in the config step's secret stdin, the
// config naming them in /etc/nats/tls with client verification, route TLS
// and HTTPS monitoring, the endpoints as tls:// and https://, and the
// service step checking health over HTTPS.
func TestServersTLS(t *testing.T) {
	pki := newPEMPKI(t)
	args := svArgs(t, 3)
	args.TLS = pki.tls()
	r := svMustDeploy(t, args)
	for i := 1; i <= 3; i++ {
		host := "n" + string(rune('0'+i))
		f := r.payload(t, host)
		if f.TLSCert != pki.Cert || f.TLSKey != pki.Key || f.TLSCA != pki.CA {
			t.Fatalf("%s: the payload does not carry the TLS files", host)
		}
		for _, path := range []string{"/etc/nats/tls/cert.pem", "/etc/nats/tls/key.pem", "/etc/nats/tls/ca.pem"} {
			if !strings.Contains(f.Config, `"`+path+`"`) {
				t.Errorf("%s: nats.conf does not name %s", host, path)
			}
		}
		o := loadWithFiles(t, f)
		if o.TLS == nil || o.TLS.ClientAuth != tls.RequireAndVerifyClientCert || o.Cluster.TLS == nil ||
			o.Cluster.TLS.ClientAuth != tls.RequireAndVerifyClientCert || o.HTTPSPort != 8222 || o.HTTPPort != 0 {
			t.Errorf("%s: client TLS %v, route TLS %v, https %d http %d", host, o.TLS, o.Cluster.TLS, o.HTTPSPort, o.HTTPPort)
		}
		if !strings.Contains(f.RestartSettings, `monitor_tls="true"`) {
			t.Errorf("%s: switching to HTTPS monitoring does not restart", host)
		}
		for _, step := range [][2]string{{"start", "create"}, {"service", "update"}} {
			if s := r.str(t, "nats-"+host+"-"+step[0], step[1]); !strings.Contains(s, `MONITOR_TLS='\''1'\''`) {
				t.Errorf("%s: the %s step checks health over plain HTTP", host, step[0])
			}
		}
	}
	if got := r.outputs["privateEndpoint"].Value; got != "tls://10.0.0.1:4222,tls://10.0.0.2:4222,tls://10.0.0.3:4222" {
		t.Errorf("privateEndpoint %v", got)
	}
	if got := fmt.Sprint(r.outputs["monitoringUrls"].Value); !strings.HasPrefix(got, "[https://10.0.0.1:8222 ") {
		t.Errorf("monitoringUrls %v", got)
	}

	// Without TLS nothing of it is there, and a former TLS node gets an
	// empty TLS set, which the config step turns into removing the files.
	plain := svMustDeploy(t, svArgs(t, 3)).payload(t, "n1")
	if plain.TLSCert != "" || strings.Contains(plain.Config, "tls") || strings.Contains(plain.RestartSettings, "monitor_tls") {
		t.Errorf("TLS without TLSArgs:\n%s", plain.Config)
	}
}

// Routes dial each node at its private address: with route TLS the
// certificate must name each one, checked before deployment where the
// address is known and when the configs are rendered where it is an output.
func TestServersRouteTLSNamesEveryNode(t *testing.T) {
	pki := newPEMPKI(t)
	args := svArgs(t, 3)
	args.TLS = pki.tls()
	args.Hosts[2].PrivateAddress = pulumi.String("10.0.0.9")
	err := args.Validate()
	if err == nil || !strings.Contains(err.Error(), "TLS.Cert: Hosts[2].PrivateAddress: routes dial this node at 10.0.0.9") {
		t.Fatalf("got %v", err)
	}
	// Without route TLS the certificate need not name the nodes.
	args.TLS.Routes = false
	if err := args.Validate(); err != nil {
		t.Fatalf("client-only TLS: %v", err)
	}
	// An address that is an output is checked when rendered: the deployment
	// fails instead of running a cluster whose routes never form.
	args.TLS.Routes = true
	args.Hosts[2].PrivateAddress = pulumi.String("10.0.0.9").ToStringOutput()
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := natsnest.NewServers(ctx, "nats", args)
		return err
	}, pulumi.WithMocks("natsnest", "test", &svMocks{}))
	if err == nil || !strings.Contains(err.Error(), "10.0.0.9, which TLS.Cert does not name") {
		t.Fatalf("render-time check: %v", err)
	}
}

// NKEY users and the anonymous opt-in, as nats-server reads them.
func TestServersNKeyAndAnonymousUsers(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	args := svArgs(t, 1)
	args.Accounts[0].Users = append(args.Accounts[0].Users, natsnest.User{NKey: pub})
	r := svMustDeploy(t, args)
	o := loadWithFiles(t, r.payload(t, "n1"))
	if len(o.Nkeys) != 1 || o.Nkeys[0].Nkey != pub || o.Nkeys[0].Account != "APP" {
		t.Fatalf("NKEY user not in APP: %+v", o.Nkeys)
	}
	if o.NoAuthUser != "" {
		t.Fatalf("no_auth_user %q without AllowAnonymous", o.NoAuthUser)
	}

	args.AllowAnonymous = true
	r = svMustDeploy(t, args)
	f := r.payload(t, "n1")
	o = loadWithFiles(t, f)
	anon := natsnest.AnonymousNKey(svStackSecret)
	if o.NoAuthUser != anon || len(o.Nkeys) != 2 || o.Nkeys[1].Nkey != anon || o.Nkeys[1].Account != "APP" {
		t.Fatalf("no_auth_user %q, nkeys %+v with AllowAnonymous", o.NoAuthUser, o.Nkeys)
	}
	if natsnest.AnonymousNKey(svStackSecret) != anon || natsnest.AnonymousNKey("another-stack-secret") == anon {
		t.Error("the anonymous user's key is not derived from the stack secret alone")
	}
	if !strings.Contains(f.RestartSettings, `no_auth_user="`+anon+`"`) {
		t.Error("turning anonymous access on does not restart (nats-server does not reload no_auth_user)")
	}
	// The first user with a password is the context's, not the NKEY user.
	args.Accounts[0].Users = []natsnest.User{{NKey: pub}, {Name: "app", Password: pulumi.String(svAppPassword)}}
	if u := natsnest.FirstUser(natsnest.ServersWithDefaults(*args).ServerOptions); u.Name != "app" {
		t.Errorf("natsContext user %+v", u)
	}
}

// With AllowAnonymous a client without credentials gets in, into the first
// account, and cannot reach the system account; without it, it is refused.
// Real nats-server code, from the config natsnest renders.
func TestAnonymousOptInOnARealServer(t *testing.T) {
	for _, allow := range []bool{false, true} {
		args := svArgs(t, 1)
		args.AllowAnonymous = allow
		files, err := natsnest.RenderNodeFiles(natsnest.ServersWithDefaults(*args), []string{"127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		loadWithFiles(t, files[0])
		srv := natsserver.Start(t, writeNodeFiles(t, files[0]), natsserver.Overrides{Host: "127.0.0.1", Port: -1, NoMonitoring: true, StoreDir: t.TempDir()})
		nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(0))
		switch {
		case !allow && err == nil:
			nc.Close()
			t.Error("an anonymous client connected without AllowAnonymous")
		case allow && err != nil:
			t.Errorf("AllowAnonymous: anonymous client refused: %v", err)
		case allow:
			if _, err := nc.Request("$SYS.REQ.SERVER.PING", nil, 300*time.Millisecond); err == nil {
				t.Error("an anonymous client reached the system account")
			}
			// It lands in the first account: the application user hears it.
			app, err := nats.Connect(srv.ClientURL(), nats.UserInfo("app", svAppPassword))
			if err != nil {
				t.Fatal(err)
			}
			sub, _ := app.SubscribeSync("orders")
			app.Flush()
			nc.Publish("orders", []byte("from nobody"))
			nc.Flush()
			if m, err := sub.NextMsg(5 * time.Second); err != nil || string(m.Data) != "from nobody" {
				t.Errorf("the anonymous client's message did not reach the application account: %v", err)
			}
			app.Close()
			nc.Close()
		}
		srv.Shutdown()
	}
}

// Keys-only SSH: the base step switches password logins off when
// provisioning logs in with a key alone, unless asked to keep them.
func TestServersKeysOnlySSH(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*natsnest.ServersArgs)
		want string
	}{
		{"key", func(*natsnest.ServersArgs) {}, "1"},
		{"password", func(a *natsnest.ServersArgs) { a.SSH = natsnest.SSH{Password: pulumi.String(svSSHPassword)} }, "0"},
		{"key and password", func(a *natsnest.ServersArgs) { a.SSH.Password = pulumi.String(svSSHPassword) }, "0"},
		{"key, kept", func(a *natsnest.ServersArgs) { a.SSH.KeepPasswordLogin = true }, "0"},
	} {
		args := svArgs(t, 1)
		c.edit(args)
		r := svMustDeploy(t, args)
		if s := r.str(t, "nats-n1-base", "create"); !strings.Contains(s, `KEYS_ONLY='\''`+c.want+`'\''`) {
			t.Errorf("%s: base step lacks KEYS_ONLY=%s", c.name, c.want)
		}
	}
}

// The TLS validation reports every problem of the PEMs at once, and never
// repeats a private key.
func TestValidateTLSMaterial(t *testing.T) {
	pki := newPEMPKI(t)
	other := newPEMPKI(t)
	expired, expiredKey := pki.issue(t, certSpec{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	future, futureKey := pki.issue(t, certSpec{NotBefore: time.Now().Add(time.Hour), NotAfter: time.Now().Add(2 * time.Hour)})
	serverOnly, serverOnlyKey := pki.issue(t, certSpec{Usage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPs: []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"}})
	for _, c := range []struct {
		name string
		tls  natsnest.TLSArgs
		want []string // "" entries: valid
	}{
		{"valid", *pki.tls(), nil},
		{"client TLS with a public CA's certificate", natsnest.TLSArgs{Cert: pki.Cert, Key: pulumi.String(pki.Key)}, nil},
		{"nothing", natsnest.TLSArgs{}, []string{"TLS.Cert: is required", "TLS.Key: is required"}},
		{"not PEM", natsnest.TLSArgs{Cert: "hello", Key: pulumi.String(pki.Key)}, []string{"TLS.Cert: holds text that is not PEM"}},
		{"key in the cert field", natsnest.TLSArgs{Cert: pki.Key, Key: pulumi.String(pki.Key)}, []string{`TLS.Cert: PEM block 1 is a "PRIVATE KEY"`}},
		{"garbage certificate", natsnest.TLSArgs{Cert: testpki.PEM("CERTIFICATE", []byte("junk")), Key: pulumi.String(pki.Key)}, []string{"TLS.Cert: PEM block 1 does not parse"}},
		{"key of another certificate", natsnest.TLSArgs{CA: pki.CA, Cert: pki.Cert, Key: pulumi.String(other.Key)}, []string{"TLS.Key: does not go with TLS.Cert"}},
		{"encrypted key", natsnest.TLSArgs{Cert: pki.Cert, Key: pulumi.String("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n")}, []string{"TLS.Key: is encrypted"}},
		{"other CA", natsnest.TLSArgs{CA: other.CA, Cert: pki.Cert, Key: pulumi.String(pki.Key)}, []string{"TLS.Cert: does not verify against TLS.CA"}},
		{"CA is a leaf", natsnest.TLSArgs{CA: other.Cert, Cert: pki.Cert, Key: pulumi.String(pki.Key)}, []string{"TLS.CA: certificate", "is not a CA"}},
		{"expired", natsnest.TLSArgs{CA: pki.CA, Cert: expired, Key: pulumi.String(expiredKey)}, []string{"TLS.Cert: expired on"}},
		{"not yet valid", natsnest.TLSArgs{CA: pki.CA, Cert: future, Key: pulumi.String(futureKey)}, []string{"TLS.Cert: is not valid before"}},
		{"verify without CA", natsnest.TLSArgs{Cert: pki.Cert, Key: pulumi.String(pki.Key), VerifyClients: true}, []string{"TLS.CA: is required with VerifyClients"}},
		{"routes without CA", natsnest.TLSArgs{Cert: pki.Cert, Key: pulumi.String(pki.Key), Routes: true}, []string{"TLS.CA: is required with Routes"}},
		{"routes with a server-only certificate", natsnest.TLSArgs{CA: pki.CA, Cert: serverOnly, Key: pulumi.String(serverOnlyKey), Routes: true}, []string{"for client authentication (nodes dial routes with it)"}},
		{"everything at once", natsnest.TLSArgs{CA: "x", Cert: expired, Key: pulumi.String(other.Key), Routes: true}, []string{"TLS.CA: holds text", "TLS.Cert: expired", "TLS.Key: does not go with"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var p natsnest.Problems
			tl := c.tls
			natsnest.ValidateTLS(&p, &tl)
			err := p.Err()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("valid TLS rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			for _, k := range []string{pki.Key, other.Key, expiredKey} {
				if strings.Contains(err.Error(), keyMaterial(k)) {
					t.Error("the error repeats a private key")
				}
			}
		})
	}
}
