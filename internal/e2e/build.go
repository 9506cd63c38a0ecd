package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RepoRoot returns the directory of the main module (the one holding
// go.mod with module github.com/steadyrest/steadyrest), found by walking up
// from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("getwd: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/steadyrest/steadyrest\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("main module root not found above working directory")
		}
		dir = parent
	}
}

// GoBinary returns the go command to use: $GOROOT/bin/go of the toolchain
// running the tests if present, else go from PATH.
func GoBinary() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if p := filepath.Join(strings.TrimSpace(string(out)), "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

// BuildBinary builds package pkg (e.g. ./cmd/steadyrest) of the main module
// into dir and returns the binary's path. Extra go build flags (e.g.
// -race) go in flags.
func BuildBinary(dir, pkg string, flags ...string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	args := append([]string{"build"}, flags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.Command(GoBinary(), args...)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return out, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Binary is a package of the main module that a test binary's TestMain
// builds once for its tests.
type Binary struct {
	Pkg string  // e.g. ./cmd/steadyrest
	Dst *string // receives the built binary's path
	// Race builds it with the race detector when E2E_RACE asks for that
	// (set, and not 0): the servers under test, not test fixtures.
	Race bool
}

// RaceRequested reports whether E2E_RACE asks for race-built servers.
func RaceRequested() bool {
	r := os.Getenv("E2E_RACE")
	return r != "" && r != "0"
}

// RunWithBinaries is a TestMain body: it builds bins into a temporary
// folder, runs the tests and removes the folder, returning the exit code.
// name prefixes its error messages.
func RunWithBinaries(m interface{ Run() int }, name string, bins ...Binary) int {
	dir, err := os.MkdirTemp("", "steadyrest-"+name+"-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, b := range bins {
		var flags []string
		if b.Race && RaceRequested() {
			flags = append(flags, "-race")
		}
		p, err := BuildBinary(dir, b.Pkg, flags...)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: building %s: %v\n", name, b.Pkg, err)
			return 1
		}
		*b.Dst = p
	}
	return m.Run()
}
