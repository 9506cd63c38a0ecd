// Command steadyrest serves the restic REST protocol over an rclone remote.
package main

import (
	_ "github.com/rclone/rclone/backend/all"
	_ "github.com/rclone/rclone/fs/config/configfile"
)

func main() {}
