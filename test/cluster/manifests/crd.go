package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// CRDs holds the schemas of custom resources (Argo Rollouts', Traefik's, Argo CD's), by kind and
// version, to check objects of those kinds the way the API server checks them: a field that the
// schema does not know is an error (the API server would drop it), and every value is validated
// against the schema's types, formats, enums and required fields.
type CRDs map[schema.GroupVersionKind]crdVersion

type crdVersion struct {
	structural *structuralschema.Structural
	validator  validation.SchemaValidator
}

// LoadCRDs reads CustomResourceDefinitions from YAML streams; documents of other kinds are skipped.
func LoadCRDs(streams ...[]byte) (CRDs, error) {
	crds := CRDs{}
	for _, stream := range streams {
		docs, err := documents(stream)
		if err != nil {
			return nil, err
		}
		for _, doc := range docs {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := json.Unmarshal(doc.json, &crd); err != nil {
				return nil, fmt.Errorf("reading a CRD: %w", err)
			}
			if crd.Kind != "CustomResourceDefinition" {
				continue
			}
			for _, v := range crd.Spec.Versions {
				if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
					return nil, fmt.Errorf("CRD %s, version %s: no schema", crd.Name, v.Name)
				}
				var internal apiextensions.JSONSchemaProps
				if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
					return nil, fmt.Errorf("CRD %s, version %s: %w", crd.Name, v.Name, err)
				}
				structural, err := structuralschema.NewStructural(&internal)
				if err != nil {
					return nil, fmt.Errorf("CRD %s, version %s: %w", crd.Name, v.Name, err)
				}
				validator, _, err := validation.NewSchemaValidator(&internal)
				if err != nil {
					return nil, fmt.Errorf("CRD %s, version %s: %w", crd.Name, v.Name, err)
				}
				gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
				crds[gvk] = crdVersion{structural: structural, validator: validator}
			}
		}
	}
	return crds, nil
}

// Knows reports whether a CRD of these defines gvk.
func (c CRDs) Knows(gvk schema.GroupVersionKind) bool {
	_, ok := c[gvk]
	return ok
}

// Check validates one custom resource against its CRD's schema, and its metadata strictly.
func (c CRDs) Check(obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	crd, ok := c[gvk]
	if !ok {
		return fmt.Errorf("no CRD defines %s", gvk)
	}
	var problems []string
	if err := strictMetadata(obj.Object["metadata"]); err != nil {
		problems = append(problems, err.Error())
	}
	// Pruning works on a copy: it removes what it reports.
	unknown := pruning.PruneWithOptions(obj.DeepCopy().Object, crd.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, path := range unknown {
		problems = append(problems, "unknown field "+path)
	}
	for _, e := range validation.ValidateCustomResource(field.NewPath(""), obj.Object, crd.validator) {
		problems = append(problems, e.Error())
	}
	if problems != nil {
		return fmt.Errorf("%s %q: %s", gvk.Kind, obj.GetName(), strings.Join(problems, "; "))
	}
	return nil
}

func strictMetadata(metadata any) error {
	data, err := json.Marshal(metadata)
	if err != nil {
		return err
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	var meta metav1.ObjectMeta
	if err := decoder.Decode(&meta); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if meta.Name == "" {
		return errors.New("metadata: no name")
	}
	return nil
}
