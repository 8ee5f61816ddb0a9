package provision

import "strings"

// ShellQuote returns s as one word for a POSIX shell: in single quotes,
// inside which nothing is special to the shell (no $, `, \, globbing or
// word splitting), with each single quote of s written as
//
//	'\''
//
// (close, escaped quote, reopen). So any string, newlines included, reaches
// the script exactly as given. Every value is quoted, even plain words, so
// the scripts read uniformly and no value is ever mistaken for syntax.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// RemoteCommand is the command line that runs script over SSH. The login
// shell of the SSH user may not be bash, so the script is handed to bash
// explicitly. With sudo (an SSH user other than root), sudo -n fails at
// once instead of waiting for a password prompt that nobody answers. The
// command line carries no secrets: those travel on stdin.
func RemoteCommand(script string, sudo bool) string {
	cmd := "bash -c " + ShellQuote(script)
	if sudo {
		cmd = "sudo -n " + cmd
	}
	return cmd
}
