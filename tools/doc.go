// Package tools pins the `nats` CLI (natscli) as a Go tool, in a module of
// its own so that a program importing natsnest does not inherit it. From the
// repository's root:
//
//	go tool -modfile=tools/go.mod nats …
//
// Its test runs exactly that command.
package tools
