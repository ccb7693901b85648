package main

// Invariants guarded here (the engine-facing behaviour is tested end to end by
// tests/integration/test_language_host.py and by the conformance suite):
// - Python versions become the semantic versions plugins are installed under;
// - required packages come from pulumi-plugin.json, skip non-resource packages and
//   pulumi-policy, and fall back to the pulumi-<name> convention only without a JSON file;
// - the installed packages are listed again exactly when a path the listing depends on changed;
// - runtime options are checked, not silently ignored; a missing virtualenv says how to make it;
// - the executor gets every flag it parses (--parallel always), config only when present;
// - the runner around the executor keeps its exit: status, threads, atexit handlers;
// - a warm start begins when a policy pack starts, and runs the program in the process
//   prepared for it, as a cold run would;
// - a policy pack learns its stack from the environment;
// - About answers with the interpreter that runs the program, from one start of it;
// - exit statuses map onto the engine's answer (32 = bail);
// - interrupting children stops them, and waiting ends when they are gone.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestSemverOf(t *testing.T) {
	cases := map[string]string{
		"4.21.4":         "4.21.4",
		"1.2":            "1.2.0",
		"3":              "3.0.0",
		"1.0.0a1":        "1.0.0-alpha.1",
		"1.0.0b2":        "1.0.0-beta.2",
		"1.0.0rc3":       "1.0.0-rc.3",
		"1.0.0.dev4":     "1.0.0-dev.4",
		"1.0.0a1.dev2":   "1.0.0-alpha.1.dev.2",
		"1.0.0.post1":    "1.0.0+post.1",
		"1.0.0+local.7":  "1.0.0+local.7",
		"v3.276.0":       "3.276.0",
		"2.0.0rc1.post2": "2.0.0-rc.1+post.2",
	}
	for in, want := range cases {
		got, err := semverOf(in)
		if err != nil || got != want {
			t.Errorf("semverOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "latest", "1.x", "1.0.0-"} {
		if got, err := semverOf(bad); err == nil {
			t.Errorf("semverOf(%q) = %q, want an error", bad, got)
		}
	}
}

func TestRequiredPackages(t *testing.T) {
	dists := []distribution{
		{Name: "pulumi_random", Version: "4.21.4", Plugin: &plugin.PulumiPluginJSON{Resource: true, Name: "random"}},
		{Name: "pulumi-kubernetes", Version: "4.25.0", Plugin: &plugin.PulumiPluginJSON{
			Resource: true, Name: "kubernetes", Version: "4.25.0", Server: "https://example.invalid",
		}},
		{Name: "pulumi", Version: "3.272.0"},
		{Name: "pulumi_policy", Version: "1.21.0", Plugin: &plugin.PulumiPluginJSON{Resource: false}},
		{Name: "pulumi-policy", Version: "1.21.0"},
		{Name: "pulumi-legacy", Version: "1.2rc1"},
		{Name: "requests", Version: "2.32.0"},
		{Name: "pulumi-param", Version: "0.1.0", Plugin: &plugin.PulumiPluginJSON{
			Resource: true, Name: "terraform-provider", Version: "0.8.0",
			Parameterization: &plugin.PulumiParameterizationJSON{Name: "aws", Version: "5.0.0", Value: []byte("v")},
		}},
	}
	got, err := requiredPackages(dists)
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, p := range got {
		line := p.Kind + " " + p.Name + " " + p.Version
		if p.Server != "" {
			line += " " + p.Server
		}
		if p.Parameterization != nil {
			line += " param " + p.Parameterization.Name + "@" + p.Parameterization.Version
		}
		summary = append(summary, line)
	}
	want := []string{
		"resource kubernetes v4.25.0 https://example.invalid",
		"resource legacy v1.2.0-rc.1",
		"resource random v4.21.4",
		"resource terraform-provider v0.8.0 param aws@5.0.0",
	}
	if !reflect.DeepEqual(summary, want) {
		t.Errorf("requiredPackages:\n got %q\nwant %q", summary, want)
	}

	_, err = requiredPackages([]distribution{{Name: "pulumi-broken", PluginError: "x.json: bad"}})
	if err == nil || !strings.Contains(err.Error(), "pulumi-broken") {
		t.Errorf("an unreadable pulumi-plugin.json must be reported naming the package, got %v", err)
	}
}

// fakeDistribution installs, in dir, a distribution shipping a pulumi-plugin.json for the
// resource plugin name at version, the way a wheel lays one out.
func fakeDistribution(t *testing.T, dir, name, version string) {
	t.Helper()
	module := "pulumi_" + name
	info := filepath.Join(dir, module+"-"+version+".dist-info")
	files := map[string]string{
		filepath.Join(info, "METADATA"): "Metadata-Version: 2.1\nName: pulumi-" + name + "\nVersion: " + version + "\n",
		filepath.Join(info, "RECORD"): module + "/pulumi-plugin.json,,\n" +
			filepath.Base(info) + "/METADATA,,\n" + filepath.Base(info) + "/RECORD,,\n",
		filepath.Join(dir, module, "pulumi-plugin.json"): `{"resource": true, "name": "` + name + `", "version": "` + version + `"}`,
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// touch gives path a modification time no earlier listing can have seen.
func touch(t *testing.T, path string) {
	t.Helper()
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}

func TestRequiredPackagesAreListedAgainOnlyWhenTheEnvironmentChanges(t *testing.T) {
	python := python3(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("PYTHONUSERBASE", t.TempDir())
	t.Setenv("PYTHONNOUSERSITE", "")
	t.Setenv("PYTHONPATH", "")
	starts := countStarts(t, python)
	root := t.TempDir() // the program directory is on the search path, as it is for `-c`
	fakeDistribution(t, root, "alpha", "1.0.0")
	h := &host{warm: newWarmStarts()}
	ask := func(step string, wantStarts int, want ...string) {
		t.Helper()
		got, err := h.GetRequiredPackages(context.Background(), &pulumirpc.GetRequiredPackagesRequest{
			Info: &pulumirpc.ProgramInfo{RootDirectory: root, ProgramDirectory: root, EntryPoint: "."},
		})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		var names []string
		for _, p := range got.GetPackages() {
			names = append(names, p.GetName()+" "+p.GetVersion())
		}
		if !reflect.DeepEqual(names, want) {
			t.Errorf("%s: packages %q, want %q", step, names, want)
		}
		if n := starts(); n != wantStarts {
			t.Errorf("%s: the interpreter has started %d times, want %d", step, n, wantStarts)
		}
	}

	ask("first", 1, "alpha v1.0.0")
	ask("nothing changed", 1, "alpha v1.0.0")

	fakeDistribution(t, root, "beta", "2.0.0")
	touch(t, root)
	ask("a distribution installed", 2, "alpha v1.0.0", "beta v2.0.0")

	plugin := filepath.Join(root, "pulumi_beta", "pulumi-plugin.json")
	if err := os.WriteFile(plugin, []byte(`{"resource": true, "name": "beta", "version": "2.1.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	touch(t, plugin)
	ask("a pulumi-plugin.json edited in place", 3, "alpha v1.0.0", "beta v2.1.0")

	// The user site directory: watched before it exists, and a site directory, whose .pth
	// files add search paths.
	out, err := exec.Command(python, "-c", "import site; print(site.getusersitepackages())").Output()
	if err != nil {
		t.Fatal(err)
	}
	userSite := strings.TrimSpace(string(out))
	fakeDistribution(t, userSite, "gamma", "3.0.0")
	ask("the user site directory created", 4, "alpha v1.0.0", "beta v2.1.0", "gamma v3.0.0")

	first, second := t.TempDir(), t.TempDir()
	fakeDistribution(t, first, "delta", "4.0.0")
	fakeDistribution(t, second, "epsilon", "5.0.0")
	pth := filepath.Join(userSite, "paths.pth")
	if err := os.WriteFile(pth, []byte(first+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	touch(t, userSite)
	ask("a .pth file added", 5, "alpha v1.0.0", "beta v2.1.0", "delta v4.0.0", "gamma v3.0.0")
	if err := os.WriteFile(pth, []byte(second+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	touch(t, pth)
	ask("a .pth file edited in place", 6, "alpha v1.0.0", "beta v2.1.0", "epsilon v5.0.0", "gamma v3.0.0")
	ask("nothing changed since", 6, "alpha v1.0.0", "beta v2.1.0", "epsilon v5.0.0", "gamma v3.0.0")

	t.Setenv("PYTHONPATH", first)
	ask("PYTHONPATH set", 7, "alpha v1.0.0", "beta v2.1.0", "delta v4.0.0", "epsilon v5.0.0", "gamma v3.0.0")

	if err := os.RemoveAll(filepath.Join(root, "pulumi_alpha-1.0.0.dist-info")); err != nil {
		t.Fatal(err)
	}
	touch(t, root)
	ask("a distribution removed", 8, "beta v2.1.0", "delta v4.0.0", "epsilon v5.0.0", "gamma v3.0.0")
}

func TestParseOptions(t *testing.T) {
	opts, err := parseOptions(map[string]any{"virtualenv": "venv", "toolchain": "pip"})
	if err != nil || opts.Virtualenv != "venv" || opts.Toolchain != "pip" {
		t.Fatalf("parseOptions = %+v, %v", opts, err)
	}
	if _, err := parseOptions(map[string]any{"virtualenv": 3.0}); err == nil {
		t.Error("a non-string option must be rejected")
	}
	if _, err := (runtimeOptions{Toolchain: "conda"}).pythonOptions("/r", "/r"); err == nil ||
		!strings.Contains(err.Error(), "conda") {
		t.Errorf("an unknown toolchain must be rejected naming it, got %v", err)
	}
	if _, err := (runtimeOptions{Typechecker: "pytype"}).pythonOptions("/r", "/r"); err == nil {
		t.Error("an unknown type checker must be rejected")
	}
}

func TestResolveProgramReadsProgramInfo(t *testing.T) {
	options, _ := structpb.NewStruct(map[string]any{"virtualenv": "venv"})
	p, err := resolveProgram(&pulumirpc.ProgramInfo{
		RootDirectory: "/proj", ProgramDirectory: "/proj/src", EntryPoint: "main.py", Options: options,
	}, "/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	if p.root != "/proj" || p.entryPath() != "/proj/src/main.py" || p.options.Virtualenv != "venv" {
		t.Errorf("resolveProgram = root %q entry %q options %+v", p.root, p.entryPath(), p.options)
	}
	p, err = resolveProgram(nil, "/work/prog")
	if err != nil || p.root != "/work/prog" || p.entryPath() != "/work/prog" {
		t.Errorf("without program info the working directory is the program: %+v, %v", p, err)
	}
}

func TestAboutNamesTheInterpreterThatRunsTheProgram(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 on PATH: %v", err)
	}
	want, err := exec.Command(python, "-c", aboutScript).Output()
	if err != nil {
		t.Fatal(err)
	}
	executable, pythonVersion, _ := parseAbout(string(want))
	starts := countStarts(t, python)

	got, err := (&host{}).About(context.Background(), &pulumirpc.AboutRequest{
		Info: &pulumirpc.ProgramInfo{RootDirectory: t.TempDir(), ProgramDirectory: t.TempDir(), EntryPoint: "."},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetExecutable() != executable || got.GetVersion() != pythonVersion {
		t.Errorf("About = %q %q, want %q %q", got.GetExecutable(), got.GetVersion(), executable, pythonVersion)
	}
	if got.GetMetadata()["toolchain"] != "auto" || !strings.HasPrefix(got.GetMetadata()["host"], "go-platform ") {
		t.Errorf("About metadata = %v", got.GetMetadata())
	}
	if n := starts(); n != 1 {
		t.Errorf("About started the interpreter %d times, want once", n)
	}
}

// countStarts puts a python3 first on PATH that notes each start, then runs python; the
// function returned counts the starts so far.
func countStarts(t *testing.T, python string) func() int {
	t.Helper()
	bin, log := t.TempDir(), filepath.Join(t.TempDir(), "starts")
	wrapper := "#!/bin/sh\necho started >> " + log + "\nexec " + python + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "python3"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return func() int {
		logged, err := os.ReadFile(log)
		if errors.Is(err, os.ErrNotExist) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(logged), "started")
	}
}

func TestParseAbout(t *testing.T) {
	executable, pythonVersion, err := parseAbout("/venv/bin/python\n3.11.7\n")
	if err != nil || executable != "/venv/bin/python" || pythonVersion != "3.11.7" {
		t.Errorf("parseAbout = %q %q %v", executable, pythonVersion, err)
	}
	for _, bad := range []string{"", "/venv/bin/python\n", "a\nb\nc"} {
		if _, _, err := parseAbout(bad); err == nil {
			t.Errorf("parseAbout(%q) accepted", bad)
		}
	}
}

func TestAMissingVirtualenvSaysHowToCreateIt(t *testing.T) {
	root := t.TempDir()
	options, _ := structpb.NewStruct(map[string]any{"virtualenv": "venv"})
	p, err := resolveProgram(&pulumirpc.ProgramInfo{
		RootDirectory: root, ProgramDirectory: root, EntryPoint: ".", Options: options,
	}, root)
	if err != nil {
		t.Fatal(err)
	}
	err = p.checkVirtualenv(context.Background())
	if err == nil {
		t.Fatal("a missing virtualenv was accepted")
	}
	for _, want := range []string{filepath.Join(root, "venv"), "`pulumi install`", "`make policy-venv`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %s: %v", want, err)
		}
	}
}

func TestExecutorArgs(t *testing.T) {
	req := &pulumirpc.RunRequest{
		MonitorAddress: "127.0.0.1:1", Project: "go-platform", Stack: "local", Pwd: "/p",
		DryRun: true, Parallel: 0, Organization: "acme", Args: []string{"extra"},
		Info: &pulumirpc.ProgramInfo{RootDirectory: "/p"},
	}
	got := executorArgs(req, "127.0.0.1:2", "", "/p/.")
	want := []string{
		"--monitor", "127.0.0.1:1", "--engine", "127.0.0.1:2", "--project", "go-platform",
		"--stack", "local", "--pwd", "/p", "--dry_run", "true", "--parallel", "0",
		"--root_directory", "/p", "--organization", "acme", "/p/.", "extra",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("executorArgs:\n got %q\nwant %q", got, want)
	}
}

// The runner must change nothing a program sees, only skip the exit's final collection: the
// script runs as __main__ with its own argv, its exit status is kept, non-daemon threads are
// joined and atexit handlers run (after the freeze, so they see it).
func TestRunnerKeepsTheExecutorsExit(t *testing.T) {
	python := python3(t)
	dir := t.TempDir()
	script, out := filepath.Join(dir, "executor"), filepath.Join(dir, "out")
	program := `import atexit, gc, os, sys, threading, time
assert __name__ == "__main__" and __file__ == sys.argv[0], (__name__, __file__, sys.argv)
assert sys.path[0] == os.path.dirname(sys.argv[0]), sys.path
def log(line):
    with open(sys.argv[1], "a") as f:
        f.write(line + "\n")
log("argv=" + ",".join(sys.argv[2:]))
def late():
    time.sleep(0.2)
    log("thread")
threading.Thread(target=late).start()
atexit.register(lambda: log("atexit frozen=%s" % (gc.get_freeze_count() > 0)))
sys.exit(int(sys.argv[2]))
`
	if err := os.WriteFile(script, []byte(program), 0o644); err != nil {
		t.Fatal(err)
	}
	output, err := exec.Command(python, runnerArgs("run", "", script, out, "3", "x")...).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("exit = %v, want status 3; output:\n%s", err, output)
	}
	if got, want := readFile(t, out), "argv=3,x\nthread\natexit frozen=True\n"; got != want {
		t.Errorf("the script left %q, want %q", got, want)
	}

	// An uncaught exception still ends with its traceback and status 1.
	if err := os.WriteFile(script, []byte("raise ValueError('boom')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	output, err = exec.Command(python, runnerArgs("run", "", script)...).CombinedOutput()
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(output), "ValueError: boom") {
		t.Errorf("a failing script: exit %v, output %q", err, output)
	}
}

// A warm start runs the program in the process prepared for it, which imported what the last
// run recorded before the run was asked for, and gives it the run's directory, environment,
// arguments and an empty standard input; its exit status is the run's. Without one prepared
// (or for another program), the run starts cold, with the same result.
func TestWarmStartRunsTheProgramInThePreparedProcess(t *testing.T) {
	python3(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	root, workdir, out := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "out")
	// Preloading stops when the run arrives.
	marker := markerModule(t, "warm_marker")
	executor := filepath.Join(root, "executor")
	report := `import json, os, sys
first = sys.argv[1]
with open(first, "a") as f:
    f.write(json.dumps({
        "pid": os.getpid(), "cwd": os.getcwd(), "args": sys.argv[2:],
        "env": os.environ.get("PULUMI_CONFIG"), "host_only": os.environ.get("HOST_ONLY"),
        "stdin": sys.stdin.read(), "preloaded": "warm_marker" in sys.modules,
    }) + "\n")
sys.exit(7)
`
	if err := os.WriteFile(executor, []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	p := programAt(t, root)
	h := newHost("127.0.0.1:1", "", newChildren())
	run := func() (*pulumirpc.RunResponse, map[string]any) {
		t.Helper()
		cmd, err := p.tc.Command(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		key := warmKey(cmd.Path, p.programDir)
		args := []string{out, "a b", "c"}
		cmd.Args = append(cmd.Args, runnerArgs("run", recordPath(key), executor, args...)...)
		cmd.Dir = workdir
		cmd.Env = append(baseEnv(cmd.Env), `PULUMI_CONFIG={"k":"v"}`)
		response := h.launch(cmd, key, args)
		lines := strings.Split(strings.TrimSpace(readFile(t, out)), "\n")
		var got map[string]any
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
			t.Fatal(err)
		}
		return response, got
	}
	want := func(got map[string]any, response *pulumirpc.RunResponse) {
		t.Helper()
		if response.GetError() != "program exited with non-zero exit code: 7" {
			t.Errorf("response = %v, want exit code 7", response)
		}
		if got["cwd"] != workdir || got["env"] != `{"k":"v"}` || got["stdin"] != "" ||
			!reflect.DeepEqual(got["args"], []any{"a b", "c"}) {
			t.Errorf("the program saw %v", got)
		}
	}

	// Cold: nothing prepared. The runner records nothing from site-packages here (the report
	// imports only the standard library), so a record naming a module is written by hand.
	response, cold := run()
	want(cold, response)
	cmd, _ := p.tc.Command(context.Background())
	record := recordPath(warmKey(cmd.Path, p.programDir))
	if err := os.WriteFile(record, []byte(`["warm_marker"]`), 0o644); err != nil {
		t.Fatal(err)
	}

	// Warm: prepared with a variable the run's environment does not have.
	t.Setenv("HOST_ONLY", "1")
	h.warm.prepare(context.Background(), p, executor)
	prepared := h.warm.ready[warmKey(cmd.Path, p.programDir)]
	if prepared == nil {
		t.Fatal("no warm process was started")
	}
	awaitFile(t, marker) // preloaded: the run may come
	os.Unsetenv("HOST_ONLY")
	response, warm := run()
	want(warm, response)
	if int(warm["pid"].(float64)) != prepared.process.Pid || warm["preloaded"] != true {
		t.Errorf("the run did not use the prepared process (pid %d) or its imports: %v", prepared.process.Pid, warm)
	}
	if warm["host_only"] != nil {
		t.Errorf("the warm process kept the environment it started with: %v", warm)
	}
	if len(h.warm.ready) != 0 {
		t.Errorf("the warm process is still offered after its run: %v", h.warm.ready)
	}

	// A warm process that died before its run: the run starts cold.
	h.warm.prepare(context.Background(), p, executor)
	dead := h.warm.ready[warmKey(cmd.Path, p.programDir)]
	_ = dead.process.Kill()
	<-dead.done
	response, cold = run()
	want(cold, response)
	if int(cold["pid"].(float64)) == dead.process.Pid {
		t.Errorf("the run claims the dead warm process's pid: %v", cold)
	}
}

// Preloading imports modules as the program's own imports did. Pulumi's SDKs load
// subpackages lazily and bind the names of submodules to what they export
// (`from .Thing import *`): the program must see the class, not the submodule.
func TestAWarmStartLoadsLazyPackagesAsTheProgramWould(t *testing.T) {
	site, dir := t.TempDir(), t.TempDir()
	marker := filepath.Join(dir, "imported")
	writeFiles(t, site, map[string]string{
		"lazyroot/__init__.py": `import importlib.util, sys
def lazy(name):
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
sub = lazy("lazyroot.sub")
`,
		"lazyroot/sub/__init__.py": "from .Thing import *\n",
		"lazyroot/sub/Thing.py":    "__all__ = ['Thing']\nclass Thing:\n    pass\n",
		"warm_marker.py":           "open(" + strconv.Quote(marker) + ", 'w').close()\n",
	})
	writeFiles(t, dir, map[string]string{
		"record.json": `["lazyroot", "lazyroot.sub", "lazyroot.sub.Thing", "warm_marker"]`,
		"executor": `import sys
loaded = "lazyroot.sub.Thing" in sys.modules
import lazyroot
open(sys.argv[1], "w").write("%s %s" % (loaded, isinstance(lazyroot.sub.Thing, type)))
`,
	})

	got := runWarm(t, site, dir, marker, nil) // the run comes once everything is preloaded

	if got != "True True" {
		t.Errorf("preloaded, Thing is a class: %q, want %q", got, "True True")
	}
}

// Preloading stops when the run arrives: the program imports the rest itself rather than
// wait for modules it may import later, or never.
func TestAWarmStartStopsPreloadingWhenTheRunArrives(t *testing.T) {
	site, dir := t.TempDir(), t.TempDir()
	started, sent := filepath.Join(dir, "started"), filepath.Join(dir, "sent")
	writeFiles(t, site, map[string]string{
		// Imported first, it says so and returns only once the run has been sent.
		"warm_gate.py": "import os, time\nopen(" + strconv.Quote(started) + ", 'w').close()\n" +
			"while not os.path.exists(" + strconv.Quote(sent) + "):\n    time.sleep(0.01)\ntime.sleep(0.3)\n",
		"warm_after.py": "",
	})
	writeFiles(t, dir, map[string]string{
		"record.json": `["warm_gate", "warm_after"]`,
		"executor": `import sys
open(sys.argv[1], "w").write("%s %s" % ("warm_gate" in sys.modules, "warm_after" in sys.modules))
`,
	})

	got := runWarm(t, site, dir, started, func() { writeFiles(t, dir, map[string]string{"sent": ""}) })

	if got != "True False" {
		t.Errorf("gate preloaded, after preloaded: %q, want %q", got, "True False")
	}
}

// writeFiles writes each file, named relative to dir, creating its directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runWarm runs the runner in warm mode with site on PYTHONPATH, dir/record.json as its
// record and dir/executor as the executor. It sends the run once the file ready exists, then
// calls sent (if not nil), and returns what the executor wrote to the file it is given.
func runWarm(t *testing.T, site, dir, ready string, sent func()) string {
	t.Helper()
	out := filepath.Join(dir, "out")
	cmd := exec.Command(python3(t), runnerArgs("warm", filepath.Join(dir, "record.json"), filepath.Join(dir, "executor"))...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+site)
	run, _ := json.Marshal(warmRun{Dir: dir, Env: envMap(cmd.Env), Args: []string{out}})
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	awaitFile(t, ready)
	_, _ = stdin.Write(append(run, '\n'))
	_ = stdin.Close()
	if sent != nil {
		sent()
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, output.String())
	}
	return readFile(t, out)
}

// A warm process never taken ends when the host closes it.
func TestAWarmProcessNotTakenEndsWithTheHost(t *testing.T) {
	python3(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	root := t.TempDir()
	p := programAt(t, root)
	w := newWarmStarts()
	w.prepare(context.Background(), p, filepath.Join(root, "executor"))
	if len(w.ready) != 1 {
		t.Fatalf("prepared %d warm processes, want 1", len(w.ready))
	}
	var warm *warmProcess
	for _, warm = range w.ready {
	}
	w.close()
	select {
	case <-warm.done:
		if warm.err != nil {
			t.Errorf("the warm process ended with %v, want a clean exit", warm.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the warm process is still running after the host closed it")
	}
}

// The program is noted when the engine asks for its packages, and its warm process starts
// only once a policy pack starts (destroy and refresh, which run no program, start no pack).
func TestAWarmStartBeginsWithAPolicyPack(t *testing.T) {
	python3(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	root := t.TempDir()
	p := programAt(t, root)
	w := newWarmStarts()
	w.prepareExpected(context.Background())
	w.expect(p, filepath.Join(root, "executor"))
	if len(w.ready) != 0 {
		t.Fatalf("started %d warm processes before any pack, want none", len(w.ready))
	}
	w.prepareExpected(context.Background())
	w.prepareExpected(context.Background()) // a second pack: still one
	if len(w.ready) != 1 {
		t.Errorf("started %d warm processes once a pack started, want 1", len(w.ready))
	}
	w.close()
}

func TestWarmStartsCanBeTurnedOff(t *testing.T) {
	for _, value := range []string{"false", "0", "no", "off", "False", "OFF"} {
		t.Setenv(warmStartEnv, value)
		root := t.TempDir()
		p := programAt(t, root)
		w := newWarmStarts()
		w.prepare(context.Background(), p, filepath.Join(root, "executor"))
		if len(w.ready) != 0 {
			t.Errorf("%s=%s still prepared %d warm processes", warmStartEnv, value, len(w.ready))
		}
		w.close()
	}
}

// Every accepted spelling of the warm-start setting, and a clear error for any other value
// (a misspelt "off" must not run warm).
func TestParseWarmStart(t *testing.T) {
	accepted := map[string]warmStartMode{
		"": warmAndEarly, "true": warmAndEarly, "1": warmAndEarly, "yes": warmAndEarly,
		"on": warmAndEarly, "TRUE": warmAndEarly,
		"false": warmOff, "0": warmOff, "no": warmOff, "off": warmOff, "No": warmOff,
		"pack": warmPackOnly, "Pack": warmPackOnly,
	}
	for value, want := range accepted {
		if got, err := parseWarmStart(value); err != nil || got != want {
			t.Errorf("parseWarmStart(%q) = %v, %v; want %v", value, got, err, want)
		}
	}
	for _, value := range []string{"bogus", "disabled", "f", " false", "packs", "2"} {
		_, err := parseWarmStart(value)
		want := fmt.Sprintf("GO_PLATFORM_PYTHON_WARM_START must be true (the default; also 1, yes,"+
			" on), pack, or false (also 0, no, off), got %q", value)
		if err == nil || err.Error() != want {
			t.Errorf("parseWarmStart(%q): error %v, want %q", value, err, want)
		}
	}
}

// A host started with a value it does not accept stops before it serves, with that error.
func TestAnUnknownWarmStartSettingStopsTheHost(t *testing.T) {
	t.Setenv(warmStartEnv, "bogus")
	err := run([]string{"127.0.0.1:1"})
	if err == nil || !strings.HasPrefix(err.Error(), warmStartEnv+" must be ") {
		t.Fatalf("run = %v, want the %s error", err, warmStartEnv)
	}
}

// programAt resolves the program whose project and entry point are the directory root.
func programAt(t *testing.T, root string) *program {
	t.Helper()
	p, err := resolveProgram(&pulumirpc.ProgramInfo{RootDirectory: root, ProgramDirectory: root, EntryPoint: "."}, root)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// markerModule puts a module named name on PYTHONPATH that, when imported, creates the file
// it returns: a test sees whether a warm or early process preloaded it.
func markerModule(t *testing.T, name string) string {
	t.Helper()
	site, marker := t.TempDir(), filepath.Join(t.TempDir(), "imported")
	module := "open(" + strconv.Quote(marker) + ", 'w').close()\n"
	if err := os.WriteFile(filepath.Join(site, name+".py"), []byte(module), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PYTHONPATH", site)
	return marker
}

func python3(t *testing.T) string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 on PATH: %v", err)
	}
	return python
}

// awaitFile waits for path to exist.
func awaitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear", path)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestProgramEnv(t *testing.T) {
	if got := programEnv(nil, nil); !reflect.DeepEqual(got, []string{"PULUMI_CONFIG_SECRET_KEYS=[]"}) {
		t.Errorf("no config: %q (PULUMI_CONFIG must be absent, secret keys an empty list)", got)
	}
	got := programEnv(map[string]string{"go-platform:domain": "a.b"}, []string{"go-platform:token"})
	want := []string{
		`PULUMI_CONFIG={"go-platform:domain":"a.b"}`,
		`PULUMI_CONFIG_SECRET_KEYS=["go-platform:token"]`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("programEnv = %q, want %q", got, want)
	}
}

func TestAnalyzerEnv(t *testing.T) {
	if got := analyzerEnv(nil); got != nil {
		t.Errorf("without a stack configuration the pack gets no stack variables, got %q", got)
	}
	got := analyzerEnv(&pulumirpc.AnalyzerStackConfigureRequest{
		Project: "go-platform", Stack: "local", DryRun: true, Organization: "acme",
		Config: map[string]string{"go-platform:environment": "local"},
	})
	want := []string{
		"PULUMI_PROJECT=go-platform", "PULUMI_STACK=local", "PULUMI_DRY_RUN=true",
		"PULUMI_ORGANIZATION=acme", `PULUMI_CONFIG={"go-platform:environment":"local"}`,
		"PULUMI_CONFIG_SECRET_KEYS=[]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("analyzerEnv = %q, want %q", got, want)
	}
}

func TestExitResponse(t *testing.T) {
	run := func(script string) *pulumirpc.RunResponse {
		return runResult(newChildren(), exec.Command("sh", "-c", script))
	}
	if got := run("exit 0"); got.Error != "" || got.Bail {
		t.Errorf("exit 0: %+v", got)
	}
	if got := run("exit 32"); !got.Bail || got.Error != "" {
		t.Errorf("exit 32 must bail without a second error: %+v", got)
	}
	if got := run("exit 3"); got.Error != "program exited with non-zero exit code: 3" {
		t.Errorf("exit 3: %+v", got)
	}
	if got := run("kill -9 $$"); !strings.Contains(got.Error, "killed") {
		t.Errorf("a killed program is reported as stopped: %+v", got)
	}
}

func TestChildrenInterrupt(t *testing.T) {
	c := newChildren()
	done := startTracked(t, c, exec.Command("sleep", "30"))
	started := time.Now()
	c.interrupt()
	c.wait(10 * time.Second)
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("the child is still running after interrupt and wait")
	}
	if elapsed := time.Since(started); elapsed > childGracePeriod {
		t.Errorf("SIGINT should stop sleep at once, took %v", elapsed)
	}
}

func TestChildrenStopWaitsForAChildEndingByItself(t *testing.T) {
	c := newChildren()
	// A program that is already ending gets to finish with its own status, not SIGINT.
	done := startTracked(t, c, exec.Command("sh", "-c", "sleep 0.3; exit 7"))
	c.stop(2 * time.Second)
	err := <-done
	if got := exitResponse(err); got.Error != "program exited with non-zero exit code: 7" {
		t.Errorf("stop must not interrupt a child that ends within the patience: %+v", got)
	}
}

// startTracked starts cmd as a tracked child and waits for it in the background, as the host
// does; the channel gets its exit.
func startTracked(t *testing.T, c *children, cmd *exec.Cmd) <-chan error {
	t.Helper()
	if err := c.start(cmd); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		c.finished(cmd.Process)
		done <- err
	}()
	return done
}
