// Package browser renders steadyrest's status page in a real headless
// browser (Debian's chromium) after a restic run on a lagging remote, and
// attacks the page through the real built binary.
package browser
