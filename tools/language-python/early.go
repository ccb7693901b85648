//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The early start: the warm start (warm.go) begun from the CLI's first host.
//
// As a preview or update starts, the CLI asks a language host `About` (for the update's
// metadata), then closes it, and most of a second later (the passphrase's key, the state)
// starts another host to run the program. Meanwhile only the CLI works and the second core
// is idle, while the program's imports take one to two seconds of CPU before its first
// registration (docs/PERFORMANCE.md, twelfth round). So the `About` host starts the runner
// in `early` mode: in a session of its own (the CLI kills the host's process group), with
// no standard streams, listening on an abstract Unix socket named after the user, the
// interpreter and program, and the CLI's process. The host that runs the program, a child
// of the same CLI, claims it over that socket (claimEarly) where it would start a warm
// process itself; the runner answers with its process ID, the host sends the run with its
// own standard output and error, and the runner sends back the exit status. Not claimed,
// it ends with the CLI.
//
// The `About` host binds the socket itself and hands it to the runner (descriptor 3), so
// the socket is there from the moment the process is: a claim that comes while the
// interpreter still starts (a loaded machine) waits for it in the socket's queue instead of
// missing it and starting the program over in a new process.

// earlyCommands are the CLI commands that run the program as their first operation.
var earlyCommands = map[string]bool{"preview": true, "pre": true, "up": true, "update": true}

// valuedGlobalFlags are the CLI's global flags that take a value, which may follow as the
// next argument (`--cwd DIR`, `-C DIR`, `-v 9`); the rest of its global flags are switches.
var valuedGlobalFlags = map[string]bool{
	"-C": true, "--cwd": true, "-v": true, "--verbose": true, "--color": true,
	"--tracing": true, "--tracing-header": true, "--otel-traces": true,
	"--profiling": true, "--memprofilerate": true,
}

// runsProgram says whether a CLI started with args (its own name first) runs a program: the
// first argument that is neither a flag nor a global flag's value names the command. A flag
// it does not know that takes a separate value reads as its value: no early start, as
// without one (and a value that names a command only starts a process that ends with the
// CLI).
func runsProgram(args []string) bool {
	for i := min(1, len(args)); i < len(args); i++ {
		arg := args[i]
		switch {
		case valuedGlobalFlags[arg]:
			i++ // its value
		case !strings.HasPrefix(arg, "-"):
			return earlyCommands[arg]
		}
	}
	return false
}

// cliArgs are the command line of process pid.
func cliArgs(pid int) []string {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
}

// earlySocket names the abstract Unix socket (Linux's namespace of socket names, no file)
// of the early process for key started under the CLI process owner. Anyone may bind or
// connect to such a name, so both ends check that the other runs as this user
// (SO_PEERCRED): another user's process can neither send a run nor answer a claim.
func earlySocket(key string, owner int) string {
	return fmt.Sprintf("go-platform-python-early-%d-%s-%d", os.Getuid(), digest(key), owner)
}

// cliRunsProgram says whether this host's CLI runs a program first (a preview or update).
func (w *warmStarts) cliRunsProgram() bool {
	return runsProgram(cliArgs(w.cli))
}

// startEarly starts the early process of p for the CLI; failing to is not an error (the run
// then starts as before).
func (w *warmStarts) startEarly(p *program, executor string) {
	owner := w.cli
	if w.disabled || !w.early {
		return
	}
	// Not the RPC's context: the process must outlive the call, and this host.
	cmd, err := p.tc.Command(context.Background())
	if err != nil {
		return
	}
	key := warmKey(cmd.Path, p.programDir)
	socket := earlySocket(key, owner)
	listener, err := listenEarly(socket)
	if err != nil {
		return // offered already (About asked twice), or taken by a process of another user
	}
	defer listener.Close() // the runner holds its own copy
	cmd.Args = append(cmd.Args, runnerArgs("early", recordPath(key), executor, socket, strconv.Itoa(owner))...)
	cmd.Dir = p.programDir
	cmd.Env = baseEnv(cmd.Env)
	cmd.ExtraFiles = []*os.File{listener}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err == nil {
		go func() { _ = cmd.Wait() }() // reaped, should it end while this host still runs
	}
}

// listenEarly binds the abstract socket name and returns the listening socket as a file to
// hand to the runner.
func listenEarly(name string) (*os.File, error) {
	listener, err := net.ListenUnix("unix", &net.UnixAddr{Name: "@" + name, Net: "unix"})
	if err != nil {
		return nil, err
	}
	defer listener.Close() // File is a duplicate, which keeps the socket open
	return listener.File()
}

// claimTimeout bounds how long a claim waits for the early process to take it: most of it
// is the interpreter's start, when the run came sooner than it (well under a second).
const claimTimeout = 30 * time.Second

// errNoStatus is a claimed early process's end without a status: killed, or crashed.
var errNoStatus = errors.New("the program's process ended without reporting its exit status")

// claimEarly connects to the early process for key that this host's CLI started, if there
// is one, and returns it ready for its run; nil otherwise.
func (w *warmStarts) claimEarly(key string) *warmProcess {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: "@" + earlySocket(key, w.cli), Net: "unix"})
	if err != nil {
		return nil
	}
	// The socket's credentials are those of the host that bound it (the same user's,
	// unless another user took the name first); the process is the one the runner names.
	cred, err := peer(conn)
	if err != nil || int(cred.Uid) != os.Getuid() {
		_ = conn.Close()
		return nil
	}
	reader := bufio.NewReader(conn)
	pid, err := readPID(conn, reader)
	if err != nil {
		_ = conn.Close()
		return nil
	}
	process, err := os.FindProcess(pid)
	if err != nil {
		_ = conn.Close()
		return nil
	}
	warm := &warmProcess{
		process: process,
		send: func(line []byte) error {
			// The streams travel with the first byte; the rest follows as a plain write.
			rights := syscall.UnixRights(int(os.Stdout.Fd()), int(os.Stderr.Fd()))
			if _, _, err := conn.WriteMsgUnix(line[:1], rights, nil); err != nil {
				return err
			}
			_, err := conn.Write(line[1:])
			return err
		},
		release: func() { _ = conn.Close() },
		done:    make(chan struct{}),
	}
	go func() {
		warm.err = readStatus(reader)
		_ = conn.Close()
		close(warm.done)
	}()
	return warm
}

// readPID waits (up to claimTimeout) for the early process to take the claim: its first
// line, {"pid": N}. An error means it ended first, or never answered.
func readPID(conn net.Conn, reader *bufio.Reader) (int, error) {
	if err := conn.SetReadDeadline(time.Now().Add(claimTimeout)); err != nil {
		return 0, err
	}
	line, err := reader.ReadBytes('\n')
	if err != nil {
		return 0, err
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return 0, err
	}
	var hello struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal(line, &hello); err != nil || hello.PID <= 0 {
		return 0, fmt.Errorf("early process: not a process ID: %q", line)
	}
	return hello.PID, nil
}

// readStatus waits for the early process's last line, {"exit": N}: nil for 0.
func readStatus(reader *bufio.Reader) error {
	line, err := reader.ReadBytes('\n')
	if err != nil {
		return errNoStatus
	}
	var status struct {
		Exit *int `json:"exit"`
	}
	if json.Unmarshal(line, &status) != nil || status.Exit == nil {
		return errNoStatus
	}
	if *status.Exit == 0 {
		return nil
	}
	return &reportedExit{code: *status.Exit}
}

// peer is the process at the other end of a Unix socket.
func peer(conn *net.UnixConn) (*syscall.Ucred, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, credErr
}
