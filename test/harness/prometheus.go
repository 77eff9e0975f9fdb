package harness

import (
	"fmt"
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
