package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// listDistributions is run by the program's own Python: one process lists the installed
// distributions that can hold a Pulumi plugin, with the pulumi-plugin.json each ships, if any.
// A distribution whose RECORD never mentions "pulumi" cannot, and is skipped before its
// metadata is parsed: that keeps the pass at a fraction of `pip list` (bench/language_host_bench.py).
//
// It also reports what its answer depends on ("watch": path -> modification time in ns, -1
// for a path that does not exist): every entry of the search path (a directory's time changes
// when a distribution in it is installed, upgraded or removed), the user site directory even
// before it exists, each .pth file (editable installs add search paths), and each
// pulumi-plugin.json read.
const listDistributions = `
import importlib.metadata, json, os, site, sys
watch = {}
def note(path):
    path = os.path.abspath(path)
    try:
        watch[path] = os.stat(path).st_mtime_ns
    except OSError:
        watch[path] = -1
search = list(sys.path)
if site.ENABLE_USER_SITE:
    search.append(site.getusersitepackages())
for entry in search:
    note(entry or ".")
    try:
        names = os.listdir(entry or ".")
    except OSError:
        continue
    for name in names:
        if name.endswith(".pth"):
            note(os.path.join(entry, name))
found = []
for dist in importlib.metadata.distributions():
    record = dist.read_text("RECORD") or ""
    if "pulumi" not in record:
        continue
    entry = {"name": dist.metadata["Name"] or "", "version": dist.version or ""}
    if "pulumi-plugin.json" in record:
        for f in dist.files or ():
            if f.name == "pulumi-plugin.json":
                note(f.locate())
                try:
                    entry["plugin"] = json.loads(f.read_text(encoding="utf-8"))
                except (OSError, ValueError) as error:
                    entry["pluginError"] = f"{f.locate()}: {error}"
                break
    found.append(entry)
json.dump({"dists": found, "watch": watch}, sys.stdout)
`

// distribution is one installed Python package, as listDistributions reports it.
type distribution struct {
	Name        string                   `json:"name"`
	Version     string                   `json:"version"`
	Plugin      *plugin.PulumiPluginJSON `json:"plugin"`
	PluginError string                   `json:"pluginError"`
}

// packageListing is listDistributions' answer: the distributions, and the modification
// times of the paths they were found through.
type packageListing struct {
	Dists []distribution   `json:"dists"`
	Watch map[string]int64 `json:"watch"`
}

// current says whether every watched path still has the time it was listed with (-1: still
// absent), so that the listing would come out the same.
func (l *packageListing) current() bool {
	if len(l.Watch) == 0 {
		return false
	}
	for path, listed := range l.Watch {
		info, err := os.Stat(path)
		switch {
		case err != nil:
			if listed != -1 {
				return false
			}
		case info.ModTime().UnixNano() != listed:
			return false
		}
	}
	return true
}

// packagesLifetime is how long a listing not rewritten is kept: one per interpreter and
// program directory, and tests leave programs in temporary directories behind.
const packagesLifetime = 14 * 24 * time.Hour

// installedDistributions lists the packages of the program's Python environment. The engine
// asks before every preview, update, refresh and destroy, and starting the interpreter for it
// costs a tenth of a second or more, on the way to the program's run; so the listing is kept
// in the user's cache directory and reused while no path it watches has changed.
func installedDistributions(ctx context.Context, p *program) ([]distribution, error) {
	cmd, err := p.tc.Command(ctx, "-c", listDistributions)
	if err != nil {
		return nil, err
	}
	cmd.Dir = p.programDir
	cached := cacheFile("python-packages", listingKey(cmd))
	if listing, err := readListing(cached); err == nil && listing.current() {
		return listing.Dists, nil
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing installed Python packages with %s: %w", cmd.Path, withStderr(err))
	}
	var listing packageListing
	if err := json.Unmarshal(out, &listing); err != nil {
		return nil, fmt.Errorf("reading the installed Python packages: %w", err)
	}
	writeListing(cached, out)
	return listing.Dists, nil
}

// listingKey names what a listing is for: the interpreter, its arguments (the script, so a
// host that lists differently never reads an older host's listing), the directory it runs
// in, and the environment variables that move Python's search path.
func listingKey(cmd *exec.Cmd) string {
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	parts := append([]string{cmd.Path, cmd.Dir}, cmd.Args...)
	for _, entry := range env {
		if strings.HasPrefix(entry, "PYTHON") || strings.HasPrefix(entry, "VIRTUAL_ENV=") {
			parts = append(parts, entry)
		}
	}
	sort.Strings(parts[2+len(cmd.Args):])
	return strings.Join(parts, "\x00")
}

func readListing(path string) (*packageListing, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var listing packageListing
	if err := json.Unmarshal(data, &listing); err != nil {
		return nil, err
	}
	return &listing, nil
}

// writeListing keeps a listing for the next call, and deletes listings not rewritten for
// packagesLifetime. Failing to is not an error: the next call lists again.
func writeListing(path string, listing []byte) {
	if path == "" {
		return
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	partial := fmt.Sprintf("%s.%d", path, os.Getpid())
	if err := os.WriteFile(partial, listing, 0o644); err != nil {
		return
	}
	if err := os.Rename(partial, path); err != nil {
		_ = os.Remove(partial)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, entry := range entries {
		if info, err := entry.Info(); err == nil && time.Since(info.ModTime()) > packagesLifetime {
			_ = os.Remove(filepath.Join(dir, entry.Name()))
		}
	}
}

// packagesWithoutPlugins are `pulumi-` distributions that are not resource providers.
var packagesWithoutPlugins = map[string]bool{"pulumi-policy": true}

// requiredPackages picks, from the installed distributions, the resource plugins the program
// needs: those whose pulumi-plugin.json says so, and (for packages too old to ship one) those
// named pulumi-<provider>. The result is sorted by name for a stable answer.
func requiredPackages(dists []distribution) ([]*pulumirpc.PackageDependency, error) {
	var packages []*pulumirpc.PackageDependency
	for _, dist := range dists {
		name := normalizeName(dist.Name)
		if dist.PluginError != "" {
			return nil, fmt.Errorf("package %s has an unreadable pulumi-plugin.json: %s", name, dist.PluginError)
		}
		info := dist.Plugin
		if info == nil {
			if !strings.HasPrefix(name, "pulumi-") || packagesWithoutPlugins[name] {
				continue
			}
			info = &plugin.PulumiPluginJSON{Resource: true}
		}
		if !info.Resource {
			continue
		}
		dep := &pulumirpc.PackageDependency{Kind: "resource", Name: info.Name, Server: info.Server}
		if dep.Name == "" {
			dep.Name = strings.TrimPrefix(name, "pulumi-")
		}
		version := info.Version
		if version == "" {
			converted, err := semverOf(dist.Version)
			if err != nil {
				return nil, fmt.Errorf("package %s: %w", name, err)
			}
			version = converted
		}
		if !strings.HasPrefix(version, "v") {
			version = "v" + version
		}
		dep.Version = version
		if param := info.Parameterization; param != nil {
			dep.Parameterization = &pulumirpc.PackageParameterization{
				Name: param.Name, Version: param.Version, Value: param.Value,
			}
		}
		if ext := info.ExtensionParameterization; ext != nil {
			dep.Extension = &pulumirpc.PackageParameterization{
				Name: ext.Name, Version: ext.Version, Value: ext.Value,
			}
		}
		packages = append(packages, dep)
	}
	sort.Slice(packages, func(i, j int) bool { return packages[i].Name < packages[j].Name })
	return packages, nil
}

var nameSeparators = regexp.MustCompile(`[-_.]+`)

// normalizeName is PEP 503's normal form of a distribution name.
func normalizeName(name string) string {
	return strings.ToLower(nameSeparators.ReplaceAllString(name, "-"))
}

// pep440 matches the public version forms that occur in practice: release, pre-release
// (a, b, rc), post-release, development release and a local label.
var pep440 = regexp.MustCompile(`^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?` +
	`(?:[-_.]?(alpha|beta|rc|a|b|c)[-_.]?(\d*))?` +
	`(?:[-_.]?(post|rev|r)[-_.]?(\d*))?` +
	`(?:[-_.]?(dev)[-_.]?(\d*))?` +
	`(?:\+([a-z0-9.]+))?$`)

var preReleaseNames = map[string]string{
	"a": "alpha", "alpha": "alpha", "b": "beta", "beta": "beta", "c": "rc", "rc": "rc",
}

// semverOf turns a Python (PEP 440) version into the semantic version plugins are known by:
// 4.21.4 -> 4.21.4, 1.2 -> 1.2.0, 1.0.0a1 -> 1.0.0-alpha.1, 1.0.0rc2 -> 1.0.0-rc.2,
// 1.0.0.dev3 -> 1.0.0-dev.3, 1.0.0.post1 -> 1.0.0+post.1.
func semverOf(version string) (string, error) {
	m := pep440.FindStringSubmatch(strings.ToLower(strings.TrimSpace(version)))
	if m == nil {
		return "", fmt.Errorf("version %q is not a PEP 440 version", version)
	}
	number := func(s string) string {
		if s == "" {
			return "0"
		}
		return s
	}
	result := fmt.Sprintf("%s.%s.%s", m[1], number(m[2]), number(m[3]))
	var pre, build []string
	if m[4] != "" {
		pre = append(pre, preReleaseNames[m[4]]+"."+number(m[5]))
	}
	if m[8] != "" {
		pre = append(pre, "dev."+number(m[9]))
	}
	if m[6] != "" {
		build = append(build, "post."+number(m[7]))
	}
	if m[10] != "" {
		build = append(build, m[10])
	}
	if len(pre) > 0 {
		result += "-" + strings.Join(pre, ".")
	}
	if len(build) > 0 {
		result += "+" + strings.Join(build, ".")
	}
	return result, nil
}
