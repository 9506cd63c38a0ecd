package scrube2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	rfs "github.com/rclone/rclone/fs"
	"github.com/rclone/rclone/fs/walk"

	"github.com/steadyrest/steadyrest/internal/e2e"
	"github.com/steadyrest/steadyrest/internal/pcloudemu"
	"github.com/steadyrest/steadyrest/scrub"
)

// run scrubs remote and fails the test on a run error.
func run(ctx context.Context, t *testing.T, remote string, opt scrub.Options) *scrub.Report {
	t.Helper()
	f, err := rfs.NewFs(ctx, remote)
	if err != nil {
		t.Fatalf("open %s: %v", remote, err)
	}
	rep, err := scrub.Run(ctx, f, opt)
	if err != nil {
		t.Fatalf("scrub %s: %v", remote, err)
	}
	return rep
}

func wantBoth(t *testing.T, r *Repo, rep *scrub.Report, prefix string) {
	t.Helper()
	if got, want := Findings(rep.Findings), r.WantFindings(prefix); !slices.Equal(got, want) {
		t.Errorf("findings %q, want exactly %q", got, want)
	}
	if rep.Outcome != scrub.Damaged || rep.Outcome.ExitCode() != scrub.ExitDamaged {
		t.Errorf("outcome %s (exit %d), want damaged (exit %d)", rep.Outcome, rep.Outcome.ExitCode(), scrub.ExitDamaged)
	}
}

// writeCalls are the emulator's API methods that change something.
var writeCalls = []string{"uploadfile", "deletefile", "createfolder", "createfolderifnotexists", "deletefolder",
	"deletefolderrecursive", "renamefolder", "renamefile", "copyfile"}

func delta(before, after pcloudemu.Stats, method string) int64 {
	return after.Calls[method] - before.Calls[method]
}

// TestScrubNamesDamagedPacks: a repository made by the real restic, with one
// pack truncated and one corrupted behind restic's back. scrub names exactly
// those two on rclone's local backend (the disk's own hashing) and on
// rclone's pcloud backend against the emulator answering as pCloud's EU
// region, with no download and no change at the remote; and restic check
// --read-data, which downloads everything, agrees.
func TestScrubNamesDamagedPacks(t *testing.T) {
	ctx := context.Background()
	r := NewRepo(t)

	clean := run(ctx, t, r.Dir, scrub.Options{})
	if clean.Outcome != scrub.Clean || clean.VerifiedRemote != clean.Objects || clean.Objects == 0 {
		t.Fatalf("undamaged repository: %+v, want clean with every object verified by the remote", clean)
	}

	r.Damage(t)
	before := TreeDigest(t, r.Dir)
	local := run(ctx, t, r.Dir, scrub.Options{})
	wantBoth(t, r, local, "")
	if local.VerifiedRemote != local.Objects-2 || local.ReadBytes != 0 {
		t.Errorf("local: %d of %d objects verified by the remote, %d bytes read; want all but the two, none read",
			local.VerifiedRemote, local.Objects, local.ReadBytes)
	}
	if after := TreeDigest(t, r.Dir); !maps.Equal(before, after) {
		t.Errorf("the scrub changed the local repository")
	}

	emu := e2e.StartEmulator(t, pcloudemu.Options{Region: pcloudemu.RegionEU})
	remote := emu.RcloneRemote() + "backups/alice"
	r.CopyTo(ctx, t, remote)
	truth := emuDigest(ctx, t, emu, remote)
	st0 := emu.Stats()
	eu := run(ctx, t, emu.RcloneRemote()+"backups", scrub.Options{})
	st1 := emu.Stats()
	wantBoth(t, r, eu, "alice/")
	if !slices.Equal(eu.Repositories, []string{"alice"}) {
		t.Errorf("repositories %q, want [alice] (found below the scrubbed path)", eu.Repositories)
	}
	if n, l := delta(st0, st1, "download"), delta(st0, st1, "getfilelink"); n != 0 || l != 0 {
		t.Errorf("the scrub downloaded: %d downloads, %d links; want none", n, l)
	}
	if n := delta(st0, st1, "checksumfile"); n != eu.Objects {
		t.Errorf("%d checksumfile calls for %d objects: want one each", n, eu.Objects)
	}
	for _, m := range writeCalls {
		if n := delta(st0, st1, m); n != 0 {
			t.Errorf("the scrub called %s %d times", m, n)
		}
	}
	if after := emuDigest(ctx, t, emu, remote); !maps.Equal(truth, after) {
		t.Errorf("the emulator's files changed during the scrub")
	}

	res := r.Restic.Run("check", "--read-data")
	if res.Code == 0 {
		t.Fatalf("restic check --read-data passed on the damaged repository:\n%s", res.Output)
	}
	// restic ends with the command that removes what it found damaged.
	var named []string
	for _, line := range strings.Split(res.Output, "\n") {
		if ids, ok := strings.CutPrefix(strings.TrimSpace(line), "restic repair packs "); ok {
			named = strings.Fields(ids)
		}
	}
	slices.Sort(named)
	if want := []string{r.Truncated, r.Corrupted}; !slices.Equal(named, want) {
		t.Errorf("restic check --read-data names %q for repair, scrub %q:\n%s", named, want, res.Output)
	}
}

// TestScrubWithoutRemoteHash: pCloud's US region reports no SHA-256.
// scrub says so and ends unverified, asking checksumfile once, not once per
// object; with Read it downloads and hashes and names both packs.
func TestScrubWithoutRemoteHash(t *testing.T) {
	ctx := context.Background()
	r := NewRepo(t)
	r.Damage(t)
	emu := e2e.StartEmulator(t, pcloudemu.Options{Region: pcloudemu.RegionUS})
	remote := emu.RcloneRemote() + "repo"
	r.CopyTo(ctx, t, remote)

	st0 := emu.Stats()
	us := run(ctx, t, remote, scrub.Options{})
	st1 := emu.Stats()
	if us.Outcome != scrub.Unverified || us.Outcome.ExitCode() != scrub.ExitUnverified || us.Unverified != us.Objects ||
		len(us.Findings) != 0 || !strings.Contains(us.NoRemoteHash, "no SHA-256") {
		t.Errorf("US region: outcome %s, %d of %d unverified, findings %q, note %q; want unverified, all, none, a note",
			us.Outcome, us.Unverified, us.Objects, Findings(us.Findings), us.NoRemoteHash)
	}
	if n := delta(st0, st1, "checksumfile"); n != 1 {
		t.Errorf("%d checksumfile calls; want 1 (the first answer tells there is no SHA-256)", n)
	}
	if n := delta(st0, st1, "download"); n != 0 {
		t.Errorf("%d downloads without --read", n)
	}

	read := run(ctx, t, remote, scrub.Options{Read: true})
	st2 := emu.Stats()
	wantBoth(t, r, read, "")
	if read.VerifiedRead != read.Objects-2 || delta(st1, st2, "download") != read.Objects {
		t.Errorf("with Read: %d of %d verified by reading, %d downloads; want all but two, one per object",
			read.VerifiedRead, read.Objects, delta(st1, st2, "download"))
	}
}

// emuDigest is the emulator's ground truth (id, size, sha1, time) for every
// file the remote lists below remote.
func emuDigest(ctx context.Context, t *testing.T, emu *e2e.Emulator, remote string) map[string]string {
	t.Helper()
	f, err := rfs.NewFs(ctx, remote)
	if err != nil {
		t.Fatalf("open %s: %v", remote, err)
	}
	root := "/" + strings.TrimPrefix(remote, emu.RcloneRemote())
	out := map[string]string{}
	err = walkObjects(ctx, f, func(p string) {
		fi, ok := emu.Stat(root + "/" + p)
		if !ok {
			t.Errorf("listed %s is not stored", p)
		}
		out[p] = fmtInfo(fi)
	})
	if err != nil {
		t.Fatalf("list %s: %v", remote, err)
	}
	return out
}

func walkObjects(ctx context.Context, f rfs.Fs, fn func(p string)) error {
	return walk.ListR(ctx, f, "", true, -1, walk.ListObjects, func(entries rfs.DirEntries) error {
		entries.ForObject(func(o rfs.Object) { fn(o.Remote()) })
		return nil
	})
}

func fmtInfo(fi pcloudemu.FileInfo) string {
	return fmt.Sprintf("id %d, %d bytes, sha256 %s, modified %s", fi.ID, fi.Size, fi.SHA256, fi.Modified)
}
