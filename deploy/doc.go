// Package deploy holds no code: its tests check the deployment files beside
// them (Dockerfile, the compose files with Redis, Prometheus and
// Alertmanager, Prometheus rules, Grafana dashboard, systemd units) against
// each other and against the steadyrest binary's flags and metrics, and
// check the documentation (README.md, CHANGELOG.md, docs/): every relative
// link and anchor resolves, every alert is documented, the overlay's words
// are linked to the glossary where first used. deploy/check.sh runs them
// with promtool, amtool and systemd-analyze.
package deploy
