// Package conformance runs Pulumi's language conformance suite (pulumi-test-language, from
// the served pkg/v3 module) against go-platform's own Python language host.
//
// The suite is a gRPC service that drives the Pulumi engine in-process: for each test it
// copies a program into a project directory, asks the language host to install its
// dependencies and to list its dependencies and required packages, runs a preview and an
// update through the host, and checks the resulting state and events. Test providers are
// compiled into the suite and served in-process.
//
// The programs are ours: one Python program per test under programs/<test>/, written from
// the test's assertions and PCL program, handed to the suite as program overrides (the host
// has no program generator). Multi-run tests whose runs use different programs have one
// directory per run, programs/<test>/<run>/.
//
// Only L1 tests have programs: every other test (L2, L3, provider and policy tests) uses a test
// provider, and the suite then asks the host to generate that provider's SDK
// (GeneratePackage) — and, for a policy pack, to Link the core SDK into it — which this host
// does not do.
//
// Programs run in a clean virtualenv holding only the pulumi and pulumi-policy packages (at
// the project virtualenv's versions): the suite checks that the host reports exactly the
// resource plugins a program needs, and the project virtualenv also holds provider SDKs that
// the host would rightly report for every program. (pulumi-policy stays, as in the project
// virtualenv: the host must not take it for a resource plugin.)
// Each staged program's Pulumi.yaml names that virtualenv (runtime option virtualenv), so
// the host installs nothing per test.
package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/pkg/v3/testing/pulumi-test-language/runner"
	"github.com/pulumi/pulumi/pkg/v3/testing/pulumi-test-language/tests"
	testingrpc "github.com/pulumi/pulumi/sdk/v3/proto/go/testing"
	"gopkg.in/yaml.v3"
)

// Environment variables that configure a run.
const (
	// EnvHost names a built language host binary; without it the host is built from ../.
	EnvHost = "PULUMI_LANGUAGE_PYTHON"
	// EnvPython names the Python whose pulumi SDK the tests use (default: the project's venv/bin/python).
	EnvPython = "PULUMI_CONFORMANCE_PYTHON"
	// EnvVenv names the clean virtualenv to use, or to create if missing (default: under
	// the user cache directory, keyed by the Python and package versions).
	EnvVenv = "PULUMI_CONFORMANCE_VENV"
)

// defaultPython is the project virtualenv's Python (venv/ beside the Pulumi.yaml found
// above the working directory), whose pulumi version the tests pin.
func defaultPython() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err == nil {
			return filepath.Join(dir, "venv", "bin", "python")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// executorScript is the SDK's program runner; the host expects it beside its binary.
const executorScript = "pulumi-language-python-exec"

// Options configure a Suite.
type Options struct {
	// HostBinary is the language host to test; empty builds it from HostSource.
	HostBinary string
	// HostSource is the host's Go module directory (default: this module's parent).
	HostSource string
	// Python is the interpreter whose pulumi SDK version the tests use.
	Python string
	// Venv is the clean virtualenv directory; empty picks one under the user cache dir.
	Venv string
	// Programs is the directory of test programs (default: programs/ in this module).
	Programs string
	// WorkDir holds the built host, staged programs and the suite's temporary files.
	WorkDir string
	// Log receives progress messages and the host's output; nil discards them.
	Log io.Writer
}

// OptionsFromEnv fills Options from the environment variables above.
func OptionsFromEnv(workDir string) Options {
	python := os.Getenv(EnvPython)
	if python == "" {
		python = defaultPython()
	}
	return Options{
		HostBinary: os.Getenv(EnvHost),
		Python:     python,
		Venv:       os.Getenv(EnvVenv),
		WorkDir:    workDir,
	}
}

// Result is the outcome of one conformance test.
type Result struct {
	Name     string
	Passed   bool
	Messages []string
	Stdout   string
	Stderr   string
	Duration time.Duration
}

// Suite is a running test server with the language host attached.
type Suite struct {
	server  runner.LanguageTestServer
	token   string
	tests   []string // the suite's tests that have a program here, sorted
	missing []string // the suite's tests with no program here, sorted
	host    *exec.Cmd
	exited  chan struct{} // closed when the host has exited
	hostLog *os.File
}

// ModuleDir is this module's source directory: where this file was compiled from, or,
// in a -trimpath build (whose file names are module paths), the working directory, which
// `go run` and `go test` set to the module.
func ModuleDir() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if _, err := os.Stat(file); err == nil {
			return filepath.Dir(file)
		}
	}
	wd, _ := os.Getwd()
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "harness.go")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			return wd
		}
	}
}

// Start builds (or takes) the host, prepares the virtualenv and the programs, starts the
// suite's server and the host, and prepares the tests.
func Start(ctx context.Context, opts Options) (*Suite, error) {
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	if opts.WorkDir == "" {
		return nil, errors.New("conformance: a work directory is required")
	}
	if opts.Programs == "" {
		opts.Programs = filepath.Join(ModuleDir(), "programs")
	}
	if opts.HostSource == "" {
		opts.HostSource = filepath.Dir(ModuleDir())
	}

	hostBinary, err := prepareHost(ctx, opts, logw)
	if err != nil {
		return nil, err
	}
	venv, pulumiVersion, err := ensureVenv(ctx, opts.Python, opts.Venv, logw)
	if err != nil {
		return nil, err
	}

	server, err := runner.Start(ctx, tests.LanguageTestdata, tests.LanguageTests)
	if err != nil {
		return nil, fmt.Errorf("starting the conformance test server: %w", err)
	}
	s := &Suite{server: server}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	overrides, missing, err := stagePrograms(opts.Programs, filepath.Join(opts.WorkDir, "programs"), venv)
	if err != nil {
		return nil, err
	}
	for name := range overrides {
		s.tests = append(s.tests, name)
	}
	sort.Strings(s.tests)
	s.missing = missing

	hostLog, err := os.Create(filepath.Join(opts.WorkDir, "host.log"))
	if err != nil {
		return nil, err
	}
	s.hostLog = hostLog
	target, err := s.startHost(hostBinary, venv)
	if err != nil {
		return nil, err
	}

	prepared, err := server.PrepareLanguageTests(ctx, &testingrpc.PrepareLanguageTestsRequest{
		LanguagePluginName:   "python",
		LanguagePluginTarget: target,
		TemporaryDirectory:   filepath.Join(opts.WorkDir, "suite"),
		SnapshotDirectory:    filepath.Join(opts.WorkDir, "snapshots"),
		// No core SDK directory: programs use the installed pulumi package, and the suite
		// checks that the host reports it at this version.
		CoreSdkVersion:   pulumiVersion,
		ProgramOverrides: overrides,
	})
	if err != nil {
		return nil, fmt.Errorf("preparing the language tests: %w", err)
	}
	s.token = prepared.GetToken()
	ok = true
	return s, nil
}

// Tests lists the tests that have a program, sorted.
func (s *Suite) Tests() []string { return append([]string(nil), s.tests...) }

// Missing lists the suite's tests that have no program here, sorted.
func (s *Suite) Missing() []string { return append([]string(nil), s.missing...) }

// HostLog is the file the host's (and so the programs') output goes to.
func (s *Suite) HostLog() string { return s.hostLog.Name() }

// Run runs one test.
func (s *Suite) Run(ctx context.Context, name string) Result {
	start := time.Now()
	resp, err := s.server.RunLanguageTest(ctx, &testingrpc.RunLanguageTestRequest{
		Token: s.token, Test: name, SkipConvertTests: true,
	})
	r := Result{Name: name, Duration: time.Since(start)}
	if err != nil {
		r.Messages = []string{err.Error()}
		return r
	}
	r.Passed = resp.GetSuccess()
	r.Messages = resp.GetMessages()
	r.Stdout, r.Stderr = resp.GetStdout(), resp.GetStderr()
	return r
}

// RunAll runs the named tests, parallel at a time, calling report as each finishes, and
// returns the results in the order of names.
func (s *Suite) RunAll(ctx context.Context, names []string, parallel int, report func(Result)) []Result {
	if parallel < 1 {
		parallel = 1
	}
	results := make([]Result, len(names))
	next := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for i := range next {
				r := s.Run(ctx, names[i])
				results[i] = r
				if report != nil {
					mu.Lock()
					report(r)
					mu.Unlock()
				}
			}
		})
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// Close stops the host and the server.
func (s *Suite) Close() {
	if s.host != nil {
		_ = s.host.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.host.Process.Kill()
			<-s.exited
		}
	}
	if s.server != nil {
		s.server.Cancel()
		_ = s.server.Done()
	}
	if s.hostLog != nil {
		_ = s.hostLog.Close()
	}
}

// startHost starts the language host against the suite's engine service and returns the
// address it serves on.
func (s *Suite) startHost(binary, venv string) (string, error) {
	cmd := exec.Command(binary, s.server.Address())
	// Every program names its virtualenv; should the host resolve a Python without one, it
	// is still the clean virtualenv's.
	cmd.Env = append(os.Environ(), "PULUMI_PYTHON_CMD="+filepath.Join(venv, "bin", "python"))
	// The host prints its port first; after that its output (and the programs') is logged.
	stdout := &firstLineWriter{w: s.hostLog, line: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = stdout, s.hostLog
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting the language host %s: %w", binary, err)
	}
	s.host, s.exited = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.exited) }()
	select {
	case first := <-stdout.line:
		port, err := strconv.Atoi(strings.TrimSpace(first))
		if err != nil {
			return "", fmt.Errorf("the language host printed %q, not a port", first)
		}
		return fmt.Sprintf("127.0.0.1:%d", port), nil
	case <-s.exited:
		return "", fmt.Errorf("the language host exited before printing its port: %v (see %s)",
			cmd.ProcessState, s.hostLog.Name())
	case <-time.After(time.Minute):
		return "", fmt.Errorf("the language host printed no port within a minute (see %s)", s.hostLog.Name())
	}
}

// firstLineWriter sends the first line written to it on line, and writes the rest to w.
type firstLineWriter struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	line chan string // buffered: receives the first line once
	sent bool
}

func (f *firstLineWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent {
		return f.w.Write(p)
	}
	f.buf = append(f.buf, p...)
	i := bytes.IndexByte(f.buf, '\n')
	if i < 0 {
		return len(p), nil
	}
	f.line <- string(f.buf[:i])
	f.sent = true
	rest := f.buf[i+1:]
	f.buf = nil
	if _, err := f.w.Write(rest); err != nil {
		return 0, err
	}
	return len(p), nil
}

// prepareHost returns a host binary with the executor script beside it: the given binary
// when the script is already there, else a copy (or a fresh build) in the work directory.
func prepareHost(ctx context.Context, opts Options, logw io.Writer) (string, error) {
	dir := filepath.Join(opts.WorkDir, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	target := filepath.Join(dir, "pulumi-language-python")
	if opts.HostBinary != "" {
		given, err := filepath.Abs(opts.HostBinary)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(given), executorScript)); err == nil {
			return given, nil
		}
		if err := copyFile(given, target, 0o755); err != nil {
			return "", fmt.Errorf("copying the language host: %w", err)
		}
	} else {
		fmt.Fprintf(logw, "building the language host from %s\n", opts.HostSource)
		build := exec.CommandContext(ctx, "go", "build", "-o", target, ".")
		build.Dir = opts.HostSource
		if out, err := build.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building the language host: %w\n%s", err, out)
		}
	}
	sdkDir, err := moduleDir(ctx, "github.com/pulumi/pulumi/sdk/v3")
	if err != nil {
		return "", err
	}
	script := filepath.Join(sdkDir, "python", "cmd", executorScript)
	if err := copyFile(script, filepath.Join(dir, executorScript), 0o755); err != nil {
		return "", fmt.Errorf("copying the Python executor: %w", err)
	}
	return target, nil
}

// moduleDir is the module cache directory of a module this module requires.
func moduleDir(ctx context.Context, module string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = ModuleDir()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating %s: %w", module, withStderr(err))
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("locating %s: not in the module cache (go mod download %s)", module, module)
	}
	return dir, nil
}

// ensureVenv returns a virtualenv holding only pulumi and pulumi-policy at the versions
// python has, creating it when missing, and the pulumi version.
func ensureVenv(ctx context.Context, python, venv string, logw io.Writer) (string, string, error) {
	probe := exec.CommandContext(ctx, python, "-c", `import sys, importlib.metadata as m
print("%d.%d" % sys.version_info[:2])
print(m.version("pulumi"))
try:
    print(m.version("pulumi-policy"))
except m.PackageNotFoundError:
    print("")`)
	out, err := probe.Output()
	if err != nil {
		return "", "", fmt.Errorf("asking %s for its pulumi version: %w", python, withStderr(err))
	}
	fields := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(fields) != 3 {
		return "", "", fmt.Errorf("unexpected answer from %s: %q", python, out)
	}
	pyVersion, pulumiVersion, policyVersion := fields[0], fields[1], fields[2]

	if venv != "" && isVenv(venv) {
		return venv, pulumiVersion, nil
	}

	// Pin every shared dependency (grpcio, protobuf, ...) to the project virtualenv's
	// version: pip then mostly reuses what it has already downloaded.
	freeze := exec.CommandContext(ctx, python, "-m", "pip", "freeze", "--exclude-editable")
	frozen, err := freeze.Output()
	if err != nil {
		return "", "", fmt.Errorf("listing %s's packages: %w", python, withStderr(err))
	}
	var constraints []string
	for line := range strings.SplitSeq(string(frozen), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "-") || strings.Contains(line, " @ ") {
			continue
		}
		constraints = append(constraints, line)
	}
	requirements := []string{"pulumi==" + pulumiVersion}
	if policyVersion != "" {
		requirements = append(requirements, "pulumi-policy=="+policyVersion)
	}

	if venv == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", "", fmt.Errorf("no user cache directory for the virtualenv (set %s): %w", EnvVenv, err)
		}
		sum := sha256.Sum256([]byte(pyVersion + "\n" + strings.Join(requirements, "\n") + "\n" +
			strings.Join(constraints, "\n")))
		venv = filepath.Join(cache, "go-platform", "language-python-conformance",
			"venv-py"+pyVersion+"-"+hex.EncodeToString(sum[:6]))
		if isVenv(venv) {
			return venv, pulumiVersion, nil
		}
	}

	fmt.Fprintf(logw, "creating the virtualenv %s (%s)\n", venv, strings.Join(requirements, " "))
	if err := os.MkdirAll(filepath.Dir(venv), 0o755); err != nil {
		return "", "", err
	}
	// Build beside the target and rename, so an interrupted build is never taken as ready.
	building, err := os.MkdirTemp(filepath.Dir(venv), filepath.Base(venv)+".building-")
	if err != nil {
		return "", "", err
	}
	defer func() { _ = os.RemoveAll(building) }()
	consFile := filepath.Join(building, "constraints.txt")
	if err := os.WriteFile(consFile, []byte(strings.Join(constraints, "\n")+"\n"), 0o644); err != nil {
		return "", "", err
	}
	env := filepath.Join(building, "venv")
	steps := [][]string{
		{python, "-m", "venv", env},
		append([]string{filepath.Join(env, "bin", "python"), "-m", "pip", "install",
			"--quiet", "--disable-pip-version-check", "-c", consFile}, requirements...),
	}
	for _, step := range steps {
		cmd := exec.CommandContext(ctx, step[0], step[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("%s: %w\n%s", strings.Join(step, " "), err, out)
		}
	}
	if err := os.Rename(env, venv); err != nil {
		if isVenv(venv) { // another run finished first
			return venv, pulumiVersion, nil
		}
		return "", "", err
	}
	return venv, pulumiVersion, nil
}

// isVenv reports whether dir holds a virtualenv's python.
func isVenv(dir string) bool {
	info, err := os.Stat(filepath.Join(dir, "bin", "python"))
	return err == nil && !info.IsDir()
}

// runDir matches the per-run program directories of a multi-program test.
var runDir = regexp.MustCompile(`^[0-9]+$`)

// stagePrograms copies each test's program(s) from src into dst, naming the virtualenv in
// each Pulumi.yaml, and returns the suite's program overrides. Tests of the suite without a
// program are returned as missing; a program for a test the suite lacks is an error.
func stagePrograms(
	src, dst, venv string,
) (map[string]*testingrpc.PrepareLanguageTestsRequest_ProgramOverride, []string, error) {
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the test programs: %w", err)
	}
	overrides := map[string]*testingrpc.PrepareLanguageTestsRequest_ProgramOverride{}
	for _, entry := range entries {
		name := entry.Name()
		if !entry.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		test, ok := tests.LanguageTests[name]
		if !ok {
			return nil, nil, fmt.Errorf("programs/%s: the suite has no test %s", name, name)
		}
		runs := len(test.Runs)
		var paths []string
		if _, err := os.Stat(filepath.Join(src, name, "0")); err == nil {
			// One program per run.
			subs, err := os.ReadDir(filepath.Join(src, name))
			if err != nil {
				return nil, nil, err
			}
			count := 0
			for _, sub := range subs {
				if sub.IsDir() && runDir.MatchString(sub.Name()) {
					count++
				}
			}
			if count != runs || test.RunsShareSource {
				return nil, nil, fmt.Errorf("programs/%s: %d run programs for %d runs (shared source: %v)",
					name, count, runs, test.RunsShareSource)
			}
			for i := range runs {
				run := strconv.Itoa(i)
				target := filepath.Join(dst, name, run)
				if err := stageProgram(filepath.Join(src, name, run), target, venv); err != nil {
					return nil, nil, fmt.Errorf("programs/%s/%s: %w", name, run, err)
				}
				paths = append(paths, target)
			}
		} else {
			if runs > 1 && !test.RunsShareSource {
				return nil, nil, fmt.Errorf("programs/%s: the test's %d runs need one program each", name, runs)
			}
			target := filepath.Join(dst, name)
			if err := stageProgram(filepath.Join(src, name), target, venv); err != nil {
				return nil, nil, fmt.Errorf("programs/%s: %w", name, err)
			}
			for range runs {
				paths = append(paths, target)
			}
		}
		overrides[name] = &testingrpc.PrepareLanguageTestsRequest_ProgramOverride{Paths: paths}
	}
	var missing []string
	for name := range tests.LanguageTests {
		if _, ok := overrides[name]; !ok && !strings.HasPrefix(name, "internal-") {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	return overrides, missing, nil
}

// stageProgram copies one program and sets runtime option virtualenv in its Pulumi.yaml.
func stageProgram(src, dst, venv string) error {
	if err := copyTree(src, dst); err != nil {
		return err
	}
	return setVirtualenv(filepath.Join(dst, "Pulumi.yaml"), venv)
}

// copyTree copies a directory, leaving out byte-compiled files from local runs.
func copyTree(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		return err
	}
	return filepath.WalkDir(dst, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == "__pycache__" {
			if err := os.RemoveAll(path); err != nil {
				return err
			}
			return fs.SkipDir
		}
		return err
	})
}

// setVirtualenv sets runtime option virtualenv in a Pulumi.yaml or PulumiPolicy.yaml.
func setVirtualenv(project, venv string) error {
	raw, err := os.ReadFile(project)
	if err != nil {
		return fmt.Errorf("a project file is required: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(project), err)
	}
	rt := map[string]any{"name": "python"}
	switch value := doc["runtime"].(type) {
	case string:
		rt["name"] = value
	case map[string]any:
		rt = value
	}
	options, _ := rt["options"].(map[string]any)
	if options == nil {
		options = map[string]any{}
	}
	options["virtualenv"] = venv
	rt["options"] = options
	doc["runtime"] = rt
	out, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(project, out, 0o644)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// withStderr adds a failed command's standard error to its error.
func withStderr(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(exit.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(exit.Stderr)))
	}
	return err
}
