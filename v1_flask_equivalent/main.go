// Command v1_flask_equivalent is the first stage of the pingpong workshop: the
// bare binary. It answers GET / with a greeting and GET /ping with "pong", the
// same two routes the original Flask app had, and nothing else.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		os.Exit(1)
	}
}

// run is the whole program: main only hands it the process's arguments,
// environment and output, so tests start the real thing with their own.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	port, err := portFrom(args, getenv)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              ":" + strconv.Itoa(port),
		Handler:           newServer(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	listener, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	fmt.Fprintf(stdout, "listening on http://localhost:%d\n", listener.Addr().(*net.TCPAddr).Port)

	go func() {
		<-ctx.Done()
		// Give in-flight requests a moment; v2 turns this into proper graceful shutdown.
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	if err := srv.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// portFrom reads the port from the -port flag, else from PORT, else 5000: the
// port the original Flask workshop used.
func portFrom(args []string, getenv func(string) string) (int, error) {
	defaultPort := 5000
	if env := getenv("PORT"); env != "" {
		p, err := strconv.Atoi(env)
		if err != nil {
			return 0, fmt.Errorf("invalid PORT=%q: want a whole number from 0 to 65535", env)
		}
		defaultPort = p
	}
	flags := flag.NewFlagSet(filepath.Base(args[0]), flag.ContinueOnError)
	port := flags.Int("port", defaultPort, "TCP port to listen on (0 picks a free one)")
	if err := flags.Parse(args[1:]); err != nil {
		return 0, err
	}
	if *port < 0 || *port > 65535 {
		return 0, fmt.Errorf("invalid port %d: want a whole number from 0 to 65535", *port)
	}
	return *port, nil
}
