// Command ferretdb-local serves the MongoDB wire protocol on top of SQLite by
// embedding FerretDB, so development machines and CI need no Docker engine.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	_ "net/http/pprof" // served only on -debug
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to serve the MongoDB protocol on")
	dataDir := flag.String("data", "ferretdb-data", "directory holding the SQLite databases")
	debug := flag.String("debug", "", "TCP address to serve Go's runtime profiles on (/debug/pprof/); none if empty")
	flag.Parse()

	if *debug != "" {
		go func() { log.Println(http.ListenAndServe(*debug, nil)) }()
	}

	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		log.Fatal(err)
	}

	dropLegacyIDIndexes(abs)

	// WAL with synchronous=NORMAL: a write survives this process being killed; only the last ones before
	// a power cut may be lost (MongoDB's default journal flush has the same bound).
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/?_pragma=synchronous(normal)",
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	fmt.Printf("ferretdb-local listening on %s, data in %s\n", *listen, abs)
	f.Run(ctx)
}
