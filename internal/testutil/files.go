package testutil

import (
	"io/fs"
	"path/filepath"
	"testing"
)

// FilesBelow lists the paths of every file below dir, in lexical order,
// partial uploads and temporary files included: what a remote really
// stored, whatever its listing shows. Folders are not listed; a walk error
// fails the test.
func FilesBelow(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing the files below %s: %v", dir, err)
	}
	return out
}
