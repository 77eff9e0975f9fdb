package e2e

import (
	"crypto/rand"
	"fmt"
	"net/http/cgi"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"pingpong/test/harness"
)

// TestArgoCDGitOps proves stage 8's release by Git on the node's Argo CD: the Application of
// gitops/application.yaml, pointed at a Git repository that the test serves over HTTP (as GitHub
// serves a learner's fork) holding this checkout's chart and the stage's values. Under keep-alive
// load through Traefik, every answer recorded:
//   - a commit that changes the greeting is synced by Argo CD by itself, canaried by the Rollout
//     and served everywhere within a bound; the Application ends Synced and Healthy at that
//     commit; 0 failed;
//   - a `kubectl scale` by hand is undone by self-heal; 0 failed;
//   - `git revert` brings the previous greeting back; 0 failed;
//   - refreshes that render the chart again find nothing to change (the secrets are Secrets of
//     their own): no sync, no pod replaced or restarted;
//   - the control: with automated sync off, neither a new commit nor a `kubectl scale` is undone.
func TestArgoCDGitOps(t *testing.T) {
	c := setup(t)
	const ns, monitoring, app, host = "pingpong-gitops", "pingpong-gitops-monitoring", "pingpong-gitops", "gitops.pingpong.local"
	const name = "pingpong" // the release's name in application.yaml, and so the Rollout's
	c.freshNamespace(t, ns)
	c.emptyNamespace(t, monitoring)
	c.dumpOnFailure(t, ns)
	// The Secrets that the stage's README makes before the Application.
	c.k(t, "-n", ns, "create", "secret", "generic", "pingpong-redis", "--from-literal=redis-password="+rand.Text())
	c.k(t, "-n", ns, "create", "secret", "generic", "pingpong-admin", "--from-literal=admin-token="+rand.Text())
	c.startPrometheus(t, monitoring, fmt.Sprintf("http_sd_configs: [{url: %q, refresh_interval: 2s}]", c.podDiscovery(t, ns)))

	repo := c.serveGitRepo(t, "helm", "gitops", "monitoring", "k8s")
	a := argoApp{c, app}
	a.apply(t, repo.url, ns, map[string]any{
		// What differs on this node: its Prometheus (the test's, which finds the pods without the
		// Prometheus Operator's PodMonitor), and the host name Traefik routes.
		"rollout":       map[string]any{"analysis": map[string]any{"prometheusAddress": fmt.Sprintf("http://prometheus.%s:9090", monitoring)}},
		"networkPolicy": map[string]any{"prometheusNamespace": monitoring},
		"metrics":       map[string]any{"podMonitor": map[string]any{"enabled": false}},
		"ingress": map[string]any{"className": "traefik", "hosts": []any{
			map[string]any{"host": host, "paths": []any{map[string]any{"path": "/", "pathType": "Prefix"}}}}},
	})
	r := rolloutOf(c, ns, name)
	first := repo.head(t)
	a.waitSynced(t, first)
	stable := r.waitPromoted(t, "")
	eventuallyCount(t, "http://"+c.ingress+"/ping", host, time.Minute)
	addr := c.ingress + ":80"
	root := "http://" + c.ingress + "/"
	before := repo.greeting(t)
	if got := greetingServed(t, root, host); got != before {
		t.Fatalf("the app greets with %q, want %q from gitops/values.yaml", got, before)
	}

	t.Run("a commit is synced, canaried and served by itself: 0 failed", func(t *testing.T) {
		const greeting = "Hello from a commit!"
		var firstServed, allServed time.Duration
		var weights []weightChange
		result := underLoadHost(t, addr, host, func(t *testing.T) {
			stop := r.watchWeights(t)
			pushed := time.Now()
			revision := repo.commit(t, "Greet from a commit", func() { repo.setGreeting(t, greeting) })
			a.refresh(t)
			waitServed(t, root, host, greeting, 1)
			firstServed = time.Since(pushed)
			stable = r.waitPromoted(t, stable)
			weights = stop()
			waitServed(t, root, host, greeting, 20)
			allServed = time.Since(pushed)
			a.waitSynced(t, revision)
		})
		assertNoneFailed(t, result)
		t.Logf("after the push: the new greeting first served after %s, by every pod (the canary promoted) after %s",
			firstServed.Round(100*time.Millisecond), allServed.Round(time.Second))
		t.Logf("the canary's weight: %s", formatWeights(weights))
		if w := distinctWeights(weights); !slices.Contains(w, 20) || !slices.Contains(w, 50) {
			t.Errorf("the canary's weight went %v, want 20 and 50 on the way: the commit was not canaried", w)
		}
		if run := r.analysisRun(t, stable); run.phase != "Successful" || run.failed != 0 {
			t.Errorf("the analysis of %s: %+v; want Successful, no measurement failed", stable, run)
		}
		// The canary's steps pause 30 s twice, and the analysis measures every 15 s.
		if bound := 3 * time.Minute; allServed > bound {
			t.Errorf("the commit took %s to reach every pod, over %s", allServed.Round(time.Second), bound)
		}
	})

	t.Run("a kubectl scale by hand is undone by self-heal: 0 failed", func(t *testing.T) {
		want := r.field(t, "{.spec.replicas}")
		var healed time.Duration
		result := underLoadHost(t, addr, host, func(t *testing.T) {
			scaled := time.Now()
			c.k(t, "-n", ns, "scale", "rollout", name, "--replicas=1")
			r.waitField(t, "{.spec.replicas}", want)
			healed = time.Since(scaled)
			r.waitField(t, "{.status.availableReplicas}", want)
		})
		assertNoneFailed(t, result)
		t.Logf("Argo CD set the Rollout back to %s replicas %s after `kubectl scale --replicas=1`", want, healed.Round(100*time.Millisecond))
		a.waitSynced(t, repo.head(t))
	})

	t.Run("git revert brings the previous release back: 0 failed", func(t *testing.T) {
		result := underLoadHost(t, addr, host, func(t *testing.T) {
			revision := repo.revert(t)
			a.refresh(t)
			stable = r.waitPromoted(t, stable)
			waitServed(t, root, host, before, 20)
			a.waitSynced(t, revision)
		})
		assertNoneFailed(t, result)
		t.Logf("after the revert the app greets with %q again, the Application Synced at the revert's commit", before)
		if got := repo.greeting(t); got != before {
			t.Errorf("after the revert gitops/values.yaml greets with %q, want %q", got, before)
		}
	})

	t.Run("refreshes render the same: no sync, no pod replaced or restarted", func(t *testing.T) {
		operation := a.field(t, "{.status.operationState.startedAt}")
		pods := c.pods(t, ns, "")
		for range 3 {
			a.refreshHard(t)
			if state := a.state(t); state != "Synced Healthy" {
				t.Errorf("after a hard refresh the Application is %q, want Synced Healthy", state)
			}
		}
		if now := a.field(t, "{.status.operationState.startedAt}"); now != operation {
			t.Errorf("a sync started at %s during the refreshes (the last one before: %s)", now, operation)
		}
		if now := c.pods(t, ns, ""); !slices.Equal(now, pods) {
			t.Errorf("the pods changed during the refreshes:\nbefore %v\nafter  %v", pods, now)
		}
		t.Logf("3 hard refreshes: Synced each time, no sync since %s, the same %d pods", operation, len(pods))
	})

	t.Run("control: with automated sync off, a commit and a kubectl scale stay as they are", func(t *testing.T) {
		c.k(t, "-n", "argocd", "patch", "application", app, "--type=json",
			"-p", `[{"op": "remove", "path": "/spec/syncPolicy/automated"}]`)
		want := r.field(t, "{.spec.replicas}")
		c.k(t, "-n", ns, "scale", "rollout", name, "--replicas=2")
		revision := repo.commit(t, "Greet from an unsynced commit", func() { repo.setGreeting(t, "Hello from nobody!") })
		a.refresh(t)
		a.waitState(t, "OutOfSync", revision)
		time.Sleep(30 * time.Second)
		a.refresh(t)
		if got := r.field(t, "{.spec.replicas}"); got != "2" {
			t.Errorf("the Rollout has %s replicas, want the 2 set by hand (Git says %s): nothing should undo it", got, want)
		}
		if got := greetingServed(t, root, host); got != before {
			t.Errorf("the app greets with %q, want %q: the commit should not be synced", got, before)
		}
		if state := a.state(t); state != "OutOfSync Healthy" {
			t.Errorf("the Application is %q, want OutOfSync Healthy", state)
		}
		t.Logf("30 s after the commit and the scale: %s replicas, greeting %q, the Application %s",
			r.field(t, "{.spec.replicas}"), greetingServed(t, root, host), a.state(t))
	})
}

// argoApp is an Argo CD Application in the namespace argocd.
type argoApp struct {
	c    *cluster
	name string
}

// apply applies gitops/application.yaml under the name of a, with the repository URL, the
// destination namespace and values (Helm values that take precedence over the files') given,
// and deletes it when the test ends.
func (a argoApp) apply(t *testing.T, repoURL, namespace string, values map[string]any) {
	t.Helper()
	var application map[string]any
	harness.ReadYAML(t, filepath.Join(a.c.repo, "gitops", "application.yaml"), &application)
	meta := application["metadata"].(map[string]any)
	spec := application["spec"].(map[string]any)
	source := spec["source"].(map[string]any)
	meta["name"] = a.name
	source["repoURL"] = repoURL
	source["helm"].(map[string]any)["valuesObject"] = values
	spec["destination"].(map[string]any)["namespace"] = namespace
	data, err := yaml.Marshal(application)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "application.yaml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	a.c.k(t, "apply", "-f", file)
	t.Cleanup(func() { a.c.k(t, "-n", "argocd", "delete", "application", a.name, "--ignore-not-found") })
	t.Cleanup(func() {
		if t.Failed() {
			out, err := command(time.Minute, a.c.repo, a.c.kubectl, "-n", "argocd", "get", "application", a.name, "-o", "yaml")
			t.Logf("the Application:\n%s%v", out, err)
		}
	})
}

func (a argoApp) field(t *testing.T, path string) string {
	t.Helper()
	return a.c.k(t, "-n", "argocd", "get", "application", a.name, "-o", "jsonpath="+path)
}

// state is the Application's sync status and health, as "Synced Healthy".
func (a argoApp) state(t *testing.T) string {
	t.Helper()
	return a.field(t, "{.status.sync.status} {.status.health.status}")
}

// waitState waits until the Application's sync status is sync, compared with revision.
func (a argoApp) waitState(t *testing.T, sync, revision string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		got = a.field(t, "{.status.sync.status} {.status.sync.revision}")
		if got == sync+" "+revision {
			return
		}
	}
	t.Fatalf("the Application is %q after 5 minutes, want %s at %s: %s", got, sync, revision,
		a.field(t, "{.status.conditions} {.status.operationState.message}"))
}

// waitSynced waits until the Application is Synced to revision and Healthy.
func (a argoApp) waitSynced(t *testing.T, revision string) {
	t.Helper()
	a.waitState(t, "Synced", revision)
	var health string
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		if health = a.field(t, "{.status.health.status}"); health == "Healthy" {
			return
		}
	}
	t.Fatalf("the Application is Synced but %s after 5 minutes", health)
}

// refresh asks Argo CD to look at the repository now, as a push's webhook or the UI's Refresh
// button does (by itself it looks every 3 minutes).
func (a argoApp) refresh(t *testing.T) {
	t.Helper()
	a.c.k(t, "-n", "argocd", "annotate", "application", a.name, "argocd.argoproj.io/refresh=normal", "--overwrite")
}

// refreshHard has the chart rendered again, without any cache, and waits until Argo CD has
// compared the render with the cluster.
func (a argoApp) refreshHard(t *testing.T) {
	t.Helper()
	before := a.field(t, "{.status.reconciledAt}")
	time.Sleep(time.Second) // reconciledAt counts seconds
	a.c.k(t, "-n", "argocd", "annotate", "application", a.name, "argocd.argoproj.io/refresh=hard", "--overwrite")
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if a.field(t, `{.metadata.annotations.argocd\.argoproj\.io/refresh}`) == "" && a.field(t, "{.status.reconciledAt}") != before {
			return
		}
	}
	t.Fatal("Argo CD did not refresh the Application within 2 minutes")
}

// gitRepo is a Git repository that the test serves to the cluster over HTTP, and a working copy
// of it that pushes there.
type gitRepo struct {
	work, url string
}

// serveGitRepo makes a repository of the checkout's folders dirs, commits them on main, and
// serves it with git's own HTTP server (git http-backend), as GitHub serves a fork.
func (c *cluster) serveGitRepo(t *testing.T, dirs ...string) *gitRepo {
	t.Helper()
	git := harness.Require(t, "git")
	root := t.TempDir()
	repo := &gitRepo{work: filepath.Join(root, "work")}
	for _, dir := range dirs {
		if err := os.CopyFS(filepath.Join(repo.work, dir), os.DirFS(filepath.Join(c.repo, dir))); err != nil {
			t.Fatal(err)
		}
	}
	repo.git(t, "init", "-q", "-b", "main")
	repo.git(t, "add", "-A")
	repo.git(t, "commit", "-q", "-m", "The workshop")
	repo.git(t, "clone", "-q", "--bare", repo.work, filepath.Join(root, "pingpong.git"))
	repo.git(t, "remote", "add", "origin", filepath.Join(root, "pingpong.git"))
	repo.url = c.serveToPods(t, &cgi.Handler{Path: git, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}) + "pingpong.git"
	return repo
}

func (g *gitRepo) git(t *testing.T, args ...string) string {
	t.Helper()
	out, err := command(time.Minute, g.work, "git", append([]string{"-c", "user.name=Learner", "-c", "user.email=learner@example.com"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func (g *gitRepo) head(t *testing.T) string {
	t.Helper()
	return g.git(t, "rev-parse", "HEAD")
}

// commit makes a change with edit, commits it and pushes it, and returns the new commit.
func (g *gitRepo) commit(t *testing.T, message string, edit func()) string {
	t.Helper()
	edit()
	g.git(t, "commit", "-q", "-a", "-m", message)
	g.git(t, "push", "-q", "origin", "main")
	return g.head(t)
}

// revert reverts the last commit, pushes, and returns the new commit.
func (g *gitRepo) revert(t *testing.T) string {
	t.Helper()
	g.git(t, "revert", "--no-edit", "HEAD")
	g.git(t, "push", "-q", "origin", "main")
	return g.head(t)
}

const greetingKey = "  greeting: "

// greeting is config.greeting in the working copy's gitops/values.yaml.
func (g *gitRepo) greeting(t *testing.T) string {
	t.Helper()
	var values struct {
		Config struct{ Greeting string }
	}
	harness.ReadYAML(t, filepath.Join(g.work, "gitops", "values.yaml"), &values)
	if values.Config.Greeting == "" {
		t.Fatal("gitops/values.yaml sets no config.greeting")
	}
	return values.Config.Greeting
}

// setGreeting changes config.greeting in the working copy's gitops/values.yaml, as a learner
// edits the line.
func (g *gitRepo) setGreeting(t *testing.T, greeting string) {
	t.Helper()
	file := filepath.Join(g.work, "gitops", "values.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	old := greetingKey + g.greeting(t) + "\n"
	if strings.Count(string(data), old) != 1 {
		t.Fatalf("gitops/values.yaml has no one line %q", old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), old, greetingKey+greeting+"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// greetingServed is the first line of GET / through the Ingress controller at url, for host.
func greetingServed(t *testing.T, url, host string) string {
	t.Helper()
	status, body, err := get(url, host)
	if err != nil || status != 200 {
		t.Fatalf("GET / for %s: %d %v", host, status, err)
	}
	line, _, _ := strings.Cut(body, "\n")
	return line
}

// waitServed waits until n answers of GET / in a row greet with greeting, and returns how long
// that took.
func waitServed(t *testing.T, url, host, greeting string, n int) time.Duration {
	t.Helper()
	started := time.Now()
	var last string
	for inRow, deadline := 0, started.Add(5*time.Minute); time.Now().Before(deadline); {
		if last = greetingServed(t, url, host); last == greeting {
			if inRow++; inRow == n {
				return time.Since(started)
			}
			continue
		}
		inRow = 0
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%d answers in a row did not greet with %q within 5 minutes; the last: %q", n, greeting, last)
	return 0
}
