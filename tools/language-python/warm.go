package main

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// runnerScript runs the SDK's executor script, now or after a warm start (runner.py says how).
//
//go:embed runner.py
var runnerScript string

// warmStartEnv turns warm starts off when set to "false" (runs then start cold, as Pulumi's
// own host starts them), or keeps only those a policy pack's start begins when set to
// "pack" (no early start: early.go). parseWarmStart lists every accepted spelling.
const warmStartEnv = "GO_PLATFORM_PYTHON_WARM_START"

// warmStartMode is what warmStartEnv asks for.
type warmStartMode int

const (
	warmAndEarly warmStartMode = iota // the default: warm starts, and early ones (early.go)
	warmPackOnly                      // the warm start a policy pack's start begins, no early start
	warmOff                           // every run starts cold
)

// parseWarmStart reads warmStartEnv's value (case aside): unset, empty, "true", "1", "yes"
// or "on" is the default; "false", "0", "no" or "off" turns warm starts off; "pack" keeps
// those a pack's start begins. Anything else is an error naming the variable, the accepted
// values and the value given, so that a misspelt "off" is not silently "on".
func parseWarmStart(value string) (warmStartMode, error) {
	switch strings.ToLower(value) {
	case "", "true", "1", "yes", "on":
		return warmAndEarly, nil
	case "false", "0", "no", "off":
		return warmOff, nil
	case "pack":
		return warmPackOnly, nil
	}
	return warmAndEarly, fmt.Errorf("%s must be true (the default; also 1, yes, on), pack, or"+
		" false (also 0, no, off), got %q", warmStartEnv, value)
}

// warmStarts holds the Python processes started ahead of a program's run: one per
// interpreter and program, each importing what that program's last run imported from
// site-packages while the engine starts the policy packs (or, claimed from the CLI's `About`
// host, since the command began: early.go). A run takes the one started for it; one never
// taken ends when the host lets it go (closes its standard input or its socket) or exits.
//
// The engine asks GetRequiredPackages before every deployment, then starts the policy packs
// (RunPlugin), then runs the program. A pack takes most of a second to start, time the
// program's imports can use; without a pack the run follows at once and a warm start gains
// nothing, and destroy and refresh run no program at all (there a warm process only took
// CPU from the operation: docs/PERFORMANCE.md, eighth round). So GetRequiredPackages notes
// the program (expect) and a pack's start starts its warm process (prepareExpected).
type warmStarts struct {
	mu       sync.Mutex
	disabled bool
	early    bool // early starts from the About host (early.go) too
	cli      int  // the CLI's process, this host's parent: whose early processes it may claim
	ready    map[string]*warmProcess
	expected *expectedRun
}

// expectedRun is the program GetRequiredPackages named last, and its executor.
type expectedRun struct {
	program  *program
	executor string
}

// warmProcess is a started runner waiting for the run to make: on its standard input when
// this host started it, on a Unix socket when the host the CLI asked `About` did (early.go).
type warmProcess struct {
	process *os.Process
	send    func(line []byte) error // sends the run, one JSON line
	release func()                  // lets a process that gets no run end
	done    chan struct{}           // closed when the process has exited; then err is its status
	err     error
}

// reportedExit is the exit status an early process sent for its run (early.go).
type reportedExit struct{ code int }

func (e *reportedExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// wait blocks until the process has exited and returns its status: what exec.Cmd.Wait
// returned, or what an early process reported (early.go).
func (warm *warmProcess) wait() error {
	<-warm.done
	return warm.err
}

// warmRun is what the runner reads on its standard input: the run's working directory,
// complete environment and executor arguments.
type warmRun struct {
	Dir  string            `json:"dir"`
	Env  map[string]string `json:"env"`
	Args []string          `json:"args"`
}

// newWarmStarts sets warm starts up as warmStartEnv asks; run refuses a value it does not
// accept before any host is made, so an error here cannot happen (and would be the default).
func newWarmStarts() *warmStarts {
	mode, _ := parseWarmStart(os.Getenv(warmStartEnv))
	return &warmStarts{
		disabled: mode == warmOff,
		early:    mode == warmAndEarly,
		cli:      os.Getppid(),
		ready:    map[string]*warmProcess{},
	}
}

// runnerArgs are the interpreter's arguments for the runner in one mode.
func runnerArgs(mode, record, executor string, args ...string) []string {
	return append([]string{"-u", "-c", runnerScript, mode, record, executor}, args...)
}

// warmKey names the interpreter and the program a warm process is for.
func warmKey(python, programDir string) string {
	return python + "\x00" + programDir
}

// recordPath is where the runner keeps the modules a program's runs import.
func recordPath(key string) string {
	return cacheFile("python-warm-start", key)
}

// cacheFile is the file for key among the host's kind of cached files, in the user's cache
// directory (outside the program and its virtualenv); "" when there is none.
func cacheFile(kind, key string) string {
	cache, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(cache, "go-platform", kind, digest(key)+".json")
}

// digest is a short name for key: the first 8 bytes of its SHA-256, in hex.
func digest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// expect notes the program the engine will run if a policy pack starts.
func (w *warmStarts) expect(p *program, executor string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expected = &expectedRun{program: p, executor: executor}
}

// prepareExpected starts the warm process of the program expect noted, if any.
func (w *warmStarts) prepareExpected(ctx context.Context) {
	w.mu.Lock()
	expected := w.expected
	w.mu.Unlock()
	if expected != nil {
		w.prepare(ctx, expected.program, expected.executor)
	}
}

// prepare starts a warm process for p unless one is ready or warm starts are off. Failing
// to start one is not an error: the run then starts cold.
func (w *warmStarts) prepare(ctx context.Context, p *program, executor string) {
	if w.disabled {
		return
	}
	cmd, err := p.tc.Command(context.WithoutCancel(ctx))
	if err != nil {
		return
	}
	key := warmKey(cmd.Path, p.programDir)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.ready[key]; ok {
		return
	}
	if early := w.claimEarly(key); early != nil {
		w.ready[key] = early
		return
	}
	cmd.Args = append(cmd.Args, runnerArgs("warm", recordPath(key), executor)...)
	cmd.Dir = p.programDir
	cmd.Env = baseEnv(cmd.Env)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return
	}
	if err := cmd.Start(); err != nil {
		return
	}
	warm := &warmProcess{
		process: cmd.Process,
		send: func(line []byte) error {
			_, err := stdin.Write(line)
			if closeErr := stdin.Close(); err == nil {
				err = closeErr
			}
			return err
		},
		release: func() { _ = stdin.Close() },
		done:    make(chan struct{}),
	}
	go func() { // one Wait for its whole life: taken by a run or not
		warm.err = cmd.Wait()
		close(warm.done)
	}()
	w.ready[key] = warm
}

// take hands the warm process for key to a run: the one prepared, else an early one the
// CLI's `About` host started; nil when there is none.
func (w *warmStarts) take(key string) *warmProcess {
	w.mu.Lock()
	defer w.mu.Unlock()
	warm := w.ready[key]
	delete(w.ready, key)
	if warm == nil && !w.disabled {
		warm = w.claimEarly(key)
	}
	return warm
}

// close ends every warm process not taken.
func (w *warmStarts) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, warm := range w.ready {
		warm.release()
		delete(w.ready, key)
	}
}

// start sends the warm process its run. On an error (the process is gone, or its pipe
// failed) the process is stopped, and the caller starts the run cold.
func (warm *warmProcess) start(run warmRun) error {
	select {
	case <-warm.done:
		return fmt.Errorf("warm start: the process had exited: %v", warm.err)
	default:
	}
	line, err := json.Marshal(run)
	if err == nil {
		err = warm.send(append(line, '\n'))
	}
	if err != nil {
		_ = warm.process.Kill()
		return fmt.Errorf("warm start: %w", err)
	}
	return nil
}

// envMap is an environment list as a map; of duplicate keys the last wins, as in os/exec.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}
