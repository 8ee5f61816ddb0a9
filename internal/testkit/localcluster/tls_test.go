package localcluster

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/natsnest/pulumi-natsnest/internal/natsconf"
	"github.com/natsnest/pulumi-natsnest/internal/testkit/testpki"
)

// testCA writes a CA and a certificate for 127.0.0.1, usable by servers and
// by routes (which are clients too), and returns their files and the pool.
func testCA(t *testing.T) (ca, cert, key string, pool *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	c := testpki.New(t)
	certPEM, keyPEM := c.Issue(t, testpki.Spec{IPs: []string{host}})
	return testpki.WriteFile(t, dir, "ca.pem", c.PEM), testpki.WriteFile(t, dir, "cert.pem", certPEM), testpki.WriteFile(t, dir, "key.pem", keyPEM), c.Pool
}

// A cluster of real nats-server processes with TLS required from clients
// and on routes, from natsnest's renderer: a client without TLS is refused
// even with the right password, a TLS client gets in, the route listeners
// demand TLS, and an R3 stream works — so the routes formed over TLS. The
// application user still cannot see the system account's traffic.
func TestTLSClusterRefusesPlainClients(t *testing.T) {
	ca, cert, key, pool := testCA(t)
	c := StartT(t, Options{Nodes: 3, RenderConfig: func(s natsconf.Server) (natsconf.Files, error) {
		s.TLS = &natsconf.TLS{CertFile: cert, KeyFile: key, CAFile: ca}
		s.Cluster.TLS = &natsconf.TLS{CertFile: cert, KeyFile: key, CAFile: ca, Verify: true}
		return natsconf.RenderServerConfig(s)
	}})
	secure := nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	app := c.App()

	// A client that speaks plain NATS with the right password is refused
	// at the protocol level: the server announces TLS, takes the plain
	// CONNECT for a failed TLS handshake and closes the connection; no
	// PONG ever comes back.
	for _, n := range c.Nodes() {
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(n.ClientURL, "nats://"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(conn)
		info, err := r.ReadString('\n')
		if err != nil || !strings.Contains(info, `"tls_required":true`) {
			t.Errorf("%s: INFO %q (%v) does not require TLS", n.Name, info, err)
		}
		fmt.Fprintf(conn, "CONNECT {\"user\":%q,\"pass\":%q,\"verbose\":false}\r\nPING\r\n", app.User, app.Password)
		var answer strings.Builder
		var readErr error
		for readErr == nil {
			var line string
			line, readErr = r.ReadString('\n')
			answer.WriteString(line)
			if strings.HasPrefix(line, "PONG") {
				break
			}
		}
		conn.Close()
		if got := answer.String(); strings.Contains(got, "PONG") || readErr == nil || isTimeout(readErr) {
			t.Errorf("%s: a plain client with the right password got %q (%v), want the connection closed", n.Name, got, readErr)
		}
	}
	// TLS alone is not enough: credentials are still required.
	if nc, err := nats.Connect(c.ClientURL(), secure, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a TLS client without credentials connected")
	} else if !isAuthError(err) {
		t.Errorf("TLS without credentials: want an authorization violation, got %v", err)
	}

	// Every route listener speaks TLS only: a plain connection gets no
	// protocol at all, a TLS handshake with the CA's certificate succeeds.
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		addr := net.JoinHostPort(host, strconv.Itoa(n.routePort))
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "CONNECT {\"user\":\"route\"}\r\nPING\r\n")
		got, _ := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if strings.Contains(got, "PONG") || strings.HasPrefix(got, "INFO") {
			t.Errorf("%s: the route port answered plain text with %q", n.Name, got)
		}
		tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
			&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Errorf("%s: TLS handshake with the route port: %v", n.Name, err)
			continue
		}
		tc.Close()
	}

	nc, err := nats.Connect(c.ClientURL(), secure, nats.UserInfo(app.User, app.Password))
	if err != nil {
		t.Fatalf("TLS client with credentials refused: %v", err)
	}
	defer nc.Close()
	ctx := testContext(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TLS", Subjects: []string{"tls.>"}, Replicas: 3}); err != nil {
		t.Fatalf("R3 stream over TLS routes: %v", err)
	}
	// Retried while the new stream's leader is elected, as a client does.
	if ack := publish(ctx, t, js, "tls.x", "over TLS"); ack.Sequence != 1 {
		t.Fatalf("publish: %+v", ack)
	}

	// The application user subscribes to the system account's subjects and
	// hears nothing, while the admin hears a client connect.
	appSub, err := nc.SubscribeSync("$SYS.>")
	if err != nil {
		t.Fatal(err)
	}
	admin := c.Admin()
	anc, err := nats.Connect(c.ClientURL(), secure, nats.UserInfo(admin.User, admin.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer anc.Close()
	adminSub, _ := anc.SubscribeSync("$SYS.ACCOUNT.*.CONNECT")
	nc.Flush()
	anc.Flush()
	other, err := nats.Connect(c.ClientURL(), secure, nats.UserInfo(app.User, app.Password))
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := adminSub.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("the admin heard no connect event: %v", err)
	}
	if m, err := appSub.NextMsg(time.Second); err == nil {
		t.Fatalf("the application user received system traffic on %s", m.Subject)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
