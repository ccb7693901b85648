//go:build !linux

package main

// The early start (early.go) needs Linux (the CLI's command line from /proc, a peer's
// credentials on a Unix socket); elsewhere runs start as they did before it.

func (w *warmStarts) cliRunsProgram() bool { return false }

func (w *warmStarts) startEarly(*program, string) {}

func (w *warmStarts) claimEarly(string) *warmProcess { return nil }
