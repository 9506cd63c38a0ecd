package pcloudemu

import "fmt"

// Region is the pCloud data region the emulator answers as. The regions
// differ in the checksums they report: the US region (api.pcloud.com)
// gives md5 and sha1, the EU region (eapi.pcloud.com) sha1 and sha256 and
// no md5. Tools that verify content without a download (steadyrest scrub)
// depend on which one they talk to.
type Region string

const (
	// RegionUS is the default (also the zero value ""): md5 and sha1.
	RegionUS Region = "us"
	// RegionEU answers sha1 and sha256.
	RegionEU Region = "eu"
)

// validRegion checks a Region option; "" means RegionUS.
func validRegion(r Region) error {
	switch r {
	case "", RegionUS, RegionEU:
		return nil
	}
	return fmt.Errorf("pcloudemu: unknown region %q (want %q or %q)", r, RegionUS, RegionEU)
}

// checksums are the hashes of n as checksumfile and uploadfile report them
// in the region; s.mu held.
func (s *Server) checksums(n *node) map[string]any {
	if s.opt.Region == RegionEU {
		return map[string]any{"sha1": n.sha1, "sha256": n.sha256}
	}
	return map[string]any{"sha1": n.sha1, "md5": n.md5}
}
