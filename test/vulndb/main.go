// Command vulndb writes a Go vulnerability database that govulncheck reads
// with -db file:///absolute/path, from the OSV entries that the module
// golang.org/x/vulndb ships in its data/osv folder.
//
// The online database may be unreachable; the module proxy serves the same
// reports as golang.org/x/vulndb's module. vulndb downloads that module at
// the version asked for (go mod download), reads its OSV entries and writes
// the layout of the database's API (https://go.dev/security/vuln/database):
//
//	index/db.json         when the database was last modified
//	index/modules.json    for each module, the vulnerabilities that affect it
//	index/vulns.json      for each vulnerability, its aliases (CVE, GHSA)
//	ID/GO-YYYY-NNNN.json  each OSV entry, as the module ships it
//
// From the repository's top folder (`make vulncheck` runs it):
//
//	go run ./test/vulndb -module golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018 -out DIR
//	go run ./test/vulndb -osv FOLDER -out DIR   # from a folder of OSV entries
//
// The database is written into a new folder beside DIR and renamed to DIR at
// the end, so that a folder at DIR is always a whole database: a run that
// stops halfway leaves none.
//
// Two fields are not what the online database holds. The module's entries
// carry no modification time (the online database takes it from the
// reports' history), so index/db.json gives the time of the module's
// version, the commit its reports are from (with -osv, the latest time any
// entry was modified or published). And the modules index leaves out each
// vulnerability's optional "fixed" version, a hint that only lets govulncheck
// skip reading the entries fixed before a module's version: without it,
// govulncheck reads every entry of the modules it finds and matches their
// versions against the entries' ranges itself, with the same findings.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"pingpong/test/gomod"
)

func main() {
	module := flag.String("module", "", "the module `path@version` whose data/osv folder holds the OSV entries, e.g. golang.org/x/vulndb@v0.0.0-...")
	osvDir := flag.String("osv", "", "a `folder` of OSV entries (GO-YYYY-NNNN.json), instead of -module")
	out := flag.String("out", "", "the `folder` to write the database to; replaced if it exists")
	flag.Parse()
	if (*module == "") == (*osvDir == "") || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: vulndb (-module path@version | -osv folder) -out folder")
		flag.PrintDefaults()
		os.Exit(2)
	}

	dir := *osvDir
	var versionTime time.Time
	if *module != "" {
		moduleDir, t, err := download(*module)
		if err != nil {
			fail(err)
		}
		dir, versionTime = filepath.Join(moduleDir, "data", "osv"), t
	}
	db, err := load(dir)
	if err != nil {
		fail(err)
	}
	db.modified = latest(db.modified, versionTime)
	if err := db.write(*out); err != nil {
		fail(err)
	}
	fmt.Printf("vulndb: %d vulnerabilities in %d modules, last modified %s, in %s\n",
		len(db.entries), len(db.modules), db.modified.Format(time.DateOnly), *out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "vulndb:", err)
	os.Exit(1)
}

// download fetches the module path@version into the module cache, or finds
// it there, and returns its folder and the time of its version.
func download(query string) (dir string, versionTime time.Time, err error) {
	module, err := gomod.Download(query)
	if err != nil {
		return "", time.Time{}, err
	}
	// The .info file gives the version's time: its commit's, for a pseudo-version.
	var info struct{ Time time.Time }
	b, err := os.ReadFile(module.Info)
	if err == nil {
		err = json.Unmarshal(b, &info)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("go mod download %s: %v", query, err)
	}
	return module.Dir, info.Time, nil
}

// entry is what the database's indexes take from an OSV entry.
type entry struct {
	ID        string    `json:"id"`
	Modified  time.Time `json:"modified"`
	Published time.Time `json:"published"`
	Aliases   []string  `json:"aliases"`
	Affected  []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`

	raw []byte // the file as it was read
}

// database holds the entries, by ID, and what the indexes say of them.
type database struct {
	entries  []entry          // sorted by ID
	modules  map[string][]int // module path: indexes into entries, each once
	modified time.Time        // the latest modification or publication
}

// load reads every .json file of dir as an OSV entry named after its ID.
func load(dir string) (*database, error) {
	files, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	db := &database{modules: map[string][]int{}}
	for _, f := range files {
		if f.IsDir() || filepath.Ext(f.Name()) != ".json" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			return nil, err
		}
		e := entry{raw: raw}
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("%s: %v", f.Name(), err)
		}
		if e.ID == "" || f.Name() != e.ID+".json" {
			return nil, fmt.Errorf("%s: the entry's id is %q: want a file named after it", f.Name(), e.ID)
		}
		db.entries = append(db.entries, e)
	}
	if len(db.entries) == 0 {
		return nil, fmt.Errorf("no OSV entries (*.json) in %s", dir)
	}
	// os.ReadDir sorts by file name, which is the ID and ".json".
	for i, e := range db.entries {
		for _, a := range e.Affected {
			path := a.Package.Name
			if path != "" && !slices.Contains(db.modules[path], i) {
				db.modules[path] = append(db.modules[path], i)
			}
		}
		db.modified = latest(db.modified, e.Modified, e.Published)
	}
	return db, nil
}

func latest(times ...time.Time) time.Time {
	var last time.Time
	for _, t := range times {
		if t.After(last) {
			last = t
		}
	}
	return last
}

// The indexes' JSON, as govulncheck reads it.
type (
	dbMeta struct {
		Modified time.Time `json:"modified"`
	}
	moduleMeta struct {
		Path  string       `json:"path"`
		Vulns []moduleVuln `json:"vulns"`
	}
	moduleVuln struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
	}
	vulnMeta struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Aliases  []string  `json:"aliases,omitempty"`
	}
)

// write writes the database into a new folder beside out, then puts it in
// out's place.
func (db *database) write(out string) error {
	out = filepath.Clean(out)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), filepath.Base(out)+".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone once renamed; what is left of a failed write otherwise
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := db.writeTo(tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func (db *database) writeTo(dir string) error {
	for _, sub := range []string{"index", "ID"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	for _, e := range db.entries {
		if err := os.WriteFile(filepath.Join(dir, "ID", e.ID+".json"), e.raw, 0o644); err != nil {
			return err
		}
	}

	paths := make([]string, 0, len(db.modules))
	for path := range db.modules {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	modules := make([]moduleMeta, 0, len(paths))
	for _, path := range paths {
		m := moduleMeta{Path: path, Vulns: []moduleVuln{}}
		for _, i := range db.modules[path] {
			e := db.entries[i]
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
		modules = append(modules, m)
	}

	vulns := make([]vulnMeta, 0, len(db.entries))
	for _, e := range db.entries {
		vulns = append(vulns, vulnMeta{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
	}

	return errors.Join(
		writeJSON(filepath.Join(dir, "index", "db.json"), dbMeta{Modified: db.modified}),
		writeJSON(filepath.Join(dir, "index", "modules.json"), modules),
		writeJSON(filepath.Join(dir, "index", "vulns.json"), vulns),
	)
}

func writeJSON(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %v", filepath.Base(name), err)
	}
	return os.WriteFile(name, b, 0o644)
}
