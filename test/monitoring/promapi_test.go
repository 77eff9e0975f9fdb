package monitoring_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"pingpong/test/harness"
)

// promAPI is a small client for the Prometheus HTTP API (/api/v1).
type promAPI struct {
	base   string
	client *http.Client
}

func newPromAPI(base string) promAPI {
	return promAPI{base: base, client: &http.Client{Timeout: 10 * time.Second}}
}

// get calls an endpoint and decodes the data of a successful answer into data.
func (p promAPI) get(endpoint string, params url.Values, data any) error {
	resp, err := p.client.Get(p.base + endpoint + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %s: %w", endpoint, resp.Status, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s: %s", endpoint, body.ErrorType, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// query runs an instant query and returns the label sets of the series it answers.
// A scalar answer counts as one series without labels.
func (p promAPI) query(expr string) ([]map[string]string, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector", "matrix":
		var result []struct {
			Metric map[string]string `json:"metric"`
		}
		if err := json.Unmarshal(data.Result, &result); err != nil {
			return nil, err
		}
		labels := make([]map[string]string, len(result))
		for i, r := range result {
			labels[i] = r.Metric
		}
		return labels, nil
	case "scalar", "string":
		return []map[string]string{{}}, nil
	}
	return nil, fmt.Errorf("query %s: unknown result type %q", expr, data.ResultType)
}

// labelValues lists the values of label on the series that match selector.
func (p promAPI) labelValues(label, selector string) ([]string, error) {
	var values []string
	err := p.get("/api/v1/label/"+label+"/values", url.Values{"match[]": {selector}}, &values)
	return values, err
}

func (p promAPI) targets() ([]harness.Target, error) {
	return harness.ActiveTargets(p.base)
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

func (p promAPI) alerts() ([]promAlert, error) {
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	err := p.get("/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

type promRuleGroup struct {
	Name  string `json:"name"`
	Rules []struct {
		Name      string `json:"name"`
		Health    string `json:"health"`
		LastError string `json:"lastError"`
	} `json:"rules"`
}

func (p promAPI) rules() ([]promRuleGroup, error) {
	var data struct {
		Groups []promRuleGroup `json:"groups"`
	}
	err := p.get("/api/v1/rules", nil, &data)
	return data.Groups, err
}

// eventually calls check until it returns nil or timeout has passed, and returns its last error.
func eventually(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}
