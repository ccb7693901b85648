// Command conformance runs Pulumi's language conformance suite against go-platform's Python
// language host and prints one line per test, then the line "N passed, M failed". It exits
// non-zero when a test fails or the suite cannot start.
//
// Usage (from tools/language-python/conformance):
//
//	go run ./cmd/conformance [-run REGEXP] [-parallel N] [-v] [-keep]
//
// Environment: PULUMI_LANGUAGE_PYTHON (a built host; default: build ../),
// PULUMI_CONFORMANCE_PYTHON (default: the project's venv/bin/python), PULUMI_CONFORMANCE_VENV.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/go-platform/go-platform/tools/language-python/conformance"
)

func main() {
	os.Exit(run())
}

func run() int {
	// Our own flag set: dependencies register flags (-v among them) on the global one.
	flags := flag.NewFlagSet("conformance", flag.ExitOnError)
	pattern := flags.String("run", "", "run only the tests whose names match this regular expression")
	parallel := flags.Int("parallel", runtime.NumCPU(), "tests to run at once")
	verbose := flags.Bool("v", false, "print the engine output of every test, not only of failures")
	keep := flags.Bool("keep", false, "keep the work directory (always kept when a test fails)")
	_ = flags.Parse(os.Args[1:])
	var filter *regexp.Regexp
	if *pattern != "" {
		var err error
		if filter, err = regexp.Compile(*pattern); err != nil {
			fmt.Fprintf(os.Stderr, "conformance: -run: %v\n", err)
			return 2
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	workDir, err := os.MkdirTemp("", "language-python-conformance-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
		return 2
	}
	opts := conformance.OptionsFromEnv(workDir)
	opts.Log = os.Stderr // before the redirection below
	// The suite's engine writes every log message of every program (debug included) to
	// os.Stderr, and its backend writes progress to os.Stdout: send both to a file unless -v.
	results, diagnostics := os.Stdout, os.Stderr
	if !*verbose {
		engineLog, err := os.Create(filepath.Join(workDir, "engine.log"))
		if err != nil {
			fmt.Fprintf(os.Stderr, "conformance: %v\n", err)
			return 2
		}
		defer func() { _ = engineLog.Close() }()
		os.Stderr, os.Stdout = engineLog, engineLog
	}

	start := time.Now()
	suite, err := conformance.Start(ctx, opts)
	if err != nil {
		fmt.Fprintf(diagnostics, "conformance: %v\n", err)
		fmt.Fprintln(results, "0 passed, 0 failed")
		return 2
	}
	var names []string
	for _, name := range suite.Tests() {
		if filter == nil || filter.MatchString(name) {
			names = append(names, name)
		}
	}
	setup := time.Since(start)

	passed, failed := 0, 0
	suite.RunAll(ctx, names, *parallel, func(r conformance.Result) {
		status := "PASS"
		if r.Passed {
			passed++
		} else {
			status = "FAIL"
			failed++
		}
		fmt.Fprintf(results, "%s %s (%.1fs)\n", status, r.Name, r.Duration.Seconds())
		if !r.Passed || *verbose {
			for _, m := range r.Messages {
				fmt.Fprintf(results, "    %s\n", indent(m))
			}
			if text := strings.TrimSpace(r.Stdout); text != "" {
				fmt.Fprintf(results, "    stdout:\n        %s\n", indent(indent(text)))
			}
			if text := strings.TrimSpace(r.Stderr); text != "" {
				fmt.Fprintf(results, "    stderr:\n        %s\n", indent(indent(text)))
			}
		}
	})
	suite.Close()

	if filter == nil {
		// Every test that uses a provider (L2, L3, provider and policy tests) needs the host to
		// generate SDKs (GeneratePackage), which it does not.
		var l1 []string
		others := 0
		for _, name := range suite.Missing() {
			if strings.HasPrefix(name, "l1-") {
				l1 = append(l1, name)
			} else {
				others++
			}
		}
		fmt.Fprintf(results, "not run: %d L2/L3/provider/policy tests (they need GeneratePackage)\n", others)
		if len(l1) > 0 {
			fmt.Fprintf(results, "not run (no program here): %s\n", strings.Join(l1, " "))
		}
	}
	fmt.Fprintf(results, "setup %.1fs, tests %.1fs\n", setup.Seconds(), time.Since(start).Seconds()-setup.Seconds())
	if failed > 0 || *keep {
		fmt.Fprintf(results, "work directory kept: %s (host output in host.log, engine log in engine.log)\n", workDir)
	} else {
		_ = os.RemoveAll(workDir)
	}
	fmt.Fprintf(results, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }
