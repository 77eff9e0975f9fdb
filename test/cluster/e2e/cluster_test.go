// Package e2e deploys the final stage on a real Kubernetes node, the way the workshop tells a
// learner to: `kubectl apply -k k8s`, then `helm install` of helm/pingpong, and checks what a
// user would see (counts, load balancing, a Redis restart, a rollout, the admin reset).
//
// The node comes from test/cluster/kube-node.sh (in CI through .ci/cluster.sh), which prints the
// environment these tests read: KUBECONFIG and a PATH with its kubectl, and DOCKER_HOST, the
// engine that builds the app's image before kube-node.sh copies it into the node. helm comes
// from PATH too. With CI=true a missing node fails the tests; otherwise they are skipped.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pingpong/test/harness"
)

// cluster is the node the tests run against.
type cluster struct {
	kubectl, helm, docker, kubeNode string
	ingress                         string // address of the Ingress/Gateway controller's Service
	repo                            string
}

// setup finds the node, or skips the test (fails it in CI) when there is none, or when
// the kubeconfig's current context is not the one PINGPONG_TEST_CONTEXT names.
func setup(t *testing.T) *cluster {
	t.Helper()
	// Asked first: the tests apply and delete objects, so they touch only the cluster named.
	if err := harness.CheckTestContext(os.Environ()); err != nil {
		if harness.InCI() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	for _, v := range []string{"KUBECONFIG", "DOCKER_HOST"} {
		if os.Getenv(v) == "" {
			msg := fmt.Sprintf("%s is not set: start a node with `eval \"$(.ci/cluster.sh)\"`", v)
			if harness.InCI() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	c := &cluster{
		kubectl: harness.Require(t, "kubectl"),
		helm:    harness.Require(t, "helm"),
		docker:  harness.Require(t, "docker"),
		repo:    harness.RepoRoot(t),
	}
	c.kubeNode = filepath.Join(c.repo, "test", "cluster", "kube-node.sh")
	if _, err := command(30*time.Second, c.repo, c.kubectl, "get", "--raw", "/readyz"); err != nil {
		t.Fatalf("KUBECONFIG is set but the API server does not answer: %v", err)
	}
	// The Ingress and Gateway controller of the node listens on port 80 of this Service.
	c.ingress = c.k(t, "-n", "traefik", "get", "service", "traefik", "-o", "jsonpath={.spec.clusterIP}")
	c.loadImages(t)
	return c
}

var (
	imagesOnce sync.Once
	imagesErr  error
)

// loadImages builds the app's image with the Docker engine, tags it a second time for the
// rollout test, and copies both, with the Redis, busybox and Prometheus images, into the node:
// with the from-source node's script, or with the command in PINGPONG_LOAD_IMAGES (on kind:
// `kind load docker-image --name pingpong`).
func (c *cluster) loadImages(t *testing.T) {
	t.Helper()
	imagesOnce.Do(func() {
		load := []string{c.kubeNode, "load"}
		if custom := strings.Fields(os.Getenv("PINGPONG_LOAD_IMAGES")); len(custom) > 0 {
			load = custom
		}
		steps := [][]string{
			{c.docker, "build", "-q", "-t", "pingpong:v3", c.repo + "/v3_redis_counter"},
			{c.docker, "tag", "pingpong:v3", "pingpong:v3-rollout"},
			append(load, "pingpong:v3", "pingpong:v3-rollout", "redis:7.4-alpine", "busybox:1.37", "prom/prometheus:v2.53.4"),
		}
		for _, step := range steps {
			if _, imagesErr = command(10*time.Minute, "", step[0], step[1:]...); imagesErr != nil {
				return
			}
		}
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
}

// command runs a program and returns its standard output; the error carries everything it
// printed.
func command(timeout time.Duration, dir, program string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s%s", program, strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), nil
}

// run runs kubectl, helm or another program from the repository root, failing the test on error.
func (c *cluster) run(t *testing.T, program string, args ...string) string {
	t.Helper()
	out, err := command(5*time.Minute, c.repo, program, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (c *cluster) k(t *testing.T, args ...string) string {
	t.Helper()
	return c.run(t, c.kubectl, args...)
}

// freshNamespace makes an empty namespace that enforces the restricted Pod Security Standard,
// and deletes it when the test ends.
func (c *cluster) freshNamespace(t *testing.T, name string) {
	t.Helper()
	c.emptyNamespace(t, name)
	c.k(t, "label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
}

// emptyNamespace makes an empty namespace with no Pod Security Standard enforced (for the tests'
// own pods), and deletes it when the test ends.
func (c *cluster) emptyNamespace(t *testing.T, name string) {
	t.Helper()
	c.deleteNamespace(t, name)
	c.k(t, "create", "namespace", name)
	t.Cleanup(func() { c.deleteNamespace(t, name) })
}

func (c *cluster) deleteNamespace(t *testing.T, name string) {
	t.Helper()
	c.k(t, "delete", "namespace", name, "--ignore-not-found", "--wait=true", "--timeout=3m")
}

// serviceURL is the base URL of a Service's port 80, reached from the host through the node.
func (c *cluster) serviceURL(t *testing.T, namespace, name string) string {
	t.Helper()
	ip := c.k(t, "-n", namespace, "get", "service", name, "-o", "jsonpath={.spec.clusterIP}")
	return "http://" + ip
}

// dump logs the state of a namespace when the test has failed, so that a failure in CI
// explains itself.
func (c *cluster) dumpOnFailure(t *testing.T, namespace string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, args := range [][]string{
			{"-n", namespace, "get", "all,pvc,ingress,events", "-o", "wide"},
			{"-n", namespace, "describe", "pods"},
			{"-n", namespace, "logs", "--all-containers", "--prefix", "--tail=50", "-l", "app.kubernetes.io/part-of=pingpong"},
		} {
			out, err := command(time.Minute, c.repo, c.kubectl, args...)
			t.Logf("kubectl %s:\n%s%v", strings.Join(args, " "), out, err)
		}
	})
}

// A new connection for every request, as from many clients: kube-proxy then picks a pod for
// each request, which is what the load-balancing and rollout checks are about.
var client = &http.Client{
	Timeout:   3 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// get sends GET url with an optional Host header and returns the status and body.
func get(url, host string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// applyK8s applies k8s/ to the namespace ns, emptied first and deleted when the test ends, with
// edit's changes (if any) to the kustomization, and waits for Redis (the single one, or the
// redis-ha component's three). The namespace's objects are shown if the test fails.
func (c *cluster) applyK8s(t *testing.T, ns string, edit func(kustomization map[string]any)) {
	t.Helper()
	c.deleteNamespace(t, ns)
	t.Cleanup(func() { c.deleteNamespace(t, ns) })
	c.dumpOnFailure(t, ns)
	c.k(t, "apply", "-k", harness.CopyK8s(t, func(k map[string]any) {
		k["namespace"] = ns
		if edit != nil {
			edit(k)
		}
	}))
	for _, set := range strings.Fields(c.k(t, "-n", ns, "get", "statefulsets", "-o", "name")) {
		c.k(t, "-n", ns, "rollout", "status", set, "--timeout=3m")
	}
}

// checkInternalsNotPublic checks that base (a Service, the Ingress, the Gateway), with an
// optional Host header, answers /metrics and /admin/reset with the app's own JSON 404: the
// request reached the app, on its public port, which has no such routes.
func checkInternalsNotPublic(t *testing.T, base, host string) {
	t.Helper()
	for _, path := range []string{"/metrics", "/admin/reset"} {
		status, body, err := get(base+path, host)
		if err != nil || status != http.StatusNotFound || body != `{"error":"not found"}`+"\n" {
			t.Errorf("GET %s%s (Host %q): %d %q %v; want the app's JSON 404", base, path, host, status, body, err)
		} else {
			t.Logf("GET %s%s (Host %q): 404 from the app", base, path, host)
		}
	}
}

// count asks url (a /ping or /count endpoint) for a count; it fails the test unless the
// answer is 200 and a number.
func count(t *testing.T, url, host string) int {
	t.Helper()
	n, err := tryCount(url, host)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func tryCount(url, host string) (int, error) {
	status, body, err := get(url, host)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("GET %s (Host %q): %d %s", url, host, status, body)
	}
	n, err := strconv.Atoi(strings.TrimSpace(body))
	if err != nil {
		return 0, fmt.Errorf("GET %s: body %q is not a count", url, body)
	}
	return n, nil
}

// eventuallyCount retries until url answers a count, for at most timeout.
func eventuallyCount(t *testing.T, url, host string, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n, err := tryCount(url, host)
		if err == nil {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("no count within %s: %v", timeout, err)
		}
		time.Sleep(time.Second)
	}
}

// hostnames asks GET / n times and returns how often each pod (its `hostname:` line) answered.
func hostnames(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		status, body, err := get(url+"/", "")
		if err != nil || status != http.StatusOK {
			t.Fatalf("GET %s/: %d %q %v", url, status, body, err)
		}
		sc := bufio.NewScanner(strings.NewReader(body))
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "hostname: "); ok {
				seen[name]++
			}
		}
	}
	return seen
}
