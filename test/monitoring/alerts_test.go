package monitoring_test

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"unicode"

	"pingpong/test/harness"
)

// TestRuleGroups checks the split that the end-to-end test relies on: the rules that read
// kube-state-metrics, and only those, are in the Kubernetes group.
func TestRuleGroups(t *testing.T) {
	seen := map[string]bool{}
	foundKubernetes := false
	for _, g := range loadRules(t).Groups {
		if seen[g.Name] {
			t.Errorf("rule group %q is defined twice", g.Name)
		}
		seen[g.Name] = true
		foundKubernetes = foundKubernetes || g.Name == kubernetesGroup
		for _, r := range g.Rules {
			readsKube := strings.Contains(r.Expr, "kube_")
			switch {
			case g.Name == kubernetesGroup && !readsKube:
				t.Errorf("%s is in group %s but reads no kube-state-metrics series: move it to a group the end-to-end test gives data", r.Name(), g.Name)
			case g.Name != kubernetesGroup && readsKube:
				t.Errorf("%s reads kube-state-metrics series: move it to group %s", r.Name(), kubernetesGroup)
			}
		}
	}
	if !foundKubernetes {
		t.Errorf("rules.yml has no group %q", kubernetesGroup)
	}
}

// TestAlertAnnotations checks that every alert tells the person it pages what happened and where
// to read what to do: a summary, a description, a severity and a runbook section that exists.
func TestAlertAnnotations(t *testing.T) {
	anchors := readmeAnchors(t)
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s has no %s annotation", r.Alert, a)
				}
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook"], "monitoring/README.md#")
			if !ok || !anchors[anchor] {
				t.Errorf("%s: runbook %q is not monitoring/README.md#<a heading of that file>", r.Alert, r.Annotations["runbook"])
			}
		}
	}
}

// readmeAnchors returns the anchors of monitoring/README.md's headings, made the way GitHub makes
// them: lower case, punctuation dropped, spaces turned into hyphens.
func readmeAnchors(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(monitoringPath(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	anchors := map[string]bool{}
	inCode := false
	for s := bufio.NewScanner(f); s.Scan(); {
		line := s.Text()
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		anchor := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				return unicode.ToLower(r)
			}
			return -1
		}, heading)
		anchors[anchor] = true
	}
	return anchors
}

// ruleTests is the part of rules_test.yml that says which alerts each test expects.
type ruleTests struct {
	Tests []struct {
		Name       string `yaml:"name"`
		AlertTests []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestEveryAlertIsUnitTested checks that rules_test.yml has, for every alert, a case where it
// fires and a case where it stays quiet: an alert that is only ever tested firing may fire all
// the time.
func TestEveryAlertIsUnitTested(t *testing.T) {
	var rt ruleTests
	harness.ReadYAML(t, monitoringPath(t, "prometheus", "rules_test.yml"), &rt)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, test := range rt.Tests {
		for _, at := range test.AlertTests {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else {
				quiet[at.Alertname] = true
			}
		}
	}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if !fires[r.Alert] {
				t.Errorf("rules_test.yml never expects %s to fire", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("rules_test.yml never expects %s to stay quiet", r.Alert)
			}
		}
	}
}
