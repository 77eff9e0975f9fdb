package manifests

import (
	"os"
	"slices"
	"strings"
	"testing"

	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// k8s/kind-config.yaml is what CLUSTERS.md's kind steps create the cluster from: one node whose
// ports 30080 and 30443 (Traefik's node ports, k8s/traefik-values.yaml) are the machine's 80 and 443. It decodes strictly
// into kind's own types, so a misspelt field fails here and not as a setting kind drops.
func TestKindConfig(t *testing.T) {
	data, err := os.ReadFile(repoPath(t, "k8s", "kind-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := DecodeKindConfig(data)
	if err != nil {
		t.Fatalf("kind-config.yaml: %v", err)
	}
	if len(cluster.Nodes) != 1 || cluster.Nodes[0].Role != kindv1alpha4.ControlPlaneRole {
		t.Fatalf("nodes = %+v, want one control-plane node", cluster.Nodes)
	}
	node := cluster.Nodes[0]

	for nodePort, host := range map[int32]int32{30080: 80, 30443: 443} {
		want := kindv1alpha4.PortMapping{ContainerPort: nodePort, HostPort: host, Protocol: kindv1alpha4.PortMappingProtocolTCP}
		if !slices.Contains(node.ExtraPortMappings, want) {
			t.Errorf("no port mapping %+v in %+v", want, node.ExtraPortMappings)
		}
	}

	// The controls: the same file with one field misspelt, at the level of the node and inside a
	// port mapping (a type with its own UnmarshalYAML), or with a value kind refuses, must not
	// decode. Each edit must change the file, or the control proves nothing.
	controls := []struct{ name, old, new, err string }{
		{"misspelt node field", "extraPortMappings:", "extraPortMapping:", "field extraPortMapping not found"},
		{"misspelt port mapping field", "containerPort: 30080", "containerPorts: 30080", "field containerPorts not found"},
		{"unknown protocol", "protocol: TCP", "protocol: TPC", `Unknown PortMappingProtocol: "TPC"`},
		{"other apiVersion", "kind.x-k8s.io/v1alpha4", "kind.x-k8s.io/v1alpha3", "want kind.x-k8s.io/v1alpha4"},
	}
	for _, c := range controls {
		t.Run(c.name, func(t *testing.T) {
			broken := strings.Replace(string(data), c.old, c.new, 1)
			if broken == string(data) {
				t.Fatalf("kind-config.yaml has no %q to change", c.old)
			}
			_, err := DecodeKindConfig([]byte(broken))
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("got error %v, want one containing %q", err, c.err)
			}
		})
	}
}
