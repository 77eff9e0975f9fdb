// Package gomod fetches a Go module into the module cache, as `go mod download` does, for the
// programs and tests of test/ that read a module's files: the vulnerability reports that
// test/vulndb turns into a database, the CRDs that the manifest tests check against.
package gomod

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
)

// Module is one version of a module in the module cache.
type Module struct {
	Dir  string // its files
	Info string // its .info file: the version, and the time of its commit
}

// Download fetches query (path@version) into the module cache, or finds it there. env is added to
// the go command's environment: a module that needs a newer Go than this one is downloaded with
// GOTOOLCHAIN set to that Go.
func Download(query string, env ...string) (Module, error) {
	cmd := exec.Command("go", "mod", "download", "-json", query)
	// Outside any module or workspace: the download adds nothing to a go.mod or go.sum.
	cmd.Dir = os.TempDir()
	cmd.Env = append(append(os.Environ(), "GOWORK=off"), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, runErr := cmd.Output()
	var result struct{ Dir, Info, Error string }
	if err := json.Unmarshal(stdout, &result); err != nil {
		if runErr != nil {
			return Module{}, fmt.Errorf("go mod download %s: %v\n%s", query, runErr, stderr.Bytes())
		}
		return Module{}, fmt.Errorf("go mod download %s: %v", query, err)
	}
	if result.Error != "" {
		return Module{}, fmt.Errorf("go mod download %s: %s", query, result.Error)
	}
	if runErr != nil || result.Dir == "" {
		return Module{}, fmt.Errorf("go mod download %s: no folder (%v)\n%s", query, runErr, stderr.Bytes())
	}
	return Module{Dir: result.Dir, Info: result.Info}, nil
}
