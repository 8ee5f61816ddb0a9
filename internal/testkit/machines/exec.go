package machines

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Exec runs cmd with sh inside the running machine without logging in:
// it enters the machine's namespaces from the host (nsenter: mount, UTS,
// IPC, network and PID, with the machine's root and working directory),
// so that the machine's sshd sees no connection and logs nothing. Tests
// about what reached a machine over SSH read its journal and files this
// way (Run and WriteFile log in over SSH, which sshd records). It returns
// stdout; a non-zero exit is an error that carries stderr.
func (m *Machine) Exec(cmd string) (string, error) {
	pid := m.initPID()
	if pid == 0 {
		return "", fmt.Errorf("%s: not running", m.Name)
	}
	c := exec.Command("nsenter", "--target", strconv.Itoa(pid), "--mount", "--uts", "--ipc", "--net", "--pid",
		"--root", "--wd", "--", "/bin/sh", "-c", cmd)
	c.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
		"SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "HOME=/root"}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: nsenter %q: %w: %s", m.Name, cmd, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
