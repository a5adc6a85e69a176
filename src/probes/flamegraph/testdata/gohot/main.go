// Go fixture for symbolization of stripped Go binaries: hotLoop is found by name in
// .gopclntab after `-ldflags=-s -w` removed the symbol table. With a number of seconds as
// its argument it prints "ready" and spins that long in hotLoop, called through
// spinCaller (the live oncpu test); without one it runs hotLoop once.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

//go:noinline
func hotLoop(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i
	}
	return s
}

//go:noinline
func spinCaller(until time.Time) int {
	s := 0
	for time.Now().Before(until) {
		s += hotLoop(2_000_000)
	}
	return s
}

func main() {
	if len(os.Args) > 1 {
		seconds, err := strconv.ParseFloat(os.Args[1], 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "usage: gohot [seconds]")
			os.Exit(2)
		}
		fmt.Println("ready")
		fmt.Println(spinCaller(time.Now().Add(time.Duration(seconds * float64(time.Second)))))
		return
	}
	fmt.Println(hotLoop(len(os.Args) * 1000))
}
