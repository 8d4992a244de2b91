// Command pause is the test cluster's Pod sandbox image: it holds the Pod's
// namespaces by doing nothing until it is asked to stop with SIGTERM or SIGINT.
// It is built statically (CGO_ENABLED=0) so the image needs no other file.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
}
