package pcloudemu_test

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/hash"

	"github.com/steadyrest/steadyrest/internal/pcloudemu"
)

func hexSum(b []byte) (md, s1, s256 string) {
	m := md5.Sum(b)
	a := sha1.Sum(b)
	c := sha256.Sum256(b)
	return hex.EncodeToString(m[:]), hex.EncodeToString(a[:]), hex.EncodeToString(c[:])
}

// TestRegionChecksums: rclone's pcloud backend asks checksumfile for an
// object's hashes; the EU region answers sha1+sha256, the US region (the
// default) md5+sha1, so Hash(SHA256) is empty there. The upload answer
// follows the region too.
func TestRegionChecksums(t *testing.T) {
	content := []byte("restic pack bytes")
	md, s1, s256 := hexSum(content)
	for _, tc := range []struct {
		region           pcloudemu.Region
		wantMD5, wantSHA string
	}{
		{"", md, ""},
		{pcloudemu.RegionUS, md, ""},
		{pcloudemu.RegionEU, "", s256},
	} {
		t.Run("region="+string(tc.region), func(t *testing.T) {
			srv := newServer(t, pcloudemu.Options{Region: tc.region})
			ctx, f := newFs(t, srv, "repo")
			up := put(ctx, t, f, "data/00/p", content)
			listed, err := f.NewObject(ctx, "data/00/p") // no hashes yet: checksumfile
			if err != nil {
				t.Fatalf("NewObject: %v", err)
			}
			for _, o := range []fs.Object{up, listed} {
				got1, err := o.Hash(ctx, hash.SHA1)
				if err != nil || got1 != s1 {
					t.Errorf("sha1 = %q, %v; want %s", got1, err, s1)
				}
				gotMD, _ := o.Hash(ctx, hash.MD5)
				gotSHA, _ := o.Hash(ctx, hash.SHA256)
				if gotMD != tc.wantMD5 || gotSHA != tc.wantSHA {
					t.Errorf("md5 %q sha256 %q; want %q and %q", gotMD, gotSHA, tc.wantMD5, tc.wantSHA)
				}
			}
			if st := srv.Stats(); st.Calls["checksumfile"] != 1 || st.Calls["download"] != 0 {
				t.Errorf("calls %v: want one checksumfile (the listed object) and no download", st.Calls)
			}
			if fi, _ := srv.Stat("/repo/data/00/p"); fi.SHA256 != s256 {
				t.Errorf("Stat SHA256 = %q, want %q (the ground truth, in any region)", fi.SHA256, s256)
			}
		})
	}
	if _, err := pcloudemu.New(pcloudemu.Options{Region: "mars"}); err == nil {
		t.Error("New accepted an unknown region")
	}
}
