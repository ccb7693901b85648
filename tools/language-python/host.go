package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// executorScript is the SDK's program runner, installed beside this binary by the bootstrap.
const executorScript = "pulumi-language-python-exec"

// bailExitCode is the executor's exit status for "the program failed and already reported
// why": the engine then prints no second, less precise error.
const bailExitCode = 32

// host implements the engine's LanguageRuntime service for Python.
type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	tracing       string
	children      *children
	warm          *warmStarts
}

func newHost(engineAddress, tracing string, children *children) *host {
	return &host{
		engineAddress: engineAddress, tracing: tracing, children: children, warm: newWarmStarts(),
	}
}

func (h *host) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

// Handshake is called when the engine attaches to a host that is already running
// (PULUMI_DEBUG_LANGUAGES); it tells the host where the engine is.
func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.mu.Lock()
		h.engineAddress = req.GetEngineAddress()
		h.mu.Unlock()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// GetRequiredPackages lists the resource plugins the program's installed packages declare.
func (h *host) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	p, err := resolveProgram(req.GetInfo(), "")
	if err != nil {
		return nil, err
	}
	if err := p.checkVirtualenv(ctx); err != nil {
		return nil, err
	}
	dists, err := installedDistributions(ctx, p)
	if err != nil {
		return nil, err
	}
	packages, err := requiredPackages(dists)
	if err != nil {
		return nil, err
	}
	// The engine asks this before it runs the program, and before destroy and refresh, which
	// do not: the program is only noted here, for a warm start once a policy pack starts.
	if script, err := executorPath(); err == nil {
		h.warm.expect(p, script)
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: packages}, nil
}

// GetProgramDependencies lists the program's installed packages (pulumi about, --json).
func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	p, err := resolveProgram(req.GetInfo(), req.GetPwd())
	if err != nil {
		return nil, err
	}
	if err := p.checkVirtualenv(ctx); err != nil {
		return nil, err
	}
	listed, err := p.tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(listed))
	for _, dep := range listed {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: dep.Name, Version: dep.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// About names the Python that runs the program and the toolchain that manages it. The CLI
// asks on every preview and update (the update's environment metadata), so this is one short
// interpreter start: the toolchain package's own About also imports pip for its version
// (about 0.3 s of CPU each time), which the answer does not carry.
func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	p, err := resolveProgram(req.GetInfo(), "")
	if err != nil {
		return nil, err
	}
	cmd, err := p.tc.Command(ctx, "-c", aboutScript)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("asking %s for its version: %w", cmd.Path, err)
	}
	executable, pythonVersion, err := parseAbout(string(out))
	if err != nil {
		return nil, err
	}
	// The CLI asks this as its command starts, most of a second before it asks another host
	// to run the program: a preview or update starts the program's imports now (early.go).
	if script, err := executorPath(); err == nil && h.warm.cliRunsProgram() {
		h.warm.startEarly(p, script)
	}
	toolchainName := p.options.Toolchain
	if toolchainName == "" {
		toolchainName = "auto"
	}
	return &pulumirpc.AboutResponse{
		Executable: executable,
		Version:    pythonVersion,
		Metadata: map[string]string{
			"host":      "go-platform pulumi-language-python " + version,
			"toolchain": toolchainName,
		},
	}, nil
}

// aboutScript prints the interpreter's path and version, one per line.
const aboutScript = "import platform, sys; print(sys.executable); print(platform.python_version())"

// parseAbout reads aboutScript's two lines.
func parseAbout(out string) (executable, pythonVersion string, err error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] == "" || lines[1] == "" {
		return "", "", fmt.Errorf("unexpected answer from the interpreter: %q", out)
	}
	return strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1]), nil
}

// InstallDependencies creates the virtualenv and installs the program's requirements when
// they are missing (pulumi install, pulumi new); with a ready virtualenv it does nothing.
func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	ctx := server.Context()
	p, err := resolveProgram(req.GetInfo(), req.GetDirectory())
	if err != nil {
		return err
	}
	if p.tc.ValidateVenv(ctx) == nil && p.options.Virtualenv != "" {
		return nil
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()
	return p.tc.InstallDependencies(
		ctx, p.root, req.GetUseLanguageVersionTools(), true /*showOutput*/, stdout, stderr)
}

// Cancel stops every Python process this host started: each gets a moment to end by
// itself, then SIGINT, then SIGKILL after a grace period. (Ctrl-C needs none of this: the
// engine signals the host's process group, programs included.)
func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.children.stop(cancelPatience)
	return &emptypb.Empty{}, nil
}

// Run executes the program through the SDK's executor script, which connects it to the
// engine's resource monitor.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	p, err := resolveProgram(req.GetInfo(), req.GetPwd())
	if err != nil {
		return nil, err
	}
	if err := p.checkVirtualenv(ctx); err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if failure := h.typecheck(ctx, p); failure != "" {
		return &pulumirpc.RunResponse{Error: failure}, nil
	}
	script, err := executorPath()
	if err != nil {
		return nil, err
	}
	// The program must outlive a cancelled RPC long enough to be interrupted cleanly.
	cmd, err := p.tc.Command(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	key := warmKey(cmd.Path, p.programDir)
	args := executorArgs(req, h.engine(), h.tracing, p.entryPath())
	cmd.Args = append(cmd.Args, runnerArgs("run", recordPath(key), script, args...)...)
	cmd.Dir = req.GetPwd()
	cmd.Env = append(baseEnv(cmd.Env), programEnv(req.GetConfig(), req.GetConfigSecretKeys())...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return h.launch(cmd, key, args), nil
}

// launch runs the program cmd describes, with the executor arguments args: in the warm
// process started for key when there is one, else by starting cmd.
func (h *host) launch(cmd *exec.Cmd, key string, args []string) *pulumirpc.RunResponse {
	if warm := h.warm.take(key); warm != nil {
		dir := cmd.Dir
		if dir == "" {
			dir, _ = os.Getwd()
		}
		if err := warm.start(warmRun{Dir: dir, Env: envMap(cmd.Env), Args: args}); err == nil {
			h.children.track(warm.process)
			err := warm.wait()
			h.children.finished(warm.process)
			return exitResponse(err)
		}
	}
	return runResult(h.children, cmd)
}

// runResult starts cmd, waits for it and maps its exit status onto the engine's answer.
func runResult(children *children, cmd *exec.Cmd) *pulumirpc.RunResponse {
	if err := children.start(cmd); err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not start %s: %v", cmd.Path, err)}
	}
	err := cmd.Wait()
	children.finished(cmd.Process)
	return exitResponse(err)
}

// exitResponse: exit 0 is success, the executor's bail status means the program already
// reported its error, anything else is reported with its exit code or signal.
func exitResponse(err error) *pulumirpc.RunResponse {
	if err == nil {
		return &pulumirpc.RunResponse{}
	}
	var exit *exec.ExitError
	var reported *reportedExit
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case errors.As(err, &reported):
		code = reported.code
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program failed: %v", err)}
	}
	switch {
	case code == bailExitCode:
		return &pulumirpc.RunResponse{Bail: true}
	case code == -1 && exit != nil:
		return &pulumirpc.RunResponse{Error: "program was stopped: " + exit.String()}
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited with non-zero exit code: %d", code)}
	}
}

// typecheck runs the configured type checker over the program; it returns the failure to
// report, or "" when the program passes or no checker is configured.
func (h *host) typecheck(ctx context.Context, p *program) string {
	checker := strings.ToLower(p.options.Typechecker)
	if checker == "" {
		return ""
	}
	cmd, err := p.tc.ModuleCommand(ctx, checker, p.programDir)
	if err != nil {
		return fmt.Sprintf("%s: %v", checker, err)
	}
	cmd.Dir = p.programDir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("%s type checking failed: %v", checker, err)
	}
	return ""
}

// executorArgs are the executor script's flags for one run, then the program and its args.
func executorArgs(req *pulumirpc.RunRequest, engineAddress, tracing, entry string) []string {
	args := []string{
		"--monitor", req.GetMonitorAddress(),
		"--engine", engineAddress,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		// The executor parses this as an integer, so it is always passed.
		"--parallel", strconv.Itoa(int(req.GetParallel())),
	}
	if root := req.GetInfo().GetRootDirectory(); root != "" {
		args = append(args, "--root_directory", root)
	}
	if tracing != "" {
		args = append(args, "--tracing", tracing)
	}
	if org := req.GetOrganization(); org != "" {
		args = append(args, "--organization", org)
	}
	return append(append(args, entry), req.GetArgs()...)
}

// programEnv passes the stack's configuration the way the Python SDK reads it. An empty
// configuration is left out: the SDK's loader does not accept a JSON null.
func programEnv(config map[string]string, secretKeys []string) []string {
	var env []string
	if len(config) > 0 {
		encoded, _ := json.Marshal(config)
		env = append(env, "PULUMI_CONFIG="+string(encoded))
	}
	if secretKeys == nil {
		secretKeys = []string{}
	}
	encoded, _ := json.Marshal(secretKeys)
	return append(env, "PULUMI_CONFIG_SECRET_KEYS="+string(encoded))
}

// baseEnv is the environment a command starts from: the toolchain's, or the host's own.
func baseEnv(env []string) []string {
	if env == nil {
		return os.Environ()
	}
	return env
}

// executorPath finds the executor script beside this binary (symlinks resolved).
func executorPath() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	script := filepath.Join(filepath.Dir(self), executorScript)
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("the Python executor %s is missing beside the language host;"+
			" reinstall the toolchain (make toolchain)", script)
	}
	return script, nil
}

// RunPlugin starts a Python policy pack (kind "analyzer") for the engine.
func (h *host) RunPlugin(
	req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	if kind := req.GetKind(); kind != "analyzer" {
		return status.Errorf(codes.Unimplemented,
			"go-platform's Python language host runs policy packs (kind analyzer), not plugins of kind %q", kind)
	}
	ctx := server.Context()
	// The engine runs the program once its policy packs have started, most of a second from
	// now: the program's interpreter starts importing meanwhile (warm.go).
	h.warm.prepareExpected(ctx)
	p, err := resolveProgram(req.GetInfo(), req.GetPwd())
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := p.checkVirtualenv(ctx); err != nil {
		return err
	}

	// Python packs learn the stack from environment variables set at start-up, but the
	// engine names the stack only in ConfigureStack, after the pack's port is known. The
	// SDK's proxy answers for the pack until then, and starts it with the configuration
	// (policy.go).
	analyzer, packStdout, err := newPolicyServer(ctx, stdout)
	if err != nil {
		return err
	}
	config, err := analyzer.AwaitConfiguration(ctx)
	if err != nil {
		return err
	}
	packDir := req.GetProgram()
	if packDir == "" {
		packDir = p.programDir
	}
	args := append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
	cmd, err := p.tc.Command(context.WithoutCancel(ctx), append(args, packDir)...)
	if err != nil {
		analyzer.Abort(err)
		return err
	}
	cmd.Dir = req.GetPwd()
	env := req.GetEnv()
	if len(env) == 0 {
		env = baseEnv(cmd.Env)
	} else if cmd.Env != nil {
		env = append(cmd.Env, env...) // the engine's variables win over the toolchain's
	}
	cmd.Env = append(env, analyzerEnv(config)...)
	cmd.Stdout, cmd.Stderr = packStdout, stderr
	if err := h.children.start(cmd); err != nil {
		analyzer.Abort(err)
		return err
	}
	attachErr := analyzer.Attach(ctx, cmd)
	h.children.finished(cmd.Process)
	code := int32(0)
	if cmd.ProcessState != nil {
		code = int32(cmd.ProcessState.ExitCode())
	}
	if sendErr := server.Send(&pulumirpc.RunPluginResponse{
		Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code},
	}); sendErr != nil {
		return sendErr
	}
	var exit *exec.ExitError
	if attachErr != nil && !errors.As(attachErr, &exit) {
		return attachErr
	}
	return nil
}

// analyzerEnv tells a Python policy pack which stack it analyses. Without a configuration
// (`pulumi policy publish` asks the pack for its info only) the pack starts with none.
func analyzerEnv(config *pulumirpc.AnalyzerStackConfigureRequest) []string {
	if config == nil {
		return nil
	}
	env := []string{
		"PULUMI_PROJECT=" + config.GetProject(),
		"PULUMI_STACK=" + config.GetStack(),
		"PULUMI_DRY_RUN=" + strconv.FormatBool(config.GetDryRun()),
	}
	if org := config.GetOrganization(); org != "" {
		env = append(env, "PULUMI_ORGANIZATION="+org)
	}
	return append(env, programEnv(config.GetConfig(), config.GetConfigSecretKeys())...)
}

// withStderr adds a failed command's standard error to its error.
func withStderr(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(exit.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(exit.Stderr)))
	}
	return err
}
