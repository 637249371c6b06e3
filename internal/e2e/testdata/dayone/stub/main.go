// Command stub stands in for postgres and redis in the day-one demo (no
// registry to pull them from): it accepts TCP connections on the port
// given as its argument and closes them, and writes a file into its data
// directory, if given, to show the volume is mounted.
package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: stub PORT [DATA_DIR]")
		os.Exit(2)
	}
	if len(os.Args) > 2 {
		if err := os.WriteFile(filepath.Join(os.Args[2], "stub-was-here"), []byte("ok"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	ln, err := net.Listen("tcp", ":"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("stub listening on", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		c.Close()
	}
}
