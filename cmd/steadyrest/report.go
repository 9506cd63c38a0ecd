package main

import (
	"fmt"
	"io"
)

// report is what probe and scrub print: JSON for scripts, text for people.
type report interface {
	JSON() ([]byte, error)
	WriteText(io.Writer) error
}

// printReport writes rep to w as JSON or as text.
func printReport(w io.Writer, rep report, asJSON bool) error {
	if !asJSON {
		return rep.WriteText(w)
	}
	b, err := rep.JSON()
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
