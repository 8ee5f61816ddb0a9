package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestQuickstart runs the whole walkthrough against a real local cluster, as
// `make demo` does, and checks that every step reported OK with its facts.
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node nats-server cluster; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var out bytes.Buffer
	err := run(ctx, &out)
	report := out.String()
	t.Log("\n" + report)
	if err != nil {
		t.Fatalf("run: %v", err)
	}

	const steps = 8
	// The report of step i runs from its "[i/8]" header to the next header.
	headers := regexp.MustCompile(`(?m)^\[(\d+)/(\d+)\] `).FindAllStringSubmatchIndex(report, -1)
	if len(headers) != steps {
		t.Fatalf("report has %d step headers, want %d", len(headers), steps)
	}
	facts := []string{
		1: "client URLs: nats://127.0.0.1:",
		2: "Maximum Message Size: unlimited (-1)",
		3: "acknowledged: 1000 of 1000",
		4: "Durable Name:        foo_consumer",
		5: "delivered to both instances: 0;",
		6: "new stream leader: ",
		7: `first message: stream seq 1, consumer seq 1, delivered 1 time(s): "publication #1 @ `,
		8: "replica  1100      1100      yes",
	}
	for i, h := range headers {
		end := len(report)
		if i+1 < len(headers) {
			end = headers[i+1][0]
		}
		block := report[h[0]:end]
		if got := report[h[2]:h[3]]; got != fmt.Sprint(i+1) {
			t.Errorf("header %d is numbered %s", i+1, got)
		}
		if !regexp.MustCompile(`(?m)^      OK \(`).MatchString(block) {
			t.Errorf("step %d did not report OK:\n%s", i+1, block)
		}
		if !strings.Contains(block, facts[i+1]) {
			t.Errorf("step %d does not report %q:\n%s", i+1, facts[i+1], block)
		}
	}
	if !regexp.MustCompile(`instance A: [1-9]\d*, instance B: [1-9]\d* `).MatchString(report) {
		t.Errorf("report does not show both instances consuming")
	}
	for _, want := range []string{
		"local cluster stopped and its files removed",
		fmt.Sprintf("quickstart: all %d steps passed", steps),
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// A cancelled context (Ctrl-C) fails the running step instead of hanging,
// and run still returns, having stopped whatever it started.
func TestQuickstartInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node nats-server cluster; skipped with -short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, &out) }()

	// Interrupt once the cluster is up and the stream exists.
	deadline := time.After(3 * time.Minute)
	for !strings.Contains(out.String(), "[3/8]") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run returned before step 3: %v\n%s", err, out.String())
		case <-deadline:
			cancel()
			t.Fatalf("step 3 not reached:\n%s", out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		report := out.String()
		t.Log("\n" + report)
		if err == nil {
			t.Fatal("run succeeded after being interrupted")
		}
		for _, want := range []string{"FAIL", "interrupted", "local cluster stopped"} {
			if !strings.Contains(report, want) {
				t.Errorf("report lacks %q", want)
			}
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not return within a minute of being interrupted")
	}
}

// syncBuffer is a bytes.Buffer that a test can read while run writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
