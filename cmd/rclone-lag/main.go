// Command rclone-lag is rclone's own command line with steadyrest's lagging
// test backend compiled in, so tests and benchmarks can run
// `rclone serve restic` over the very same lagging remote as steadyrest.
package main

import (
	_ "github.com/rclone/rclone/backend/all"
	"github.com/rclone/rclone/cmd"
	_ "github.com/rclone/rclone/cmd/all"
	_ "github.com/rclone/rclone/lib/plugin"
	_ "github.com/steadyrest/steadyrest/internal/lagfs"
)

func main() {
	cmd.Main()
}
