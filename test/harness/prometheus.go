package harness

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server on a loopback port, with its
// storage in a folder of the test's own. It is stopped, by its PID, when the
// test ends.
type Prometheus struct {
	*Process
	URL string
}

// StartPrometheus runs prometheus with configFile, listening on port (the
// caller picks it with FreePort first, since the configuration usually names
// Prometheus's own address as a target), and waits until it is ready.
func StartPrometheus(t testing.TB, configFile string, port int) *Prometheus {
	t.Helper()
	bin := Require(t, "prometheus")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	proc := Start(t, nil, bin,
		"--config.file="+configFile,
		"--storage.tsdb.path="+t.TempDir(),
		"--web.listen-address="+addr,
	)
	p := &Prometheus{Process: proc, URL: "http://" + addr}
	p.WaitHTTP(t, p.URL+"/-/ready", 30*time.Second)
	return p
}

func (p *Prometheus) String() string { return fmt.Sprintf("prometheus on %s", p.URL) }

// Target is one active scrape target, as Prometheus's API reports it.
type Target struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
}

// ActiveTargets asks the Prometheus at base (http://host:port) for its active targets.
func ActiveTargets(base string) ([]Target, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(base + "/api/v1/targets?state=active")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			ActiveTargets []Target `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		return nil, fmt.Errorf("GET %s/api/v1/targets: %s, %v", base, resp.Status, err)
	}
	return body.Data.ActiveTargets, nil
}
