//go:build !linux

package main

import "fmt"

// The early start (early.go) needs Linux (the CLI's command line from /proc, a peer's
// credentials on a Unix socket); elsewhere runs start as they did before it.

func (w *warmStarts) cliRunsProgram() bool { return false }

func (w *warmStarts) startEarly(*program, string) {}

func (w *warmStarts) claimEarly(string) *warmProcess { return nil }

// reportedExit is the exit status an early process sent for its run.
type reportedExit struct{ code int }

func (e *reportedExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }
