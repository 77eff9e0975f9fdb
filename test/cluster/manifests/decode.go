// Package manifests reads Kubernetes manifests the way the API server would: every object is
// decoded strictly into the typed API structs (k8s.io/api, Gateway API, Prometheus Operator),
// so an unknown or misspelt field, a duplicated key or a kind the cluster does not know is an
// error here and not a silent no-op at `kubectl apply` time. A kind cluster config is read the
// way kind reads it, into kind's own types.
package manifests

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	yamlv3 "go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	serializerjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

var (
	scheme = runtime.NewScheme()
	codec  = serializerjson.NewSerializerWithOptions(serializerjson.DefaultMetaFactory, scheme, scheme,
		serializerjson.SerializerOptions{Yaml: true, Strict: true})
)

func init() {
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, networkingv1.AddToScheme,
		policyv1.AddToScheme, autoscalingv2.AddToScheme, rbacv1.AddToScheme, storagev1.AddToScheme,
		gatewayv1.Install, monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
}

// Decode splits a multi-document YAML stream and decodes every document strictly into its
// typed struct. Empty documents (only comments, or nothing between two `---`) are skipped.
func Decode(data []byte) ([]runtime.Object, error) {
	return DecodeWith(data, nil)
}

// DecodeWith is Decode for streams with custom resources too: a document whose kind one of crds
// defines is checked against that CRD's schema (CRDs.Check) and returned as
// *unstructured.Unstructured.
func DecodeWith(data []byte, crds CRDs) ([]runtime.Object, error) {
	docs, err := documents(data)
	if err != nil {
		return nil, err
	}
	var objects []runtime.Object
	for _, doc := range docs {
		var custom unstructured.Unstructured
		if err := custom.UnmarshalJSON(doc.json); err == nil && crds.Knows(custom.GroupVersionKind()) {
			if err := crds.Check(&custom); err != nil {
				return nil, fmt.Errorf("document %d: %w", doc.number, err)
			}
			objects = append(objects, &custom)
			continue
		}
		obj, gvk, err := codec.Decode(doc.json, nil, nil)
		if err != nil {
			// A strict decoding error still returns the object: unknown fields are errors here.
			if gvk != nil {
				return nil, fmt.Errorf("document %d (%s): %w", doc.number, gvk.Kind, err)
			}
			return nil, fmt.Errorf("document %d: %w", doc.number, err)
		}
		objects = append(objects, obj)
	}
	return objects, nil
}

// document is one document of a YAML stream, as JSON, with its number in the stream (from 1).
type document struct {
	number int
	json   []byte
}

// documents splits a multi-document YAML stream into its documents, with the empty ones left
// out. A duplicated key is an error.
func documents(data []byte) ([]document, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []document
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading document %d: %w", i, err)
		}
		asJSON, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if string(bytes.TrimSpace(asJSON)) == "null" {
			continue
		}
		docs = append(docs, document{number: i, json: asJSON})
	}
}

// DecodeKindConfig decodes a kind cluster config as `kind create cluster --config` does: into
// kind's own v1alpha4 types, with go.yaml.in/yaml/v3 and unknown fields refused. kind's parser is
// internal to its module, so it cannot be called; these are the steps it takes for v1alpha4.
func DecodeKindConfig(data []byte) (*kindv1alpha4.Cluster, error) {
	decoder := yamlv3.NewDecoder(bytes.NewReader(data))
	decoder.KnownFields(true)
	var cluster kindv1alpha4.Cluster
	if err := decoder.Decode(&cluster); err != nil {
		return nil, fmt.Errorf("decoding the kind config: %w", err)
	}
	if cluster.APIVersion != "kind.x-k8s.io/v1alpha4" || cluster.Kind != "Cluster" {
		return nil, fmt.Errorf("apiVersion %q, kind %q: want kind.x-k8s.io/v1alpha4, Cluster",
			cluster.APIVersion, cluster.Kind)
	}
	return &cluster, nil
}
