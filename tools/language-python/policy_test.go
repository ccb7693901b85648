package main

// Invariants guarded here: the engine reaches a Python pack through this host's policy server;
// remediation calls reach the pack exactly while one of its policies may remediate (its own
// level or the engine's configuration), and are answered empty, as the pack would, otherwise;
// the pack's own output after its port still reaches the engine.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// fakePackEnv makes the test binary a policy pack (TestMain): its value is the pack's
// policies and their own enforcement levels, as JSON.
const fakePackEnv = "GO_PLATFORM_TEST_FAKE_PACK"

// fakePackRemediation is the policy every remediation of the fake pack names, so a test can
// tell the pack's answer from the host's.
const fakePackRemediation = "answered-by-the-pack"

func TestMain(m *testing.M) {
	if policies := os.Getenv(fakePackEnv); policies != "" {
		if err := serveFakePack(policies); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type fakePack struct {
	pulumirpc.UnimplementedAnalyzerServer
	policies map[string]pulumirpc.EnforcementLevel
}

func (p *fakePack) GetAnalyzerInfo(context.Context, *emptypb.Empty) (*pulumirpc.AnalyzerInfo, error) {
	info := &pulumirpc.AnalyzerInfo{Name: "fake", SupportsConfig: true}
	for name, level := range p.policies {
		info.Policies = append(info.Policies, &pulumirpc.PolicyInfo{Name: name, EnforcementLevel: level})
	}
	return info, nil
}

func (p *fakePack) ConfigureStack(
	context.Context, *pulumirpc.AnalyzerStackConfigureRequest,
) (*pulumirpc.AnalyzerStackConfigureResponse, error) {
	return &pulumirpc.AnalyzerStackConfigureResponse{}, nil
}

func (p *fakePack) Configure(context.Context, *pulumirpc.ConfigureAnalyzerRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (p *fakePack) Remediate(context.Context, *pulumirpc.AnalyzeRequest) (*pulumirpc.RemediateResponse, error) {
	return &pulumirpc.RemediateResponse{
		Remediations: []*pulumirpc.Remediation{{PolicyName: fakePackRemediation}},
	}, nil
}

// serveFakePack announces its port as a pack does, says one more line, and serves until its
// standard input closes.
func serveFakePack(policies string) error {
	pack := &fakePack{}
	if err := json.Unmarshal([]byte(policies), &pack.policies); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	pulumirpc.RegisterAnalyzerServer(srv, pack)
	fmt.Printf("%d\nthe pack is serving\n", lis.Addr().(*net.TCPAddr).Port)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		srv.Stop()
	}()
	return srv.Serve(lis)
}

// startPolicyServer runs RunPlugin's part for a fake pack with these policies: the engine's
// client, and the lines the engine reads from the plugin's output after the port.
func startPolicyServer(
	t *testing.T, policies map[string]pulumirpc.EnforcementLevel,
) (pulumirpc.AnalyzerClient, <-chan string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, stdout := io.Pipe()
	lines := make(chan string, 16)
	go func() {
		scanner := bufio.NewScanner(out)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
		close(lines)
	}()
	server, packStdout, err := newPolicyServer(ctx, stdout)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(<-lines)
	if err != nil {
		t.Fatalf("the first line is not the server's port: %v", err)
	}

	encoded, err := json.Marshal(policies)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fakePackEnv+"="+string(encoded))
	cmd.Stdout = packStdout
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	attached := make(chan error, 1)
	go func() {
		if _, err := server.AwaitConfiguration(ctx); err != nil {
			attached <- err
			return
		}
		if err := cmd.Start(); err != nil {
			server.Abort(err)
			attached <- err
			return
		}
		attached <- server.Attach(ctx, cmd)
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case err := <-attached:
			if err != nil {
				t.Errorf("the pack's attachment ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the pack did not end when its input closed")
		}
		cancel()
	})

	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := pulumirpc.NewAnalyzerClient(conn)
	if _, err := client.ConfigureStack(ctx, &pulumirpc.AnalyzerStackConfigureRequest{Stack: "dev"}); err != nil {
		t.Fatal(err)
	}
	return client, lines
}

// remediatedBy says who answered a remediation call: "pack" or "host" (an empty answer).
func remediatedBy(t *testing.T, client pulumirpc.AnalyzerClient) string {
	t.Helper()
	resp, err := client.Remediate(context.Background(), &pulumirpc.AnalyzeRequest{
		Urn: "urn:pulumi:dev::p::kubernetes:apps/v1:Deployment::web", Type: "kubernetes:apps/v1:Deployment",
	})
	if err != nil {
		t.Fatal(err)
	}
	switch r := resp.GetRemediations(); {
	case len(r) == 0 && len(resp.GetNotApplicable()) == 0:
		return "host"
	case len(r) == 1 && r[0].GetPolicyName() == fakePackRemediation:
		return "pack"
	default:
		t.Fatalf("unexpected remediation answer %v", resp)
		return ""
	}
}

// expectAnswerer fails the test unless a remediation call is answered by want ("pack" or
// "host"); when says at which step.
func expectAnswerer(t *testing.T, client pulumirpc.AnalyzerClient, want, when string) {
	t.Helper()
	if got := remediatedBy(t, client); got != want {
		t.Fatalf("%s, a remediation was answered by the %s", when, got)
	}
}

func configure(t *testing.T, client pulumirpc.AnalyzerClient, levels map[string]pulumirpc.EnforcementLevel) {
	t.Helper()
	req := &pulumirpc.ConfigureAnalyzerRequest{PolicyConfig: map[string]*pulumirpc.PolicyConfig{}}
	for name, level := range levels {
		req.PolicyConfig[name] = &pulumirpc.PolicyConfig{EnforcementLevel: level}
	}
	if _, err := client.Configure(context.Background(), req); err != nil {
		t.Fatal(err)
	}
}

func TestRemediationReachesThePackOnlyWhileAPolicyMayRemediate(t *testing.T) {
	client, _ := startPolicyServer(t, map[string]pulumirpc.EnforcementLevel{
		"limits": pulumirpc.EnforcementLevel_MANDATORY,
		"labels": pulumirpc.EnforcementLevel_ADVISORY,
	})
	expectAnswerer(t, client, "pack", "before the pack's policies are known")
	if _, err := client.GetAnalyzerInfo(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	expectAnswerer(t, client, "host", "with no policy at the remediate level")
	configure(t, client, map[string]pulumirpc.EnforcementLevel{
		"limits": pulumirpc.EnforcementLevel_MANDATORY, "labels": pulumirpc.EnforcementLevel_REMEDIATE,
	})
	expectAnswerer(t, client, "pack", "with a policy configured to remediate")
	// A later configuration replaces the earlier one, as it does in the pack.
	configure(t, client, map[string]pulumirpc.EnforcementLevel{"labels": pulumirpc.EnforcementLevel_DISABLED})
	expectAnswerer(t, client, "host", "after remediation was configured away")
}

func TestAPolicyThatRemediatesByItsOwnLevelIsAsked(t *testing.T) {
	client, _ := startPolicyServer(t, map[string]pulumirpc.EnforcementLevel{
		"labels": pulumirpc.EnforcementLevel_REMEDIATE,
	})
	if _, err := client.GetAnalyzerInfo(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	expectAnswerer(t, client, "pack", "a policy remediating by its own level")
	// A configuration that leaves the policy out keeps its own level, as in the pack.
	configure(t, client, map[string]pulumirpc.EnforcementLevel{"other": pulumirpc.EnforcementLevel_MANDATORY})
	expectAnswerer(t, client, "pack", "a configuration without the policy")
}

func TestThePacksOutputAfterItsPortReachesTheEngine(t *testing.T) {
	client, lines := startPolicyServer(t, map[string]pulumirpc.EnforcementLevel{})
	configure(t, client, nil) // answered once the pack is attached
	select {
	case line := <-lines:
		if line != "the pack is serving" {
			t.Fatalf("the engine read %q after the port, not the pack's output", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pack's output did not reach the engine")
	}
}

func TestAfterFirstLine(t *testing.T) {
	var out strings.Builder
	w := &afterFirstLine{w: &out}
	for _, chunk := range []string{"123", "45\nfirst ", "output\n", "more\n"} {
		if n, err := w.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if got := out.String(); got != "first output\nmore\n" {
		t.Fatalf("got %q", got)
	}
}
