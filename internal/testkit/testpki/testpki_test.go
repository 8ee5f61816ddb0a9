package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

func TestIssuedCertificateVerifiesAgainstCA(t *testing.T) {
	ca := New(t)
	certPEM, keyPEM := ca.Issue(t, Spec{IPs: []string{"127.0.0.1"}})
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: "127.0.0.1", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued certificate does not verify for 127.0.0.1 as a client: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: New(t).Pool}); err == nil {
		t.Fatal("verifies against a different CA")
	}
	if b, _ := pem.Decode([]byte(ca.PEM)); b == nil || b.Type != "CERTIFICATE" {
		t.Fatal("CA PEM is not a certificate")
	}
}
