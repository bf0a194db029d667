//go:build !unix

package influx

import (
	"os"
	"path/filepath"
)

// lockDir opens dir/LOCK without locking: advisory locks are unix-only here.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
}

func unlockDir(f *os.File) error { return f.Close() }
