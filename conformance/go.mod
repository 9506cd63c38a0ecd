module github.com/steadyrest/steadyrest/conformance

go 1.26.0

require github.com/restic/restic v0.19.1

require (
	github.com/peterbourgon/unixtransport v0.0.7 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	golang.org/x/net v0.55.0 // indirect
	golang.org/x/text v0.37.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)
