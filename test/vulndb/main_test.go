package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Two entries as the module ships them: one for a module and the standard
// library, one with two ranges of the same module.
var entries = map[string]string{
	"GO-2024-0002.json": `{
  "schema_version": "1.3.1",
  "id": "GO-2024-0002",
  "modified": "0001-01-01T00:00:00Z",
  "published": "2024-03-01T00:00:00Z",
  "aliases": ["CVE-2024-2222", "GHSA-aaaa-bbbb-cccc"],
  "affected": [
    {"package": {"name": "example.com/mod", "ecosystem": "Go"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}]},
    {"package": {"name": "stdlib", "ecosystem": "Go"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.22.1"}]}]}
  ]
}`,
	"GO-2023-0001.json": `{
  "schema_version": "1.3.1",
  "id": "GO-2023-0001",
  "modified": "0001-01-01T00:00:00Z",
  "published": "2023-01-01T00:00:00Z",
  "affected": [
    {"package": {"name": "example.com/mod", "ecosystem": "Go"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.1"}]}]},
    {"package": {"name": "example.com/mod", "ecosystem": "Go"}, "ranges": [{"type": "SEMVER", "events": [{"introduced": "1.1.0"}, {"fixed": "1.1.2"}]}]}
  ]
}`,
}

func writeEntries(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestWrite: the layout govulncheck reads, the indexes sorted, each entry
// once per module, the entries as they were.
func TestWrite(t *testing.T) {
	db, err := load(writeEntries(t, entries))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "cache", "db")
	if err := db.write(out); err != nil {
		t.Fatal(err)
	}

	var meta dbMeta
	readJSON(t, filepath.Join(out, "index", "db.json"), &meta)
	if want := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC); !meta.Modified.Equal(want) {
		t.Errorf("db.json: modified %v, want %v, the latest publication", meta.Modified, want)
	}

	var modules []moduleMeta
	readJSON(t, filepath.Join(out, "index", "modules.json"), &modules)
	var got []string
	for _, m := range modules {
		var ids []string
		for _, v := range m.Vulns {
			ids = append(ids, v.ID)
		}
		got = append(got, m.Path+": "+strings.Join(ids, " "))
	}
	want := []string{"example.com/mod: GO-2023-0001 GO-2024-0002", "stdlib: GO-2024-0002"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("modules.json: %q, want %q", got, want)
	}

	var vulns []vulnMeta
	readJSON(t, filepath.Join(out, "index", "vulns.json"), &vulns)
	if len(vulns) != 2 || vulns[0].ID != "GO-2023-0001" || vulns[1].ID != "GO-2024-0002" ||
		!reflect.DeepEqual(vulns[1].Aliases, []string{"CVE-2024-2222", "GHSA-aaaa-bbbb-cccc"}) {
		t.Errorf("vulns.json: %+v", vulns)
	}

	for name, content := range entries {
		b, err := os.ReadFile(filepath.Join(out, "ID", name))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != content {
			t.Errorf("ID/%s differs from the entry read", name)
		}
	}
}

// TestWriteReplaces: a second write leaves only the new database, and no
// folder beside it.
func TestWriteReplaces(t *testing.T) {
	out := filepath.Join(t.TempDir(), "db")
	for _, files := range []map[string]string{entries, {"GO-2023-0001.json": entries["GO-2023-0001.json"]}} {
		db, err := load(writeEntries(t, files))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.write(out); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := os.ReadDir(filepath.Join(out, "ID"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0].Name() != "GO-2023-0001.json" {
		t.Errorf("ID/ holds %v, want only GO-2023-0001.json", ids)
	}
	beside, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(beside) != 1 {
		t.Errorf("beside the database: %v, want only db", beside)
	}
}

// TestLoadRejects: a file not named after its entry, or no entry at all.
func TestLoadRejects(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"misnamed":   {"GO-2099-0001.json": entries["GO-2023-0001.json"]},
		"not JSON":   {"GO-2023-0001.json": "id: GO-2023-0001"},
		"no entries": {"README.md": "reports"},
	} {
		if _, err := load(writeEntries(t, files)); err == nil {
			t.Errorf("%s: loaded, want an error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
