//go:build !linux

package influxd

import "os/exec"

// dieWithParent does nothing: only Linux has a parent-death signal.
func dieWithParent(*exec.Cmd) {}
