package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// runtimeOptions are the `runtime.options` of Pulumi.yaml (or PulumiPolicy.yaml) that decide
// which Python runs a program.
type runtimeOptions struct {
	// Virtualenv is the virtual environment directory, relative to the project root.
	Virtualenv string
	// Toolchain is pip, uv or poetry; empty means detect (uv.lock, poetry.lock, else pip).
	Toolchain string
	// Typechecker is mypy or pyright; empty for none.
	Typechecker string
}

// parseOptions reads runtime options, rejecting values that would otherwise be ignored.
func parseOptions(values map[string]any) (runtimeOptions, error) {
	var opts runtimeOptions
	for key, value := range values {
		text, ok := value.(string)
		if !ok {
			return opts, fmt.Errorf("runtime option %q must be a string, got %T", key, value)
		}
		switch key {
		case "virtualenv":
			opts.Virtualenv = text
		case "toolchain":
			opts.Toolchain = text
		case "typechecker":
			opts.Typechecker = text
		}
	}
	return opts, nil
}

// pythonOptions maps runtime options onto the SDK toolchain's settings.
func (o runtimeOptions) pythonOptions(root, programDir string) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{Root: root, ProgramDir: programDir, Virtualenv: o.Virtualenv}
	switch strings.ToLower(o.Toolchain) {
	case "", "auto":
		opts.Toolchain = toolchain.Auto
	case "pip":
		opts.Toolchain = toolchain.Pip
	case "uv":
		opts.Toolchain = toolchain.Uv
	case "poetry":
		opts.Toolchain = toolchain.Poetry
	default:
		return opts, fmt.Errorf("runtime option toolchain: %q is not one of pip, uv, poetry", o.Toolchain)
	}
	switch strings.ToLower(o.Typechecker) {
	case "":
		opts.Typechecker = toolchain.TypeCheckerNone
	case "mypy":
		opts.Typechecker = toolchain.TypeCheckerMypy
	case "pyright":
		opts.Typechecker = toolchain.TypeCheckerPyright
	default:
		return opts, fmt.Errorf("runtime option typechecker: %q is not one of mypy, pyright", o.Typechecker)
	}
	return opts, nil
}

// program is where a program (or policy pack) lives and how to run its Python.
type program struct {
	root       string
	programDir string
	entryPoint string
	options    runtimeOptions
	tc         toolchain.Toolchain
}

// resolveProgram reads the program info the engine sends with most calls. Older engines send
// only a working directory, which then stands for both root and program directory.
func resolveProgram(info *pulumirpc.ProgramInfo, pwd string) (*program, error) {
	p := &program{root: pwd, programDir: pwd, entryPoint: "."}
	if info != nil {
		if info.GetRootDirectory() != "" {
			p.root = info.GetRootDirectory()
		}
		if info.GetProgramDirectory() != "" {
			p.programDir = info.GetProgramDirectory()
		}
		if info.GetEntryPoint() != "" {
			p.entryPoint = info.GetEntryPoint()
		}
		opts, err := parseOptions(info.GetOptions().AsMap())
		if err != nil {
			return nil, err
		}
		p.options = opts
	}
	if p.root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		p.root, p.programDir = wd, wd
	}
	pyOpts, err := p.options.pythonOptions(p.root, p.programDir)
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(pyOpts)
	if err != nil {
		return nil, err
	}
	p.tc = tc
	return p, nil
}

// entryPath is the program the executor runs: a directory (its __main__.py) or a file.
func (p *program) entryPath() string {
	if filepath.IsAbs(p.entryPoint) {
		return p.entryPoint
	}
	return filepath.Join(p.programDir, p.entryPoint)
}

// checkVirtualenv turns a missing or broken virtualenv into an error that says how to fix it,
// instead of a Python "No module named pulumi" later.
func (p *program) checkVirtualenv(ctx context.Context) error {
	if p.options.Virtualenv == "" {
		return nil
	}
	if err := p.tc.ValidateVenv(ctx); err != nil {
		venv, _ := p.tc.VirtualEnvPath(ctx)
		return fmt.Errorf("the virtualenv %s (runtime option virtualenv: %s) is not ready: %v;"+
			" create it with `pulumi install` (in go-platform: `make venv`, for the policy pack"+
			" `make policy-venv`)", venv, p.options.Virtualenv, err)
	}
	return nil
}
