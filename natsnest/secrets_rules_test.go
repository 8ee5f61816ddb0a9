package natsnest_test

import (
	"strings"
	"testing"

	"github.com/natsnest/pulumi-natsnest/natsnest"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Each rule refuses what it names, and passwords people generate pass.
func TestGuessable(t *testing.T) {
	for pw, want := range map[string]string{
		"aaaaaaaaaaaaaaaaaaaaaa": "one character repeated",
		"Password1234!":          `common password ("password")`,
		"p@ssw0rd2024!":          `common password ("password")`,
		"!!Welcome2024!!":        `common password ("welcome")`,
		"qwertyqwerty12":         `common password ("qwerty")`,
		"123456789012":           "run along the keyboard or the alphabet",
		"abcdefghijklmnopqrstuv": "run along the keyboard or the alphabet",
		"qwertyuiopasdf":         "run along the keyboard or the alphabet",
		"0987654321098":          "run along the keyboard or the alphabet",
		"ababababab12":           "too little variety: 4 different characters in 12, want at least 6",
		"xyzzy-xyzzy-xyzzy-xyzz": "too little variety: 4 different characters in 22, want at least 8",
		// Generated, or at least not guessable by these rules.
		"kR8#vQ2!mZ5pL0xW":             "",
		"app-password-secret":          "",
		"Admin-Password-0123456789":    "",
		"correct horse battery staple": "",
		"Instance-Pw-42":               "",
	} {
		got := natsnest.Guessable(pw)
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("guessable(%q) = %q, want %q", pw, got, want)
		}
	}
}

func TestStackSecretEntropy(t *testing.T) {
	for s, ok := range map[string]bool{
		"aaaaaaaaaaaaaaaa":                 false,
		"abcdabcdabcdabcd":                 false,
		"0000000011111111":                 false,
		"stack-secret-0123456789":          true,
		"Jr3v9QkP2mXw7TzL":                 true,
		"q3J0n2tY9sJ6mV1kXbQ7eR4wZ8uP5cA2": true,
	} {
		var p natsnest.Problems
		natsnest.CheckStackSecret(&p, s)
		if got := p.Err() == nil; got != ok {
			t.Errorf("stack secret %q: accepted %v, want %v (%v, %.0f bits)", s, got, ok, p.Err(), natsnest.EntropyBits(s))
		}
	}
}

// Validate names the field and the rule for every guessable secret at
// once, and never repeats one.
func TestValidateRefusesGuessableSecrets(t *testing.T) {
	a := validClusterArgs()
	a.AdminPassword = pulumi.String("Password12345678901234!")
	a.StackSecret = pulumi.String("abcdabcdabcdabcd")
	a.Accounts[0].Users[0].Password = pulumi.String("qwertyuiop12")
	a.InstancePassword = pulumi.String("P@ssw0rd2024!")
	err := a.Validate()
	if err == nil {
		t.Fatal("guessable secrets accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		`AdminPassword: is a common password ("password") with digits or symbols added: guessable`,
		"StackSecret: has too little entropy: about 32 bits, want at least 48",
		"Accounts[0].Users[0].Password: is a run along the keyboard or the alphabet: guessable",
		`InstancePassword: is a common password ("password") with digits or symbols added: guessable`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	for _, secret := range []string{"Password12345678901234!", "abcdabcdabcdabcd", "qwertyuiop12", "P@ssw0rd2024!"} {
		if strings.Contains(msg, secret) {
			t.Errorf("the error repeats the secret %q", secret)
		}
	}
}
