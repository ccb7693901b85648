package main

import (
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// childGracePeriod is how long a Python process may take to finish after SIGINT (flushing
// the resource monitor, closing gRPC channels) before it is killed.
const childGracePeriod = 5 * time.Second

// cancelPatience is how long Cancel lets a program end by itself before interrupting it.
const cancelPatience = 2 * time.Second

// children tracks the Python processes the host started (programs and policy packs), so that
// Cancel and a signal to the host stop exactly those, and wait for them to go.
type children struct {
	mu      sync.Mutex
	running map[*os.Process]chan struct{}
}

func newChildren() *children {
	return &children{running: map[*os.Process]chan struct{}{}}
}

// start starts cmd and tracks it until wait returns.
func (c *children) start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	c.track(cmd.Process)
	return nil
}

// track tracks a process started elsewhere (a warm start) until finished is called for it.
func (c *children) track(process *os.Process) {
	c.mu.Lock()
	c.running[process] = make(chan struct{})
	c.mu.Unlock()
}

// finished records that a started process has ended.
func (c *children) finished(process *os.Process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if done, ok := c.running[process]; ok {
		close(done)
		delete(c.running, process)
	}
}

// interrupt asks every running child to stop (SIGINT, as Ctrl-C would), and kills those
// still running after the grace period.
func (c *children) interrupt() {
	c.stop(0)
}

// stop lets every running child finish on its own for `patience`, then interrupts it
// (SIGINT) and kills it if it is still running after the grace period. The engine calls
// Cancel when an operation ends early, often while the program is already failing on its
// own: a moment's patience spares the user a KeyboardInterrupt traceback on top of the
// real error.
func (c *children) stop(patience time.Duration) {
	c.mu.Lock()
	pending := make(map[*os.Process]chan struct{}, len(c.running))
	for process, done := range c.running {
		pending[process] = done
	}
	c.mu.Unlock()
	for process, done := range pending {
		go func() {
			select {
			case <-done:
				return
			case <-time.After(patience):
			}
			_ = process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(childGracePeriod):
				_ = process.Signal(syscall.SIGKILL)
			}
		}()
	}
}

// wait blocks until every child has finished, or the timeout passes.
func (c *children) wait(timeout time.Duration) {
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		var next chan struct{}
		for _, done := range c.running {
			next = done
			break
		}
		c.mu.Unlock()
		if next == nil {
			return
		}
		select {
		case <-next:
		case <-deadline:
			return
		}
	}
}
