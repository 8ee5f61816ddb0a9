package natsnest

// Temporary: keeps the pinned SDKs in go.mod while the components that use
// them are written in parallel. Removed once they import these themselves.
import (
	_ "github.com/nats-io/nats.go/jetstream"
)
