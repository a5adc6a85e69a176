// Go fixture for symbolization of stripped Go binaries: hotLoop is found by name in
// .gopclntab after `-ldflags=-s -w` removed the symbol table.
package main

import (
	"fmt"
	"os"
)

//go:noinline
func hotLoop(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i
	}
	return s
}

func main() {
	fmt.Println(hotLoop(len(os.Args) * 1000))
}
