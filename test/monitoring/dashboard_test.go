package monitoring_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"pingpong/test/harness"
)

// gridWidth is the width of Grafana's dashboard grid.
const gridWidth = 24

// usesDatasourceVariable reports whether ref points at the ${datasource} variable: the dashboard
// must not name a data source of one particular Grafana, or it breaks in every other.
func usesDatasourceVariable(ref *datasourceRef) bool {
	return ref != nil && ref.Type == "prometheus" && ref.UID == "${datasource}"
}

// TestDashboardPanels checks what Grafana would otherwise only show as a broken panel: every
// panel has a unique id, the ${datasource} variable and at least one query, and every query
// honours the instance variable.
func TestDashboardPanels(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: a provisioned dashboard needs both (links use the uid)", d.UID, d.Title)
	}
	panels := allPanels(d.Panels)
	if len(panels) == 0 {
		t.Fatal("the dashboard has no panels")
	}
	ids := map[int]string{}
	for _, p := range panels {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 {
			t.Errorf("%s: the id must be a positive number", name)
		}
		if other, taken := ids[p.ID]; taken {
			t.Errorf("%s: id already used by %q", name, other)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("%s has no title", name)
		}
		if !usesDatasourceVariable(p.Datasource) {
			t.Errorf("%s: datasource %+v, want {prometheus ${datasource}}", name, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s (%s) has no query", name, p.Type)
		}
		refIDs := map[string]bool{}
		for _, q := range p.Targets {
			switch {
			case q.RefID == "" || refIDs[q.RefID]:
				t.Errorf("%s: refId %q is empty or used twice", name, q.RefID)
			case strings.TrimSpace(q.Expr) == "":
				t.Errorf("%s: query %s has no expression", name, q.RefID)
			case q.Datasource != nil && !usesDatasourceVariable(q.Datasource):
				t.Errorf("%s: query %s has datasource %+v, want the panel's", name, q.RefID, q.Datasource)
			case !strings.Contains(q.Expr, `instance=~"$instance"`):
				t.Errorf("%s: query %s ignores the replica selector (instance=~\"$instance\"): %s", name, q.RefID, q.Expr)
			}
			refIDs[q.RefID] = true
		}
	}
}

// TestDashboardGrid checks that every panel lies inside the grid and that no two panels overlap
// (Grafana would push one of them down, away from where its neighbours are meant to be).
func TestDashboardGrid(t *testing.T) {
	panels := allPanels(loadDashboard(t).Panels)
	for i, a := range panels {
		g := a.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > gridWidth {
			t.Errorf("panel %d %q: gridPos %+v is outside the %d-column grid", a.ID, a.Title, g, gridWidth)
		}
		for _, b := range panels[i+1:] {
			h := b.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("panels %d %q %+v and %d %q %+v overlap", a.ID, a.Title, g, b.ID, b.Title, h)
			}
		}
	}
}

// variableRef matches a dashboard variable in a query: $name or ${name}.
var variableRef = regexp.MustCompile(`\$\{?(\w+)\}?`)

// TestDashboardVariables checks the two variables every query relies on, and that no query uses a
// variable the dashboard does not define.
func TestDashboardVariables(t *testing.T) {
	d := loadDashboard(t)

	ds := d.variable(t, "datasource")
	if ds.Type != "datasource" || ds.QueryString() != "prometheus" {
		t.Errorf("datasource variable: type %q query %q, want a data source variable listing Prometheus data sources",
			ds.Type, ds.QueryString())
	}

	inst := d.variable(t, "instance")
	if inst.Type != "query" || !usesDatasourceVariable(inst.Datasource) {
		t.Errorf("instance variable: type %q datasource %+v, want a query on ${datasource}", inst.Type, inst.Datasource)
	}
	if _, label, ok := labelValuesQuery(inst.QueryString()); !ok || label != "instance" {
		t.Errorf("instance variable: query %q, want label_values(<metric>, instance)", inst.QueryString())
	}
	if !inst.IncludeAll || !inst.Multi {
		t.Errorf("instance variable: includeAll %v multi %v, want both, so the dashboard opens on all replicas",
			inst.IncludeAll, inst.Multi)
	}

	defined := map[string]bool{}
	for _, v := range d.Templating.List {
		defined[v.Name] = true
	}
	for _, p := range allPanels(d.Panels) {
		for _, q := range p.Targets {
			for _, m := range variableRef.FindAllStringSubmatch(q.Expr, -1) {
				if name := m[1]; !strings.HasPrefix(name, "__") && !defined[name] {
					t.Errorf("panel %d %q uses $%s, which the dashboard does not define", p.ID, p.Title, name)
				}
			}
		}
	}
}

// TestGrafanaProvisioning checks the files Grafana reads at start-up: a Prometheus data source
// that knows the scrape interval, and a dashboard provider that reads a folder.
func TestGrafanaProvisioning(t *testing.T) {
	var prom promConfig
	harness.ReadYAML(t, monitoringPath(t, "prometheus", "prometheus.yml"), &prom)

	files, err := filepath.Glob(monitoringPath(t, "grafana", "provisioning", "datasources", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no data source files (%v)", err)
	}
	prometheusSources := 0
	for _, f := range files {
		var ds datasourcesFile
		harness.ReadYAML(t, f, &ds)
		for _, s := range ds.Datasources {
			if s.Type != "prometheus" {
				continue
			}
			prometheusSources++
			if !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://") {
				t.Errorf("%s: data source %q has url %q", filepath.Base(f), s.Name, s.URL)
			}
			// $__rate_interval is four times this interval: if it were shorter than the scrape
			// interval, rate() over it would often find fewer than two samples and show gaps.
			if got := s.JSONData["timeInterval"]; got != prom.Global.ScrapeInterval {
				t.Errorf("%s: data source %q has timeInterval %v, prometheus.yml scrapes every %s",
					filepath.Base(f), s.Name, got, prom.Global.ScrapeInterval)
			}
		}
	}
	if prometheusSources != 1 {
		t.Errorf("found %d Prometheus data sources, want exactly 1", prometheusSources)
	}

	var dp dashboardProviders
	harness.ReadYAML(t, monitoringPath(t, "grafana", "provisioning", "dashboards", "pingpong.yml"), &dp)
	if len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || !filepath.IsAbs(dp.Providers[0].Options.Path) {
		t.Errorf("dashboard providers %+v, want one of type file with an absolute path", dp.Providers)
	}
}

// promConfig is the part of prometheus.yml the tests read.
type promConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	ScrapeConfigs []struct {
		JobName      string `yaml:"job_name"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

type datasourcesFile struct {
	Datasources []struct {
		Name     string         `yaml:"name"`
		Type     string         `yaml:"type"`
		URL      string         `yaml:"url"`
		JSONData map[string]any `yaml:"jsonData"`
	} `yaml:"datasources"`
}

type dashboardProviders struct {
	Providers []struct {
		Name    string `yaml:"name"`
		Type    string `yaml:"type"`
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}
