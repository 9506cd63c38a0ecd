// Package deploy holds no code: its tests check the deployment files beside
// them (Dockerfile, docker-compose.yml, Prometheus rules, Grafana dashboard,
// systemd unit) against each other and against the steadyrest binary's
// flags and metrics. deploy/check.sh runs them with promtool and
// systemd-analyze.
package deploy
