package natsconf

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
)

// ErrInvalidServer wraps every error RenderServerConfig reports.
var ErrInvalidServer = errors.New("invalid server configuration")

func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidServer, field, fmt.Sprintf(format, args...))
}

var (
	// nats-server refuses server names with spaces; natsnest also keeps out
	// control characters and quotes so names are safe in scripts and URLs.
	serverNameRE = regexp.MustCompile(`^[!#-~]{1,128}$`)
	// nats-server trims and lower-cases tags; printable ASCII without spaces
	// reads back as given (up to case).
	tagRE = regexp.MustCompile(`^[!-~]{1,128}$`)
	// Account names are map keys in nats.conf, which cannot be escaped.
	accountNameRE = regexp.MustCompile(`^\$?[A-Za-z0-9_-]{1,64}$`)
)

// check reports every problem of s at once.
func (s *Server) check() error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, fieldErr(field, format, args...)) }
	if !serverNameRE.MatchString(s.Name) {
		add("Name", "%q must be 1-128 printable characters without spaces", s.Name)
	}
	if s.Host == "" {
		add("Host", "must not be empty")
	}
	tags := map[string]bool{}
	for i, tag := range s.Tags {
		if !tagRE.MatchString(tag) {
			add(fmt.Sprintf("Tags[%d]", i), "%q must be 1-128 printable ASCII characters without spaces", tag)
		} else if tags[strings.ToLower(tag)] {
			add(fmt.Sprintf("Tags[%d]", i), "%q is given twice (tags are case-insensitive)", tag)
		}
		tags[strings.ToLower(tag)] = true
	}
	checkPort := func(field string, p int, zeroOK bool) {
		if (p == 0 && !zeroOK) || p < 0 || p > 65535 {
			add(field, "port %d is outside 1..65535", p)
		}
	}
	checkPort("ClientPort", s.ClientPort, false)
	checkPort("MonitorPort", s.MonitorPort, true)
	if s.MonitorPort != 0 && s.MonitorPort == s.ClientPort {
		add("MonitorPort", "port %d is already the client port", s.MonitorPort)
	}
	if s.LameDuckDuration < 30*time.Second {
		add("LameDuckDuration", "%s is below nats-server's minimum of 30s", s.LameDuckDuration)
	}
	if s.LameDuckGracePeriod < 0 || s.LameDuckGracePeriod >= s.LameDuckDuration {
		add("LameDuckGracePeriod", "%s must be at least 0 and shorter than LameDuckDuration", s.LameDuckGracePeriod)
	}
	if s.System.Name != "" && !accountNameRE.MatchString(s.System.Name) {
		add("System.Name", "%q must match %s", s.System.Name, accountNameRE)
	}
	if s.System.Name == "" || s.System.User == "" || s.System.Password == "" {
		add("System", "account name, user and password are required")
	}
	checkTLS := func(field string, t *TLS, needCA bool) {
		if t == nil {
			return
		}
		if t.CertFile == "" || t.KeyFile == "" {
			add(field, "cert and key files are required")
		}
		if (t.Verify || needCA) && t.CAFile == "" {
			add(field+".CAFile", "required to verify peers' certificates")
		}
	}
	checkTLS("TLS", s.TLS, false)
	if s.MonitorTLS && s.TLS == nil {
		add("MonitorTLS", "requires TLS: monitoring over HTTPS uses the client certificate")
	}
	if s.Cluster != nil {
		checkTLS("Cluster.TLS", s.Cluster.TLS, true)
	}
	if s.HashSeed == "" {
		add("HashSeed", "must not be empty: it derives the bcrypt salts")
	}
	accounts := map[string]bool{s.System.Name: true}
	users := map[string]bool{s.System.User: true}
	for i, a := range s.Accounts {
		f := fmt.Sprintf("Accounts[%d]", i)
		if !accountNameRE.MatchString(a.Name) {
			add(f+".Name", "%q must match %s", a.Name, accountNameRE)
		} else if accounts[a.Name] {
			add(f+".Name", "account %q is defined twice", a.Name)
		}
		accounts[a.Name] = true
		for j, u := range a.Users {
			uf := fmt.Sprintf("%s.Users[%d]", f, j)
			if u.NKey != "" {
				if u.Name != "" || u.Password != "" {
					add(uf, "an NKEY user has neither name nor password")
				}
				if !nkeys.IsValidPublicUserKey(u.NKey) {
					add(uf+".NKey", "%q is not a public user NKEY (U…)", u.NKey)
				} else if users[u.NKey] {
					add(uf+".NKey", "NKEY is defined twice")
				}
				users[u.NKey] = true
				continue
			}
			if u.Name == "" {
				add(uf+".Name", "must not be empty")
			} else if users[u.Name] {
				add(uf+".Name", "user %q is defined twice (user names are unique per server)", u.Name)
			}
			users[u.Name] = true
			if u.Password == "" {
				add(uf+".Password", "must not be empty")
			}
		}
	}
	if s.NoAuthUser != "" && !users[s.NoAuthUser] {
		add("NoAuthUser", "user %q is not defined in any account", s.NoAuthUser)
	}
	if s.JetStream.StoreDir == "" {
		add("JetStream.StoreDir", "must not be empty")
	}
	if s.JetStream.MaxFileStore < 0 {
		add("JetStream.MaxFileStore", "must not be negative")
	}
	if s.JetStream.MaxMemoryStore < 0 {
		add("JetStream.MaxMemoryStore", "must not be negative")
	}
	if si := s.JetStream.SyncInterval; si != "" && si != SyncAlways {
		if d, err := time.ParseDuration(si); err != nil || d <= 0 {
			add("JetStream.SyncInterval", "%q is neither %q nor a positive duration", si, SyncAlways)
		}
	}
	if c := s.Cluster; c != nil {
		if c.Name == "" {
			add("Cluster.Name", "must not be empty")
		}
		if c.Host == "" {
			add("Cluster.Host", "must not be empty")
		}
		checkPort("Cluster.Port", c.Port, false)
		if c.Port == s.ClientPort || c.Port == s.MonitorPort {
			add("Cluster.Port", "port %d clashes with the client or monitoring port", c.Port)
		}
		if len(c.Routes) < 2 {
			add("Cluster.Routes", "a cluster needs at least 2 nodes, got %d (a single node has no cluster block)", len(c.Routes))
		}
		for i, r := range c.Routes {
			if r.Host == "" {
				add(fmt.Sprintf("Cluster.Routes[%d].Host", i), "must not be empty")
			}
			checkPort(fmt.Sprintf("Cluster.Routes[%d].Port", i), r.Port, false)
		}
		if c.User == "" || c.Password == "" {
			add("Cluster", "route user and password are required")
		}
	}
	return errors.Join(errs...)
}

// RenderServerConfig renders nats.conf, and for a cluster the routes file, of
// one server. It is pure: the same Server always gives the same Files.
func RenderServerConfig(s Server) (Files, error) {
	if err := s.check(); err != nil {
		return Files{}, err
	}
	cost := s.BcryptCost
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	hash := func(account, user, password string) (string, error) {
		return HashPassword(password, s.HashSeed, account+"\x00"+user, cost)
	}

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# nats-server configuration rendered by natsnest. Do not edit: the next deployment replaces it.\n")
	w("server_name: %s\n", quote(s.Name))
	w("listen: %s\n", quote(hostPort(s.Host, s.ClientPort)))
	if s.MonitorPort != 0 {
		key := "http"
		if s.MonitorTLS {
			key = "https"
		}
		host := s.Host
		if s.MonitorHost != "" {
			host = s.MonitorHost
		}
		w("%s: %s\n", key, quote(hostPort(host, s.MonitorPort)))
	}
	if s.TLS != nil {
		w("tls %s\n", renderTLS(s.TLS, ""))
	}
	if len(s.Tags) > 0 {
		w("server_tags: %s\n", quoteList(s.Tags))
	}
	w("lame_duck_duration: %s\n", quote(s.LameDuckDuration.String()))
	w("lame_duck_grace_period: %s\n", quote(s.LameDuckGracePeriod.String()))
	w("\n")

	w("system_account: %s\n", quote(s.System.Name))
	if s.NoAuthUser != "" {
		w("# Clients without credentials are let in as this user.\n")
		w("no_auth_user: %s\n", quote(s.NoAuthUser))
	}
	w("accounts {\n")
	adminHash, err := hash(s.System.Name, s.System.User, s.System.Password)
	if err != nil {
		return Files{}, fieldErr("System.Password", "%v", err)
	}
	w("  %s: {\n    users: [\n      {user: %s, password: %s}\n    ]\n  }\n", quote(s.System.Name), quote(s.System.User), quote(adminHash))
	for i, a := range s.Accounts {
		w("  %s: {\n", quote(a.Name))
		if a.JetStream {
			w("    jetstream: enabled\n")
		}
		w("    users: [\n")
		for j, u := range a.Users {
			if u.NKey != "" {
				w("      {nkey: %s}\n", quote(u.NKey))
				continue
			}
			h, err := hash(a.Name, u.Name, u.Password)
			if err != nil {
				return Files{}, fieldErr(fmt.Sprintf("Accounts[%d].Users[%d].Password", i, j), "%v", err)
			}
			w("      {user: %s, password: %s}\n", quote(u.Name), quote(h))
		}
		w("    ]\n  }\n")
	}
	w("}\n\n")

	js := s.JetStream
	w("jetstream {\n")
	w("  store_dir: %s\n", quote(js.StoreDir))
	if js.MaxFileStore > 0 {
		w("  max_file_store: %d\n", js.MaxFileStore)
	}
	if js.MaxMemoryStore > 0 {
		w("  max_memory_store: %d\n", js.MaxMemoryStore)
	}
	if js.SyncInterval != "" {
		w("  sync_interval: %s\n", quote(js.SyncInterval))
	}
	w("}\n")

	var files Files
	if c := s.Cluster; c != nil {
		w("\ncluster {\n")
		w("  name: %s\n", quote(c.Name))
		w("  listen: %s\n", quote(hostPort(c.Host, c.Port)))
		if c.NoAdvertise {
			w("  no_advertise: true\n")
		}
		if c.TLS != nil {
			w("  tls %s\n", renderTLS(c.TLS, "  "))
		}
		w("  # The route credentials, in plaintext, and the routes live in a file readable only by nats-server.\n")
		w("  include %s\n", quote(RoutesFile))
		w("}\n")

		var r strings.Builder
		r.WriteString("# Route credentials and routes to every node, rendered by natsnest. Secret: mode 0600.\n")
		// In plaintext, not a bcrypt hash: a server dials a peer it learns
		// of from the others (an implicit route: a node being added or
		// removed) with this password, and a hash would be refused.
		fmt.Fprintf(&r, "authorization {\n  user: %s\n  password: %s\n}\n", quote(c.User), quote(c.Password))
		r.WriteString("routes: [\n")
		for _, rt := range c.Routes {
			u := url.URL{Scheme: "nats-route", User: url.UserPassword(c.User, c.Password), Host: hostPort(rt.Host, rt.Port)}
			fmt.Fprintf(&r, "  %s\n", quote(u.String()))
		}
		r.WriteString("]\n")
		files.Routes = r.String()
	}
	files.Config = b.String()
	return files, nil
}

func renderTLS(t *TLS, indent string) string {
	var b strings.Builder
	b.WriteString("{\n")
	fmt.Fprintf(&b, "%s  cert_file: %s\n", indent, quote(t.CertFile))
	fmt.Fprintf(&b, "%s  key_file: %s\n", indent, quote(t.KeyFile))
	if t.CAFile != "" {
		fmt.Fprintf(&b, "%s  ca_file: %s\n", indent, quote(t.CAFile))
	}
	if t.Verify {
		fmt.Fprintf(&b, "%s  verify: true\n", indent)
	}
	fmt.Fprintf(&b, "%s}", indent)
	return b.String()
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// quote renders s as a double-quoted nats.conf string that the server's lexer
// reads back as exactly s: backslash and quote are escaped, and every byte
// that is not printable ASCII is written as \xXX, so no input can end the
// string, start a new line or smuggle in a key.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
