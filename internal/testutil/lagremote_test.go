package testutil_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/fspath"
	"github.com/rclone/rclone/fs/object"

	_ "github.com/steadyrest/steadyrest/internal/lagfs" // the "lag" backend
	"github.com/steadyrest/steadyrest/internal/testutil"
)

// rclone's own parser reads back the remote whole, however odd the folder.
func TestLagSpecQuotesTheRemote(t *testing.T) {
	for _, remote := range []string{"/tmp/plain", "/tmp/a,b:c", "/tmp/it's", ":memory:bucket"} {
		spec := testutil.LagSpec(remote, ",create_lag=3s", "", `error_ops="list,put"`)
		p, err := fspath.Parse(spec)
		if err != nil {
			t.Fatalf("Parse(%s): %v", spec, err)
		}
		if p.Name != ":lag" || p.Config["remote"] != remote {
			t.Errorf("Parse(%s): backend %q remote %q, want :lag %q", spec, p.Name, p.Config["remote"], remote)
		}
		if p.Config["create_lag"] != "3s" || p.Config["error_ops"] != "list,put" {
			t.Errorf("Parse(%s): options %v", spec, p.Config)
		}
	}
}

// The remote lags as asked, while the folder shows what really landed.
func TestLagRemoteOverAFreshFolder(t *testing.T) {
	f, dir := testutil.LagRemote(t, "create_lag=1h")
	ctx := context.Background()
	data := "lagging"
	src := object.NewStaticObjectInfo("dir/obj", time.Now(), int64(len(data)), true, nil, nil)
	if _, err := f.Put(ctx, strings.NewReader(data), src); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if _, err := f.NewObject(ctx, "dir/obj"); !errors.Is(err, fs.ErrorObjectNotFound) {
		t.Fatalf("NewObject during the create lag: %v, want not found", err)
	}
	plain, err := fs.NewFs(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	o, err := plain.NewObject(ctx, "dir/obj")
	if err != nil {
		t.Fatalf("the object is not in the folder: %v", err)
	}
	if got := testutil.ReadObject(ctx, t, o, &fs.RangeOption{Start: 1, End: 3}); got != "agg" {
		t.Fatalf("ReadObject of bytes 1-3: %q, want %q", got, "agg")
	}
	files := testutil.FilesBelow(t, dir)
	if len(files) != 1 || !strings.HasSuffix(files[0], "/dir/obj") {
		t.Fatalf("files below %s: %v, want dir/obj", dir, files)
	}
	if _, other := testutil.LagRemote(t); other == dir || len(testutil.FilesBelow(t, other)) != 0 {
		t.Fatalf("a second LagRemote shares the folder %s", dir)
	}
}
