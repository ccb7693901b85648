// Command pulumi-language-python is go-platform's own Python language host for the Pulumi
// engine.
//
// The engine starts a language host to run a Python program (`pulumi preview`, `pulumi up`)
// and to start Python policy packs (`--policy-pack`). Pulumi's own host lives in a Go module
// that is published nowhere this project's machines can reach, so go-platform builds this one
// from the SDK's published packages instead: the generated protocol, rpcutil for serving and
// health checks, the python/toolchain package for virtualenvs and the SDK's policy proxy.
// Programs run through the executor script the SDK ships (pulumi-language-python-exec), which
// the toolchain bootstrap installs beside this binary.
//
// Usage (as the engine calls it):
//
//	pulumi-language-python [--logtostderr] [-v=N] [--tracing ENDPOINT] ENGINE_ADDRESS
//
// The host prints the port it serves on as the first line of standard output.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// version is stamped at build time (-X main.version=...).
var version = "0.0.0-dev"

// engineHealthInterval is how often the host checks that the engine that started it is alive;
// a host whose engine died exits instead of lingering.
const engineHealthInterval = 5 * time.Second

func main() {
	if err := run(os.Args[1:]); err != nil {
		cmdutil.Exit(err)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("pulumi-language-python", flag.ContinueOnError)
	tracing := flags.String("tracing", "", "emit tracing to the given endpoint")
	logToStderr := flags.Bool("logtostderr", false, "log to standard error")
	verbose := flags.Int("v", 0, "log verbosity")
	flags.String("root", "", "ignored (older engines pass the project root here)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	logging.InitLogging(*logToStderr, *verbose, false)
	if flags.NArg() < 1 {
		return fmt.Errorf("usage: pulumi-language-python [flags] ENGINE_ADDRESS")
	}
	engineAddress := flags.Arg(flags.NArg() - 1)
	// A wrong setting stops the host before it serves: the engine shows this error (the host's
	// standard error) instead of running programs differently from what was asked.
	if _, err := parseWarmStart(os.Getenv(warmStartEnv)); err != nil {
		return err
	}

	// Ctrl-C reaches the engine's whole process group, this host included: stop what the host
	// started before leaving, so no Python process outlives the operation.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	children := newChildren()
	host := newHost(engineAddress, *tracing, children)

	cancel := make(chan bool, 1)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.OTelServerInterceptorOptions(),
	})
	if err != nil {
		return fmt.Errorf("could not start the language host's gRPC server: %w", err)
	}
	// The engine reads the port from the first line of standard output.
	fmt.Println(handle.Port)

	// Stop serving when the engine goes away: it will never call Cancel then.
	go func() {
		_ = rpcutil.Healthcheck(ctx, engineAddress, engineHealthInterval, func() {
			children.interrupt()
			cancel <- true
		})
	}()

	go func() {
		<-signals
		children.interrupt()
		cancel <- true
	}()

	if err := <-handle.Done; err != nil {
		return fmt.Errorf("language host stopped: %w", err)
	}
	host.warm.close()
	children.wait(childGracePeriod)
	return nil
}
