package monitoring_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"pingpong/test/harness"
)

// promtool runs promtool in monitoring/prometheus, where the files name each other by relative
// paths, and fails the test unless it succeeds.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin := harness.Require(t, "promtool")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = monitoringPath(t, "prometheus")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

// TestPromtoolCheckConfig validates prometheus.yml and the rule files it loads.
func TestPromtoolCheckConfig(t *testing.T) {
	promtool(t, "check", "config", "prometheus.yml")
}

// TestPromtoolCheckRules validates rules.yml: syntax, PromQL, templates, and no duplicate rules.
func TestPromtoolCheckRules(t *testing.T) {
	promtool(t, "check", "rules", "rules.yml")
}

// TestPromtoolTestRules runs the rule unit tests: each alert fires on made-up series, and stays
// quiet on others.
func TestPromtoolTestRules(t *testing.T) {
	promtool(t, "test", "rules", "rules_test.yml")
}
