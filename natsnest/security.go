package natsnest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
	"github.com/natsnest/pulumi-natsnest/internal/provision"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"golang.org/x/crypto/ssh"
)

// TLSArgs turn on TLS for clients and, optionally, for routes and HTTPS
// monitoring. One certificate serves every node. The PEMs are Pulumi
// secrets; they reach the nodes only on the config step's stdin and land in
// /etc/nats/tls: the key with mode 0600, owned by the service user "nats".
type TLSArgs struct {
	// CA is the PEM bundle of the certificate authority that issued Cert.
	// It verifies client certificates (VerifyClients) and the other nodes'
	// certificates (Routes), and is required with either. Without them it
	// is optional (a Cert from a public CA needs none); when given, Cert
	// must chain to it.
	CA string
	// Cert is the nodes' certificate (PEM): the leaf first, then any
	// intermediates. It must name every address clients connect to (IP or
	// DNS subject alternative names). With Routes it must also name every
	// node's private address and allow client authentication, as each node
	// dials the others' routes with it. Required.
	Cert string
	// Key is Cert's private key (PEM, unencrypted). A secret: pulumi.String,
	// cfg.RequireSecret, or another resource's output. Required.
	Key pulumi.StringInput
	// VerifyClients requires every client to present a certificate issued
	// by CA (mutual TLS), in addition to its user's credentials.
	// Defaults to false.
	VerifyClients bool
	// Routes requires TLS, verified both ways against CA, on the routes
	// between nodes too. Defaults to false: routes are authenticated by the
	// route password but not encrypted.
	Routes bool
	// Monitoring serves the monitoring port over HTTPS with Cert. The
	// nodes then need curl for provisioning's health checks (Debian 12
	// images have it). Defaults to false.
	Monitoring bool
}

// anonymousNKey is the public key of the user that clients without
// credentials are let in as with AllowAnonymous (nats-server's
// no_auth_user). It is an NKEY user, as nats-server lets no_auth_user in
// without a signature but compares a password user's bcrypt hash with
// itself; its seed is derived from the stack secret (so the config stays
// identical between runs), is never written anywhere, and so nobody can
// sign in as it on purpose.
func anonymousNKey(stackSecret string) string {
	mac := hmac.New(sha256.New, []byte(stackSecret))
	mac.Write([]byte("natsnest anonymous user"))
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteUser, mac.Sum(nil))
	if err != nil {
		panic(err) // 32 bytes and a valid prefix: cannot happen
	}
	pub, err := kp.PublicKey()
	if err != nil {
		panic(err)
	}
	return pub
}

// validateUserNKey checks a public user NKEY without repeating a seed.
func validateUserNKey(p *problems, field, key string) {
	switch {
	case strings.HasPrefix(key, "S"):
		// Never echo it: it may be a private seed.
		p.add(field, "looks like a seed (private key): give the public key (U…), which `nk -inkey seed -pubout` prints")
	case !nkeys.IsValidPublicUserKey(key):
		p.add(field, "%q is not a public user NKEY (56 characters starting with U)", key)
	}
}

// certNow is the time certificates are checked against; tests move it.
var certNow = time.Now

// validateTLS reports every problem of t at once: PEM that does not parse,
// a key that does not match the certificate, a certificate that does not
// chain to the CA, has expired or is not yet valid, or lacks the usage
// routes need.
func validateTLS(p *problems, t *TLSArgs) {
	if t == nil {
		return
	}
	now := certNow()
	certs := parseCerts(p, "TLS.Cert", t.Cert, true)
	var roots *x509.CertPool
	if t.CA != "" {
		cas := parseCerts(p, "TLS.CA", t.CA, false)
		roots = x509.NewCertPool()
		for _, c := range cas {
			if !c.IsCA {
				p.add("TLS.CA", "certificate %q is not a CA (basic constraints CA:TRUE)", c.Subject)
			}
			roots.AddCert(c)
		}
		if len(cas) == 0 {
			roots = nil
		}
	} else {
		if t.VerifyClients {
			p.add("TLS.CA", "is required with VerifyClients: it verifies the clients' certificates")
		}
		if t.Routes {
			p.add("TLS.CA", "is required with Routes: nodes verify each other's certificates against it")
		}
	}
	key, keyKnown := known(t.Key)
	switch {
	case isEmpty(t.Key) || (keyKnown && strings.TrimSpace(key) == ""):
		p.add("TLS.Key", "is required: the PEM private key of TLS.Cert")
	case !keyKnown:
		// An output: checked once known (secrets.go).
	case strings.Contains(key, "ENCRYPTED"):
		p.add("TLS.Key", "is encrypted: nats-server needs it unencrypted")
	case len(certs) > 0:
		if _, err := tls.X509KeyPair([]byte(t.Cert), []byte(key)); err != nil {
			// The error names what failed, never the key.
			p.add("TLS.Key", "does not go with TLS.Cert: %v", err)
		}
	}
	if len(certs) == 0 {
		return
	}
	leaf := certs[0]
	valid := true
	if now.After(leaf.NotAfter) {
		p.add("TLS.Cert", "expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
		valid = false
	} else if now.Before(leaf.NotBefore) {
		p.add("TLS.Cert", "is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
		valid = false
	}
	if roots == nil || !valid {
		return
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	usages := []struct {
		usage x509.ExtKeyUsage
		why   string
	}{{x509.ExtKeyUsageServerAuth, "server authentication"}}
	if t.Routes {
		usages = append(usages, struct {
			usage x509.ExtKeyUsage
			why   string
		}{x509.ExtKeyUsageClientAuth, "client authentication (nodes dial routes with it)"})
	}
	for _, u := range usages {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{u.usage}}); err != nil {
			p.add("TLS.Cert", "does not verify against TLS.CA for %s: %v", u.why, err)
		}
	}
}

// parseCerts parses a PEM bundle of certificates; anything else in it is
// an error, as is an empty bundle when required.
func parseCerts(p *problems, field, bundle string, required bool) []*x509.Certificate {
	if strings.TrimSpace(bundle) == "" {
		if required {
			p.add(field, "is required: PEM certificate")
		}
		return nil
	}
	var certs []*x509.Certificate
	rest := []byte(bundle)
	for i := 0; ; i++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			// A private key pasted into the wrong field is not repeated.
			p.add(field, "PEM block %d is a %q, want only CERTIFICATE blocks", i+1, block.Type)
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			p.add(field, "PEM block %d does not parse: %v", i+1, err)
			continue
		}
		certs = append(certs, c)
	}
	if strings.TrimSpace(string(rest)) != "" {
		p.add(field, "holds text that is not PEM: want only -----BEGIN CERTIFICATE----- blocks")
	}
	return certs
}

// checkRouteNames reports the private addresses that TLS.Cert does not name
// when routes use TLS: nodes dial each other by these addresses and check
// the certificate against them.
func checkRouteNames(t *TLSArgs, field func(i int) string, addrs []string) []string {
	if t == nil || !t.Routes {
		return nil
	}
	block, _ := pem.Decode([]byte(t.Cert))
	if block == nil {
		return nil // reported by validateTLS
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	var out []string
	for i, a := range addrs {
		if a == "" {
			continue
		}
		if err := leaf.VerifyHostname(a); err != nil {
			out = append(out, fmt.Sprintf("%s: routes dial this node at %s, which TLS.Cert does not name (add it as an IP SAN)", field(i), a))
		}
	}
	return out
}

// tlsTemplate is the renderer's TLS of the client listener and the routes,
// naming the files the config step writes.
func tlsTemplate(t *TLSArgs) (client, routes *natsconf.TLS) {
	if t == nil {
		return nil, nil
	}
	files := natsconf.TLS{
		CertFile: layout.TLSPath(provision.TLSCertFile),
		KeyFile:  layout.TLSPath(provision.TLSKeyFile),
	}
	if t.CA != "" {
		files.CAFile = layout.TLSPath(provision.TLSCAFile)
	}
	c := files
	c.Verify = t.VerifyClients
	client = &c
	if t.Routes {
		r := files
		r.Verify = true
		routes = &r
	}
	return client, routes
}

// keysOnly says whether the base step switches sshd's password logins off:
// provisioning logs in with a key alone, and nobody asked to keep them.
func (s SSH) keysOnly() bool {
	return s.PrivateKey != nil && s.Password == nil && !s.KeepPasswordLogin
}

// known is the value of in when the program already knows it (a plain
// pulumi.String), and whether it does.
func known(in pulumi.StringInput) (string, bool) {
	s, ok := in.(pulumi.String)
	return string(s), ok
}

// dnsNameRE is a host name as DNS has it.
var dnsNameRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)

// checkAddress refuses a known address that is neither an IP address nor a
// DNS name: SSH, routes and the endpoints would all use it.
func checkAddress(p *problems, field string, in pulumi.StringInput) {
	s, ok := known(in)
	if !ok || s == "" {
		return
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return
	}
	if len(s) > 253 || !dnsNameRE.MatchString(s) {
		p.add(field, "%q is neither an IP address nor a host name", s)
	}
}

// checkHostKey refuses a known host key that is not a public key in
// authorized_keys form.
func checkHostKey(p *problems, field string, in pulumi.StringInput) {
	if s, ok := known(in); ok && s != "" {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s)); err != nil {
			p.add(field, "is not a public key in authorized_keys form (\"ssh-ed25519 AAAA…\"): %v", err)
		}
	}
}

// checkPrivateKey refuses a known private key that does not parse; the
// parser's error never contains the key.
func checkPrivateKey(p *problems, field string, in pulumi.StringInput) {
	if s, ok := known(in); ok && s != "" {
		if _, err := ssh.ParseRawPrivateKey([]byte(s)); err != nil {
			p.add(field, "is not an unencrypted PEM private key: %v", err)
		}
	}
}

// validateRouteNames checks, for the private addresses known before
// deployment (plain strings), that the TLS certificate names them when
// routes use TLS. Addresses known only later are checked when the configs
// are rendered.
func (a ServersArgs) validateRouteNames(p *problems) {
	if len(a.Hosts) < 2 {
		return
	}
	addrs := make([]string, len(a.Hosts))
	for i, h := range a.Hosts {
		if s, ok := h.PrivateAddress.(pulumi.String); ok {
			addrs[i] = string(s)
		}
	}
	for _, msg := range checkRouteNames(a.TLS, func(i int) string { return fmt.Sprintf("Hosts[%d].PrivateAddress", i) }, addrs) {
		p.add("TLS.Cert", "%s", msg)
	}
}

// clientScheme is the scheme of the client endpoints: tls:// makes clients
// insist on TLS.
func clientScheme(o ServerOptions) string {
	if o.TLS != nil {
		return "tls"
	}
	return "nats"
}

// monitorScheme is the scheme of the monitoring URLs.
func monitorScheme(o ServerOptions) string {
	if o.TLS != nil && o.TLS.Monitoring {
		return "https"
	}
	return "http"
}
