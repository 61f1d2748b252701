package main

// FerretDB 1.24 (SQLite) pushes a filter on a single _id down to SQL as
// `_ferretdb_sjson->'$._id' = ?`, but indexes _id as `_ferretdb_sjson->"_id"`:
// SQLite only uses an expression index for the very same expression, so every
// find, update or delete by _id scanned the whole collection (linear in its
// size). The keeper below adds, to every collection table, an index on the
// expression the pushdown uses. FerretDB does not know about these indexes
// (listIndexes does not show them); SQLite drops them with their table.

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	idIndexSuffix = "__id_pushdown"
	keeperPeriod  = 500 * time.Millisecond
)

// openDB is one database file the keeper holds open, with the inode it opened:
// a database dropped and created again under the same name is a new file.
type openDB struct {
	db    *sql.DB
	inode uint64
}

func inodeOf(path string) (uint64, bool) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	stat, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return stat.Ino, true
}

// keepIDIndexes runs until ctx is done, indexing new collection tables.
func keepIDIndexes(ctx context.Context, dir string) {
	held := map[string]*openDB{}
	defer func() {
		for _, o := range held {
			o.db.Close()
		}
	}()
	ticker := time.NewTicker(keeperPeriod)
	defer ticker.Stop()
	for {
		indexAll(ctx, dir, held)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func indexAll(ctx context.Context, dir string, held map[string]*openDB) {
	files, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	if err != nil {
		return
	}
	present := map[string]bool{}
	for _, path := range files {
		present[path] = true
		inode, ok := inodeOf(path)
		if !ok {
			continue
		}
		o := held[path]
		if o != nil && o.inode != inode {
			o.db.Close()
			o = nil
		}
		if o == nil {
			// mode=rw: never create a file FerretDB has just removed
			db, err := sql.Open("sqlite", "file:"+path+"?mode=rw&_pragma=busy_timeout(10000)")
			if err != nil {
				continue
			}
			db.SetMaxOpenConns(1)
			o = &openDB{db: db, inode: inode}
			held[path] = o
		}
		if err := indexTables(ctx, o.db); err != nil && ctx.Err() == nil {
			// the database may have been dropped meanwhile: open it afresh next time
			o.db.Close()
			delete(held, path)
		}
	}
	for path, o := range held {
		if !present[path] {
			o.db.Close()
			delete(held, path)
		}
	}
}

func indexTables(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `
		SELECT t.name FROM sqlite_master t
		WHERE t.type = 'table' AND substr(t.name, 1, 10) != '_ferretdb_'
		AND NOT EXISTS (
			SELECT 1 FROM sqlite_master i WHERE i.type = 'index' AND i.name = t.name || ?
		)`, idIndexSuffix)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, table := range tables {
		q := fmt.Sprintf(
			`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`,
			table+idIndexSuffix, table,
		)
		if _, err := db.ExecContext(ctx, q); err != nil {
			if strings.Contains(err.Error(), "no such table") {
				continue // dropped since it was listed
			}
			log.Printf("indexing _id of %s: %v", table, err)
		}
	}
	return nil
}
