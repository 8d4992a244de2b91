// Command hello stands in for kubectl-gitsync in the dist tool's test: it
// prints the version the linker stamped.
package main

import "fmt"

var version = "unset"

func main() { fmt.Println(version) }
