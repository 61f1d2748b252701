package main

// FerretDB 1.24 (SQLite) pushes a filter on _id down to SQL as `_ferretdb_sjson->'$._id'`, but
// builds the unique _id index of each collection on `_ferretdb_sjson->"_id"`: SQLite uses an
// expression index only for the very same expression, so every lookup by _id read the whole table.
// Our build writes the pushdown as the index is built (patches/id-column-is-the-id-index.patch).
//
// Earlier builds instead kept a second index, on the pushdown's expression, on every collection
// table (`<table>__id_pushdown`), which each write had to maintain as well: dropped at start.

import (
	"database/sql"
	"fmt"
	"log"
	"path/filepath"
)

const legacyIndexSuffix = "__id_pushdown"

// dropLegacyIDIndexes removes the second _id index earlier builds added, from every database in dir.
func dropLegacyIDIndexes(dir string) {
	files, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	if err != nil {
		return
	}
	dropped := 0
	for _, path := range files {
		n, err := dropIn(path)
		if err != nil {
			log.Printf("removing the extra _id indexes of %s: %v", filepath.Base(path), err)
		}
		dropped += n
	}
	if dropped > 0 {
		log.Printf("removed %d extra _id indexes left by an earlier build", dropped)
	}
}

func dropIn(path string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND name GLOB ?`, "*"+legacyIndexSuffix)
	if err != nil {
		return 0, err
	}
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return 0, err
		}
		names = append(names, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, name := range names {
		if _, err := db.Exec(fmt.Sprintf(`DROP INDEX IF EXISTS %q`, name)); err != nil {
			return 0, err
		}
	}
	return len(names), nil
}
