package monitoring_test

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"pingpong/test/harness"
)

// composeFile is the part of docker-compose.yml that the monitoring files depend on.
type composeFile struct {
	Services map[string]struct {
		Command     []string       `yaml:"command"`
		Environment composeEnv     `yaml:"environment"`
		Volumes     []composeMount `yaml:"volumes"`
	} `yaml:"services"`
}

// composeMount is a volume of a service, in the short ("src:dst:ro") or the long syntax.
type composeMount struct {
	Source, Target string
}

func (m *composeMount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		parts := strings.Split(n.Value, ":")
		if len(parts) < 2 {
			return fmt.Errorf("line %d: volume %q has no target", n.Line, n.Value)
		}
		m.Source, m.Target = parts[0], parts[1]
		return nil
	}
	var long struct{ Source, Target string }
	if err := n.Decode(&long); err != nil {
		return err
	}
	m.Source, m.Target = long.Source, long.Target
	return nil
}

// composeEnv is a service's environment, in the map or the list ("NAME=value") syntax.
type composeEnv map[string]string

func (e *composeEnv) UnmarshalYAML(n *yaml.Node) error {
	*e = composeEnv{}
	if n.Kind == yaml.SequenceNode {
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
		return nil
	}
	return n.Decode((*map[string]string)(e))
}

// mountOf returns the service that mounts source and where it mounts it.
func (c composeFile) mountOf(source string) (service, target string) {
	for name, s := range c.Services {
		for _, m := range s.Volumes {
			if path.Clean(m.Source) == path.Clean(source) {
				return name, m.Target
			}
		}
	}
	return "", ""
}

// TestComposeWiring checks that the Compose stack and the monitoring files agree on the names
// and paths each of them assumes about the other: the services Prometheus scrapes and Grafana
// queries, and the folders the files are mounted at.
func TestComposeWiring(t *testing.T) {
	var c composeFile
	harness.ReadYAML(t, filepath.Join(harness.RepoRoot(t), "docker-compose.yml"), &c)

	// Prometheus reads prometheus.yml, and rules.yml beside it, from the mounted folder.
	promService, promDir := c.mountOf("./monitoring/prometheus")
	if promService == "" {
		t.Fatal("no service mounts ./monitoring/prometheus")
	}
	if cmd := c.Services[promService].Command; len(cmd) > 0 &&
		!slices.Contains(cmd, "--config.file="+path.Join(promDir, "prometheus.yml")) {
		t.Errorf("service %s mounts ./monitoring/prometheus at %s but is started with %q", promService, promDir, cmd)
	}

	// Every name that prometheus.yml asks DNS about is a Compose service listening on that port.
	var prom promConfig
	harness.ReadYAML(t, monitoringPath(t, "prometheus", "prometheus.yml"), &prom)
	for _, sc := range prom.ScrapeConfigs {
		for _, sd := range sc.DNSSDConfigs {
			for _, name := range sd.Names {
				s, ok := c.Services[name]
				if !ok {
					t.Errorf("job %s discovers %q, which is no Compose service", sc.JobName, name)
					continue
				}
				// The metrics are served on the admin port: ADMIN_PORT, 9797 unless the service sets it.
				port, set := s.Environment["ADMIN_PORT"]
				if !set {
					port = "9797"
				}
				if sc.JobName == "pingpong" && port != strconv.Itoa(sd.Port) {
					t.Errorf("job %s scrapes %s on port %d, its metrics are on ADMIN_PORT %s", sc.JobName, name, sd.Port, port)
				}
			}
		}
	}

	// Grafana finds its provisioning files and the dashboards where they are mounted, and the
	// data source's host is the Prometheus service.
	if svc, target := c.mountOf("./monitoring/grafana/provisioning"); target != "/etc/grafana/provisioning" {
		t.Errorf("./monitoring/grafana/provisioning is mounted at %q by %q, want /etc/grafana/provisioning", target, svc)
	}
	var dp dashboardProviders
	harness.ReadYAML(t, monitoringPath(t, "grafana", "provisioning", "dashboards", "pingpong.yml"), &dp)
	if svc, target := c.mountOf("./monitoring/grafana/dashboards"); len(dp.Providers) == 0 || target != dp.Providers[0].Options.Path {
		t.Errorf("./monitoring/grafana/dashboards is mounted at %q by %q, the dashboard provider reads %+v", target, svc, dp.Providers)
	}
	var ds datasourcesFile
	harness.ReadYAML(t, monitoringPath(t, "grafana", "provisioning", "datasources", "prometheus.yml"), &ds)
	for _, s := range ds.Datasources {
		u, err := url.Parse(s.URL)
		if err != nil || u.Hostname() != promService {
			t.Errorf("data source %q points at %q, the Prometheus service is %q", s.Name, s.URL, promService)
		}
	}
}
