package testutil

import (
	"context"
	"io"
	"testing"

	"github.com/rclone/rclone/fs"
)

// ReadObject opens o with opts (a range, a seek) and returns what it
// reads to the end; an error opening or reading fails the test.
func ReadObject(ctx context.Context, t testing.TB, o fs.Object, opts ...fs.OpenOption) string {
	t.Helper()
	rc, err := o.Open(ctx, opts...)
	if err != nil {
		t.Fatalf("Open %s: %v", o.Remote(), err)
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", o.Remote(), err)
	}
	return string(b)
}
