package main

import "testing"

// davKinds must count every request once in the total, whatever its
// PROPFIND target, and split PROPFIND into folders, lookups and the rest.
func TestDavKinds(t *testing.T) {
	d := map[string]float64{
		"DELETE": 5, "PROPFIND": 10, "GET": 1, "PUT": 2, "MKCOL": 1, "MOVE": 1,
		"PROPFIND data/xx d1": 4, "PROPFIND data/xx/file d0": 3, "PROPFIND locks d1": 3,
	}
	got := davKinds(d)
	want := map[string]float64{"total": 20, "DELETE": 5, "GET": 1, "PUT": 2, "MKCOL": 1, "other": 1,
		"PROPFIND of a data/xx folder": 4, "PROPFIND of one pack (lookup)": 3, "PROPFIND, other": 3}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %g, want %g (all: %v)", k, got[k], v, got)
		}
	}
}

// unrefRE reads restic 0.19's count of unreferenced packs in prune -v.
func TestUnrefRE(t *testing.T) {
	out := "to delete:             0 packs\nto delete:            20 unreferenced packs\nremaining: 3 blobs\n"
	m := unrefRE.FindStringSubmatch(out)
	if m == nil || m[1] != "20" {
		t.Fatalf("unrefRE on %q: %v, want 20", out, m)
	}
	if unrefRE.MatchString("to delete:             0 packs\n") {
		t.Fatal("unrefRE matched the line of packs without unreferenced ones")
	}
}

func TestCountIn(t *testing.T) {
	if n := countIn([]string{"a", "b", "c"}, map[string]bool{"a": true, "c": true, "d": true}); n != 2 {
		t.Fatalf("countIn = %d, want 2", n)
	}
}
