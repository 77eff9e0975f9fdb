// Package monitoring_test proves the files in monitoring/: promtool checks the Prometheus
// configuration and runs the rule unit tests, the Grafana files are checked for structure, and an
// end-to-end test runs every dashboard query and every rule against a real Prometheus scraping
// real replicas of the v3 binary.
package monitoring_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pingpong/test/harness"
)

// kubernetesGroup is the rule group whose rules read kube-state-metrics. Outside a cluster those
// series do not exist, so the end-to-end test cannot give these rules data; it checks that they
// load and evaluate, and rules_test.yml proves what they do.
const kubernetesGroup = "pingpong.kubernetes.alerts"

// monitoringPath is a path under monitoring/ in the repository.
func monitoringPath(t testing.TB, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{harness.RepoRoot(t), "monitoring"}, elem...)...)
}

// ruleFile is a Prometheus rules file.
type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name  string `yaml:"name"`
	Rules []rule `yaml:"rules"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// Name is the recorded series' name or the alert's name.
func (r rule) Name() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

func loadRules(t testing.TB) ruleFile {
	t.Helper()
	var rf ruleFile
	harness.ReadYAML(t, monitoringPath(t, "prometheus", "rules.yml"), &rf)
	if len(rf.Groups) == 0 {
		t.Fatal("rules.yml has no rule groups")
	}
	return rf
}

// dashboard is the part of a Grafana dashboard model the tests look at.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type variable struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Query      any            `json:"query"` // a string, or an object with a "query" field
	Datasource *datasourceRef `json:"datasource"`
	IncludeAll bool           `json:"includeAll"`
	AllValue   string         `json:"allValue"`
	Multi      bool           `json:"multi"`
}

// QueryString is the variable's query whichever of Grafana's two forms it is written in.
func (v variable) QueryString() string {
	switch q := v.Query.(type) {
	case string:
		return q
	case map[string]any:
		s, _ := q["query"].(string)
		return s
	}
	return ""
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    gridPos        `json:"gridPos"`
	Targets    []target       `json:"targets"`
	Panels     []panel        `json:"panels"` // a collapsed row's panels
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gridPos struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

type target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
}

const dashboardFile = "pingpong.json"

func loadDashboard(t testing.TB) dashboard {
	t.Helper()
	data, err := os.ReadFile(monitoringPath(t, "grafana", "dashboards", dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s is not valid JSON for a dashboard: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows: a collapsed row keeps its panels inside itself.
func allPanels(panels []panel) []panel {
	var out []panel
	for _, p := range panels {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// variable returns the dashboard's variable of that name, failing the test without it.
func (d dashboard) variable(t testing.TB, name string) variable {
	t.Helper()
	for _, v := range d.Templating.List {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("the dashboard has no %q variable", name)
	return variable{}
}

// labelValuesQuery splits Grafana's label_values(metric, label) variable query.
func labelValuesQuery(q string) (metric, label string, ok bool) {
	inner, found := strings.CutPrefix(strings.TrimSpace(q), "label_values(")
	if !found || !strings.HasSuffix(inner, ")") {
		return "", "", false
	}
	inner = strings.TrimSuffix(inner, ")")
	comma := strings.LastIndex(inner, ",") // the metric's selector may hold commas too
	if comma < 0 {
		return "", "", false
	}
	return strings.TrimSpace(inner[:comma]), strings.TrimSpace(inner[comma+1:]), true
}
