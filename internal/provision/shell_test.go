package provision

import (
	"os/exec"
	"strings"
	"testing"
)

var hostile = []string{
	"", "plain", "with space", "it's", "''", `"double"`, `back\slash`, "$HOME", "${PATH}", "$(id)", "`id`",
	"new\nline", "tab\there", "*", "?", "[a]", "~root", "-n", "--", "a;b", "a|b", "a&b", "a>b", "<", "!", "#comment",
	"ünïcode", "\x01ctl", "trailing\\", "'; rm -rf / #",
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":      "''",
		"abc":   "'abc'",
		"it's":  `'it'\''s'`,
		"$x":    "'$x'",
		"a\nb":  "'a\nb'",
		"''":    `''\'''\'''`,
		"/data": "'/data'",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// Every hostile string reaches a program as exactly one argument, unchanged,
// through bash and through a POSIX sh.
func TestShellQuoteRoundTrips(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "sh"} {
		if _, err := exec.LookPath(shell); err != nil {
			continue
		}
		for _, s := range hostile {
			out, err := exec.Command(shell, "-c", "printf '%s\\0' "+ShellQuote(s)+"; printf '%s' \"$#\"", "x").Output()
			if err != nil {
				t.Fatalf("%s: %q: %v", shell, s, err)
			}
			if string(out) != s+"\x00"+"0" {
				t.Errorf("%s: %q came back as %q", shell, s, out)
			}
			// As an assignment, the form the scripts use.
			out, err = exec.Command(shell, "-c", "V="+ShellQuote(s)+"\nprintf '%s' \"$V\"").Output()
			if err != nil || string(out) != s {
				t.Errorf("%s: V=%s gives %q, %v", shell, ShellQuote(s), out, err)
			}
		}
	}
}

func FuzzShellQuote(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			t.Skip("arguments cannot hold NUL")
		}
		out, err := exec.Command("bash", "-c", "printf '%s' "+ShellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Fatalf("%q came back as %q, %v", s, out, err)
		}
	})
}

// RemoteCommand runs the script with bash even from another login shell,
// and passes stdin through.
func TestRemoteCommand(t *testing.T) {
	script := "#!/bin/bash\nset -euo pipefail\nread -r line\nprintf '%s|%s' \"$line\" \"${BASH_VERSION:+bash}\"\n# it's a comment with a quote\n"
	cmd := exec.Command("sh", "-c", RemoteCommand(script, false))
	cmd.Stdin = strings.NewReader("from stdin\n")
	out, err := cmd.Output()
	if err != nil || string(out) != "from stdin|bash" {
		t.Fatalf("got %q, %v", out, err)
	}
	if got := RemoteCommand("true", true); got != "sudo -n bash -c 'true'" {
		t.Errorf("with sudo: %s", got)
	}
}

// Closing a NATS connection leaves the script's stderr alone: an "exec" with
// only redirections applies them to the whole script, and once silenced
// every later error (a failed peer removal, say) would vanish while the
// step exits 0.
func TestNatsCloseKeepsStderr(t *testing.T) {
	script := "set -euo pipefail\nSTEP=test\n" + fragment("lib") + "\n" + fragment("natslib") +
		"\nexec 3>/dev/null\nnats_close\necho 'still heard' >&2\ndie 'and this too'\n"
	cmd := exec.Command("bash", "-c", script)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil || !strings.Contains(stderr.String(), "still heard") || !strings.Contains(stderr.String(), "error: and this too") {
		t.Errorf("after nats_close: exit %v, stderr %q", err, stderr.String())
	}
}
