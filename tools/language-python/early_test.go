//go:build linux

package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestRunsProgram(t *testing.T) {
	for args, want := range map[string]bool{
		"pulumi preview --stack local":                     true,
		"pulumi pre":                                       true,
		"pulumi up --yes --skip-preview":                   true,
		"pulumi --non-interactive up --yes --skip-preview": true,
		"pulumi update":                                    true,
		"pulumi destroy --yes":                             false,
		"pulumi refresh --yes":                             false,
		"pulumi stack output --json":                       false,
		"pulumi about":                                     false,
		"pulumi --cwd project up":                          true,
		"pulumi -C up preview":                             true,
		"pulumi -v 9 --color never pre":                    true,
		"pulumi --cwd=project up":                          true,
		"pulumi --cwd up destroy":                          false,
		"pulumi -v9 refresh":                               false,
		"pulumi --cwd":                                     false,
		"pulumi --unknown value up":                        false,
		"pulumi":                                           false,
		"":                                                 false,
	} {
		if got := runsProgram(strings.Fields(args)); got != want {
			t.Errorf("runsProgram(%q) = %v, want %v", args, got, want)
		}
	}
}

// earlyFixture is a program whose executor reports what it saw (as in the warm start's
// test), the marker module the record names, and a host whose CLI is this test's process.
type earlyFixture struct {
	p        *program
	h        *host
	executor string
	out      string
	marker   string
	key      string
}

func newEarlyFixture(t *testing.T) *earlyFixture {
	t.Helper()
	python3(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	root, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	marker := markerModule(t, "early_marker")
	executor := filepath.Join(root, "executor")
	report := `import json, os, sys
print("to stdout")
print("to stderr", file=sys.stderr)
with open(sys.argv[1], "w") as f:
    json.dump({"pid": os.getpid(), "cwd": os.getcwd(), "args": sys.argv[2:],
               "preloaded": "early_marker" in sys.modules, "mode": sys.orig_argv[4]}, f)
sys.exit(int(sys.argv[2]))
`
	if err := os.WriteFile(executor, []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	p := programAt(t, root)
	cmd, err := p.tc.Command(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	key := warmKey(cmd.Path, p.programDir)
	if err := os.MkdirAll(filepath.Dir(recordPath(key)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recordPath(key), []byte(`["early_marker"]`), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHost("127.0.0.1:1", "", newChildren())
	h.warm.cli = os.Getpid()
	return &earlyFixture{p: p, h: h, executor: executor, out: out, marker: marker, key: key}
}

// run launches the program as Run does, with its standard streams captured in files.
func (f *earlyFixture) run(t *testing.T, status int) (string, map[string]any) {
	t.Helper()
	cmd, err := f.p.tc.Command(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	args := []string{f.out, strconv.Itoa(status)}
	cmd.Args = append(cmd.Args, runnerArgs("run", recordPath(f.key), f.executor, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = baseEnv(cmd.Env)
	streams := filepath.Join(t.TempDir(), "streams")
	file, err := os.Create(streams)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = file, file
	cmd.Stdout, cmd.Stderr = file, file
	response := f.h.launch(cmd, f.key, args)
	os.Stdout, os.Stderr = stdout, stderr
	_ = file.Close()
	var seen map[string]any
	if err := json.Unmarshal([]byte(readFile(t, f.out)), &seen); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, streams); !strings.Contains(got, "to stdout") || !strings.Contains(got, "to stderr") {
		t.Errorf("the program's output did not reach the host's streams: %q", got)
	}
	if seen["cwd"] != cmd.Dir {
		t.Errorf("the program ran in %v, want %s", seen["cwd"], cmd.Dir)
	}
	return response.GetError(), seen
}

// The About host's early process runs the program for the host that claims it: imported
// ahead, writing to the claiming host's streams, its exit status the run's.
func TestAnEarlyProcessRunsTheProgramOfTheHostThatClaimsIt(t *testing.T) {
	f := newEarlyFixture(t)
	f.h.warm.startEarly(f.p, f.executor)
	socket := earlySocket(f.key, os.Getpid())
	awaitListening(t, socket)
	awaitFile(t, f.marker) // preloaded before the run was asked for

	failure, seen := f.run(t, 7)
	if failure != "program exited with non-zero exit code: 7" {
		t.Errorf("the run's result = %q, want exit code 7", failure)
	}
	if seen["mode"] != "early" || seen["preloaded"] != true {
		t.Errorf("the run did not use the early process or its imports: %v", seen)
	}
	if listening(socket) {
		t.Errorf("the claimed process's socket is still offered")
	}

	// Claimed and gone: the next run starts as before, and succeeds with status 0.
	failure, seen = f.run(t, 0)
	if failure != "" || seen["mode"] != "run" {
		t.Errorf("the next run: %q in mode %v, want a cold run's success", failure, seen["mode"])
	}
}

// A run that comes before its early process listens (on a loaded machine the CLI can reach
// the run before the interpreter it started at About has) waits for that process rather than
// starting the program over in a new one.
func TestARunWaitsForAnEarlyProcessStillStarting(t *testing.T) {
	f := newEarlyFixture(t)
	f.h.warm.startEarly(f.p, f.executor)
	if _, err := os.Stat(f.marker); err == nil {
		t.Fatal("the early process preloaded as it was started: the interpreter cannot start that fast")
	}

	if failure, seen := f.run(t, 0); failure != "" || seen["mode"] != "early" {
		t.Errorf("the run: %q in mode %v, want the early process", failure, seen["mode"])
	}
}

// The claimed process is the runner, as it names itself: the socket's credentials are those
// of the host that bound it (here, this test), which the run's interrupts must not reach.
func TestAClaimedEarlyProcessIsTheRunner(t *testing.T) {
	f := newEarlyFixture(t)
	f.h.warm.startEarly(f.p, f.executor)
	claimed := f.h.warm.claimEarly(f.key)
	if claimed == nil {
		t.Fatal("no early process to claim")
	}
	defer claimed.release()
	args := cliArgs(claimed.process.Pid)
	if !slices.Contains(args, "early") || !slices.Contains(args, earlySocket(f.key, os.Getpid())) {
		t.Errorf("the claimed process %d runs %.80q, not the early runner", claimed.process.Pid, args)
	}
}

// A policy pack's start claims the early process as its warm start, rather than starting one.
func TestAPolicyPacksStartClaimsTheEarlyProcess(t *testing.T) {
	f := newEarlyFixture(t)
	f.h.warm.startEarly(f.p, f.executor)
	awaitListening(t, earlySocket(f.key, os.Getpid()))
	f.h.warm.prepare(context.Background(), f.p, f.executor)
	if failure, seen := f.run(t, 0); failure != "" || seen["mode"] != "early" {
		t.Errorf("the run after the pack's start: %q in mode %v, want the early process", failure, seen["mode"])
	}
}

// An early process nobody claims ends with the CLI that caused it, and one whose claimer goes
// without a run ends then.
func TestAnEarlyProcessNotClaimedEndsWithItsCLI(t *testing.T) {
	f := newEarlyFixture(t)
	cli := exec.Command("sleep", "1")
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	f.h.warm.cli = cli.Process.Pid
	f.h.warm.startEarly(f.p, f.executor)
	socket := earlySocket(f.key, cli.Process.Pid)
	awaitListening(t, socket)
	_ = cli.Wait()
	awaitGone(t, socket)

	f.h.warm.cli = os.Getpid()
	f.h.warm.startEarly(f.p, f.executor)
	awaitListening(t, earlySocket(f.key, os.Getpid()))
	f.h.warm.prepare(context.Background(), f.p, f.executor)
	var claimed *warmProcess
	for _, claimed = range f.h.warm.ready {
	}
	f.h.warm.close()
	select {
	case <-claimed.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the early process still runs after its claimer let it go")
	}
}

func TestEarlyStartsCanBeTurnedOff(t *testing.T) {
	for _, value := range []string{"false", "off", "0", "pack"} {
		t.Setenv(warmStartEnv, value)
		f := newEarlyFixture(t)
		f.h.warm.startEarly(f.p, f.executor)
		time.Sleep(200 * time.Millisecond)
		if listening(earlySocket(f.key, os.Getpid())) {
			t.Errorf("%s=%s still started an early process", warmStartEnv, value)
		}
	}
}

// listening says whether a process listens on the abstract Unix socket name.
func listening(name string) bool {
	table, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(table), "\n") {
		// Num RefCount Protocol Flags Type St Inode Path; a listener's flags are __SO_ACCEPTCON
		// (its accepted connections carry the name too).
		fields := strings.Fields(line)
		if len(fields) == 8 && fields[3] == "00010000" && fields[7] == "@"+name {
			return true
		}
	}
	return false
}

func awaitListening(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if listening(name) {
			return
		}
	}
	t.Fatalf("nothing listens on @%s", name)
}

func awaitGone(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !listening(name) {
			return
		}
	}
	t.Fatalf("something still listens on @%s", name)
}

// A status an early process reports reads as the same status of a child's.
func TestAReportedExitStatusReadsAsAChildsOwn(t *testing.T) {
	if !exitResponse(&reportedExit{code: bailExitCode}).GetBail() {
		t.Error("the executor's bail status, reported, is not a bail")
	}
	if got := exitResponse(&reportedExit{code: 3}).GetError(); got != "program exited with non-zero exit code: 3" {
		t.Errorf("status 3 reported: %q", got)
	}
	if got := exitResponse(errNoStatus).GetError(); !strings.Contains(got, "without reporting its exit status") {
		t.Errorf("no status: %q", got)
	}
}
