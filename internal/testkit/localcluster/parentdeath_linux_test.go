package localcluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const helperEnv = "NATSNEST_LOCALCLUSTER_HELPER_DIR"

// TestMain doubles as the helper process of TestNodesDieWithTheirParent:
// with helperEnv set it starts a cluster, prints the nodes' pids and waits to
// be killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(helperCluster(dir))
	}
	os.Exit(m.Run())
}

func helperCluster(dir string) int {
	c, err := Start(context.Background(), Options{Nodes: 2, Dir: dir})
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	for _, n := range c.nodes {
		fmt.Println("PID", n.proc.cmd.Process.Pid)
	}
	fmt.Println("READY")
	time.Sleep(time.Hour)
	return 0
}

// A test binary that dies without running its cleanups (a panic in another
// goroutine, a timeout, kill -9) must not leave servers behind: the kernel
// kills every node when the process that started it dies.
func TestNodesDieWithTheirParent(t *testing.T) {
	if _, err := serverBinary(t.Context(), t.Logf); err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+t.TempDir())
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { helper.Process.Kill(); helper.Wait() })

	var pids []int
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		line := lines.Text()
		if line == "READY" {
			break
		}
		if pid, ok := strings.CutPrefix(line, "PID "); ok {
			n, err := strconv.Atoi(pid)
			if err != nil {
				t.Fatal(err)
			}
			pids = append(pids, n)
		} else {
			t.Fatalf("helper: %s", line)
		}
	}
	if len(pids) != 2 {
		t.Fatalf("helper started %d nodes, want 2", len(pids))
	}
	for _, pid := range pids {
		if processGone(pid) {
			t.Fatalf("node pid %d is not running before its parent dies", pid)
		}
	}

	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	helper.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, pid := range pids {
		for !processGone(pid) {
			select {
			case <-ctx.Done():
				t.Fatalf("node pid %d outlived its parent", pid)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}
