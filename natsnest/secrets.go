package natsnest

import (
	"context"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

// Secrets — passwords, the stack secret, SSH and TLS private keys — are
// pulumi.StringInput, so they can come from `cfg.RequireSecret`, another
// resource (a generated password) or another stack. natsnest treats every
// one as a secret whatever its input says.
//
// They are checked before anything is registered. A plain value
// (pulumi.String) is checked as it is. An output — a config secret, or
// another resource's — is awaited first: a config secret resolves at once;
// another resource's output once that resource exists, so NewCluster and
// NewServers (and Validate) wait for it. In a preview, an output of a
// resource still to be created stays unknown: it is checked at `up`, once
// known, before anything of this cluster is registered, and until then
// everything derived from it (the config step's input, the instances'
// password, …) is unknown in the preview.

// secretRef is one secret input of the arguments and its field's name.
type secretRef struct {
	field string
	in    *pulumi.StringInput
}

// secretRefs points at every secret input of o, in a fixed order. o must be
// a copy of its own (withDefaults copies accounts, users and TLS).
func (o *ServerOptions) secretRefs() []secretRef {
	refs := []secretRef{{"AdminPassword", &o.AdminPassword}, {"StackSecret", &o.StackSecret}}
	for i := range o.Accounts {
		for j := range o.Accounts[i].Users {
			refs = append(refs, secretRef{fmt.Sprintf("Accounts[%d].Users[%d].Password", i, j), &o.Accounts[i].Users[j].Password})
		}
	}
	if o.TLS != nil {
		refs = append(refs, secretRef{"TLS.Key", &o.TLS.Key})
	}
	return refs
}

// secretRefs points at every secret input of s; s.Bastion must be a copy
// of its own.
func (s *SSH) secretRefs(field string) []secretRef {
	refs := []secretRef{{field + ".PrivateKey", &s.PrivateKey}, {field + ".Password", &s.Password}}
	if b := s.Bastion; b != nil {
		refs = append(refs, secretRef{field + ".Bastion.PrivateKey", &b.PrivateKey}, secretRef{field + ".Bastion.Password", &b.Password})
	}
	return refs
}

// awaitSecrets replaces every secret given as an output by its value, as a
// pulumi.String, and returns the fields whose value is not known yet (a
// preview, before the resource that gives it exists). A rejected output
// fails, naming its field.
func awaitSecrets(ctx context.Context, refs []secretRef) (unknown []string, err error) {
	for _, r := range refs {
		in := *r.in
		if in == nil {
			continue
		}
		if _, ok := in.(pulumi.String); ok {
			continue
		}
		res, err := internals.UnsafeAwaitOutput(ctx, in.ToStringOutput())
		if err != nil {
			return nil, fmt.Errorf("natsnest: %s: %w", r.field, err)
		}
		if !res.Known {
			unknown = append(unknown, r.field)
			continue
		}
		v, _ := res.Value.(string)
		*r.in = pulumi.String(v)
	}
	return unknown, nil
}

// previewPlaceholder stands for a secret not known yet in a preview, where
// it renders what is then replaced by an unknown value (pending.unknown):
// it never reaches a resource.
const previewPlaceholder = "natsnest-preview-secret-000000"

// plain is a secret's value after awaitSecrets: "" when absent, a
// placeholder while unknown in a preview.
func plain(in pulumi.StringInput) string {
	if in == nil {
		return ""
	}
	if s, ok := in.(pulumi.String); ok {
		return string(s)
	}
	return previewPlaceholder
}

// isSet says whether a secret was given at all: a non-empty plain value,
// or an output (whose value may come later).
func isSet(in pulumi.StringInput) bool {
	return !isEmpty(in)
}

// pending says which secrets are not known yet (in a preview).
type pending []string

// unknown returns o, or, while a secret is not known, an unknown value in
// its place: only in a preview, as in an up every secret is known before
// anything is registered. The unknown value holds nothing, so it is not
// marked secret (Pulumi's mock monitor rejects an unknown secret; the
// engine takes either).
func (p pending) unknown(o pulumi.StringOutput) pulumi.StringOutput {
	if len(p) == 0 {
		return o
	}
	return pulumi.UnsafeUnknownOutput(nil).ApplyT(func(any) string { return "" }).(pulumi.StringOutput)
}

// commonPasswords are the bases of the most common passwords; a password
// that is one of them, repeated or not, once digits and symbols are taken
// out, is guessed first. Lower case, letters only.
var commonPasswords = []string{
	"password", "passw", "passwd", "pass", "qwerty", "qwertz", "azerty", "letmein", "welcome",
	"admin", "administrator", "root", "login", "master", "secret", "changeme", "default",
	"iloveyou", "dragon", "monkey", "football", "baseball", "sunshine", "princess",
	"shadow", "superman", "trustno", "whatever", "starwars", "hello", "freedom",
	"abc", "test", "guest", "user", "nats", "natsnest", "pulumi", "alibaba", "aliyun",
}

// leet are the digits and symbols read as letters ("p@ssw0rd").
var leet = map[rune]rune{'@': 'a', '4': 'a', '0': 'o', '1': 'i', '!': 'i', '3': 'e', '5': 's', '$': 's', '7': 't'}

// sequences are the runs people type: alphabet, digits and keyboard rows.
var sequences = []string{
	"abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiopasdfghjklzxcvbnm",
	"qwertzuiopasdfghjklyxcvbnm", "azertyuiopqsdfghjklmwxcvbn", "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
}

// guessable says why a password is among the first an attacker tries, or
// "" when it is not: one character repeated, a common password with
// digits or symbols around it, a run typed along the keyboard or the
// alphabet, or too few different characters for its length.
func guessable(pw string) string {
	runes := []rune(strings.ToLower(pw))
	if len(runes) == 0 {
		return ""
	}
	distinct := map[rune]bool{}
	for _, r := range runes {
		distinct[r] = true
	}
	if len(distinct) == 1 {
		return "is one character repeated"
	}
	// The letters alone ("Password1234!" → "password"), and the core
	// between the leading and trailing digits and symbols read as letters
	// ("p@ssw0rd2024!" → "password").
	letters := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) {
			return r
		}
		return -1
	}, string(runes))
	core := strings.Map(func(r rune) rune {
		if l, ok := leet[r]; ok {
			return l
		}
		if unicode.IsLetter(r) {
			return r
		}
		return -1
	}, strings.TrimFunc(string(runes), func(r rune) bool { return !unicode.IsLetter(r) }))
	for _, c := range commonPasswords {
		for _, l := range []string{letters, core} {
			if l != "" && strings.Count(l, c)*len(c) == len(l) {
				return fmt.Sprintf("is a common password (%q) with digits or symbols added", c)
			}
		}
	}
	// A run, alone or as the letters of the password ("qwertyuiop12").
	candidates := []string{string(runes)}
	if 2*utf8.RuneCountInString(letters) >= len(runes) {
		candidates = append(candidates, letters)
	}
	for _, c := range candidates {
		for _, s := range sequences {
			run := strings.Repeat(s, 2+len(c)/len(s))
			if strings.Contains(run, c) || strings.Contains(reverse(run), c) {
				return "is a run along the keyboard or the alphabet"
			}
		}
	}
	if want := max(6, (len(runes)+2)/3); len(distinct) < want {
		return fmt.Sprintf("has too little variety: %d different characters in %d, want at least %d", len(distinct), len(runes), want)
	}
	return ""
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// MinStackSecretBits is the least entropy a stack secret must show, in
// bits: its length times the Shannon entropy of its characters. 16 random
// characters show about 55 to 64, the 32 of `openssl rand -base64 24`
// about 145; "abcdabcdabcdabcd" shows 32.
const MinStackSecretBits = 48

// entropyBits is len(s) times the Shannon entropy of its characters'
// frequencies: an upper bound on what the string can hold, low for
// repeated or patterned secrets.
func entropyBits(s string) float64 {
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	h := 0.0
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h * float64(n)
}

// checkPassword applies the rules every password shares: no control
// characters, no NKEY seed, not guessable. The message never repeats it.
func checkPassword(p *problems, field, pw, nkeyHint string) {
	if hasControl(pw) {
		p.add(field, "must not contain control characters (a trailing newline, say)")
	}
	if looksLikeSeed(pw) {
		p.add(field, "looks like an NKEY seed or .creds (a private key), not a password%s", nkeyHint)
	} else if why := guessable(pw); why != "" {
		p.add(field, "%s: guessable; generate one (openssl rand -base64 24)", why)
	}
}

// checkStackSecret applies the stack secret's rules.
func checkStackSecret(p *problems, s string) {
	if hasControl(s) {
		p.add("StackSecret", "must not contain control characters (a trailing newline, say)")
	}
	if utf8.RuneCountInString(s) < 16 {
		p.add("StackSecret", "must be at least 16 characters (it derives bcrypt salts and the route password)")
	} else if bits := entropyBits(s); bits < MinStackSecretBits {
		p.add("StackSecret", "has too little entropy: about %.0f bits, want at least %d (it derives the route password); generate one (openssl rand -base64 24)", bits, MinStackSecretBits)
	}
}
