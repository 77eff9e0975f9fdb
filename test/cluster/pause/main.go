// Command pause is the first container of every pod on the test node: it holds the pod's
// namespaces open and does nothing else until it is told to stop. It stands in for the
// upstream pause image, which cannot be pulled where the tests run.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
