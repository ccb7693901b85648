package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

var passed, failed atomic.Int64

// TestMain ends a run that ran conformance tests with the line "N passed, M failed".
func TestMain(m *testing.M) {
	code := m.Run()
	if passed.Load()+failed.Load() > 0 {
		fmt.Printf("%d passed, %d failed\n", passed.Load(), failed.Load())
	}
	os.Exit(code)
}

// TestConformance runs every suite test that has a program under programs/, one subtest
// each (select with -run 'TestConformance/l1-output-.*'). It builds the host from ../ unless
// PULUMI_LANGUAGE_PYTHON names one; see the package documentation for the virtualenv.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite runs for minutes; not with -short")
	}
	ctx := context.Background()
	opts := OptionsFromEnv(t.TempDir())
	opts.Log = os.Stderr
	suite, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(suite.Close)

	for _, name := range suite.Tests() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := suite.Run(ctx, name)
			if r.Passed {
				passed.Add(1)
				return
			}
			failed.Add(1)
			t.Errorf("%s failed:\n%s\nstdout:\n%s\nstderr:\n%s", name,
				strings.Join(r.Messages, "\n"), r.Stdout, r.Stderr)
		})
	}
}

// TestStagePrograms checks the programs directory against the suite without running it:
// every program names a test of the suite, with one program per run where runs differ.
func TestStagePrograms(t *testing.T) {
	staged := t.TempDir()
	overrides, _, err := stagePrograms(filepath.Join(ModuleDir(), "programs"), staged, "/nonexistent/venv")
	if err != nil {
		t.Fatal(err)
	}
	if len(overrides) == 0 {
		t.Fatal("no programs staged")
	}
	// The staged project keeps its settings and gains the virtualenv option.
	project, err := os.ReadFile(filepath.Join(staged, "l1-main", "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: l1-main", "main: subdir", "name: python", "virtualenv: /nonexistent/venv"} {
		if !strings.Contains(string(project), want) {
			t.Errorf("staged Pulumi.yaml lacks %q:\n%s", want, project)
		}
	}
}
