package main

import (
	"bufio"
	"flag"
	"os"

	"informerd.local/bench/internal/podgen"
)

// runGen writes a Stream's LIST items and events as watch-event lines (ADDED for the items,
// then the events), the input of the C++ micro-benchmarks.
func runGen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	objects := fs.Int("objects", 32, "Pods of the initial LIST")
	events := fs.Int("events", 32, "modifications after it")
	seed := fs.Uint64("seed", 1, "generator seed")
	out := fs.String("out", "", "output file (default stdout)")
	fs.Parse(args)
	s := podgen.NewStream(podgen.StreamOptions{Seed: *seed, Objects: *objects, Events: *events})
	f := os.Stdout
	if *out != "" {
		var err error
		if f, err = os.Create(*out); err != nil {
			return err
		}
		defer f.Close()
	}
	w := bufio.NewWriter(f)
	var line []byte
	for _, it := range s.Items {
		line = podgen.WatchLine(line[:0], "ADDED", it)
		w.Write(line)
	}
	for _, e := range s.Events {
		line = podgen.WatchLine(line[:0], e.Type, e.JSON)
		w.Write(line)
	}
	return w.Flush()
}
