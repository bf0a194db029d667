package influxd

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes influxd get SIGKILL if the test binary dies first.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
