package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	pulumisdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// policyServer is the Analyzer service the engine reaches for a Python policy pack. The SDK's
// policy proxy does the work: it answers until the engine names the stack, then the host
// starts the pack with that configuration and the proxy hands every call to it. This server
// answers one call itself: the engine asks the pack to remediate every resource before it
// analyses it, one call at a time, yet only a policy at the `remediate` enforcement level
// ever remediates anything. While the pack has none, the pack's answer is known without
// asking it (an empty one), and the round trip, a few milliseconds of the pack's gRPC
// server and decoding, is saved from every registration (docs/toolchain.md).
type policyServer struct {
	*pulumisdk.PolicyProxy
	levels enforcementLevels
}

// newPolicyServer starts the server and announces its port on stdout, where the engine reads
// it. It returns the writer for the pack's own standard output, which the proxy reads the
// pack's port from.
func newPolicyServer(ctx context.Context, stdout io.Writer) (*policyServer, io.Writer, error) {
	// The proxy announces its own port on the stdout it is given; the engine is to call this
	// server instead, so that line is dropped and this server's port announced in its place.
	// The proxy's own listener, which no one calls then, stops with ctx, as this one does.
	proxy, packStdout, err := pulumisdk.NewPolicyProxy(ctx, &afterFirstLine{w: stdout})
	if err != nil {
		return nil, nil, err
	}
	s := &policyServer{PolicyProxy: proxy}

	cancel := make(chan bool, 1)
	go func() {
		<-ctx.Done()
		cancel <- true
	}()
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterAnalyzerServer(srv, s)
			return nil
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("could not start the policy pack's gRPC server: %w", err)
	}
	if _, err := fmt.Fprintf(stdout, "%d\n", handle.Port); err != nil {
		return nil, nil, err
	}
	return s, packStdout, nil
}

// GetAnalyzerInfo notes the pack's policies' own enforcement levels.
func (s *policyServer) GetAnalyzerInfo(ctx context.Context, req *emptypb.Empty) (*pulumirpc.AnalyzerInfo, error) {
	info, err := s.PolicyProxy.GetAnalyzerInfo(ctx, req)
	if err == nil {
		s.levels.declared(info)
	}
	return info, err
}

// Configure notes the enforcement levels the engine configures (the pack's own, a policy
// config file's and "all" reconciled, one per policy).
func (s *policyServer) Configure(
	ctx context.Context, req *pulumirpc.ConfigureAnalyzerRequest,
) (*emptypb.Empty, error) {
	resp, err := s.PolicyProxy.Configure(ctx, req)
	if err == nil {
		s.levels.configured(req)
	}
	return resp, err
}

// Remediate answers for the pack when none of its policies can remediate.
func (s *policyServer) Remediate(
	ctx context.Context, req *pulumirpc.AnalyzeRequest,
) (*pulumirpc.RemediateResponse, error) {
	if !s.levels.mayRemediate() {
		return &pulumirpc.RemediateResponse{}, nil
	}
	return s.PolicyProxy.Remediate(ctx, req)
}

// enforcementLevels follows each policy's effective enforcement level the way the policy SDK
// decides it: the level of the engine's latest configuration for the policy, else the
// policy's own (the pack's default where the policy has none, as its info reports it).
type enforcementLevels struct {
	mu     sync.Mutex
	known  bool
	own    map[string]pulumirpc.EnforcementLevel
	config map[string]pulumirpc.EnforcementLevel
}

// declared notes the policies' own levels, as the pack's info reports them.
func (e *enforcementLevels) declared(info *pulumirpc.AnalyzerInfo) {
	own := make(map[string]pulumirpc.EnforcementLevel, len(info.GetPolicies()))
	for _, p := range info.GetPolicies() {
		own[p.GetName()] = p.GetEnforcementLevel()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.known, e.own = true, own
}

// configured notes a configuration's levels; each replaces the last, as in the pack.
func (e *enforcementLevels) configured(req *pulumirpc.ConfigureAnalyzerRequest) {
	configured := make(map[string]pulumirpc.EnforcementLevel, len(req.GetPolicyConfig()))
	for name, c := range req.GetPolicyConfig() {
		configured[name] = c.GetEnforcementLevel()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.config = configured
}

// mayRemediate says whether a remediation call could change anything: true until the pack's
// policies are known, then while any of them is at the remediate level.
func (e *enforcementLevels) mayRemediate() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.known {
		return true
	}
	for name, level := range e.own {
		if c, ok := e.config[name]; ok {
			level = c
		}
		if level == pulumirpc.EnforcementLevel_REMEDIATE {
			return true
		}
	}
	return false
}

// afterFirstLine writes everything but the first line to w.
type afterFirstLine struct {
	w      io.Writer
	passed bool
}

func (a *afterFirstLine) Write(p []byte) (int, error) {
	if a.passed {
		return a.w.Write(p)
	}
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		return len(p), nil
	}
	a.passed = true
	if _, err := a.w.Write(p[i+1:]); err != nil {
		return 0, err
	}
	return len(p), nil
}
