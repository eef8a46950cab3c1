// compose-go-check loads a compose file with compose-go, the library `docker compose` itself uses
// to read, interpolate, validate (JSON schema + semantic checks) and normalise compose files, and
// prints the resulting project as JSON. Used by ../compose-go.test.ts; needs no Docker engine.
//
//	go run . <compose file> [<env file>]
//
// Only the env file (if given) is seen by interpolation, never the caller's environment.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: compose-go-check <compose file> [<env file>]")
		os.Exit(2)
	}
	file, err := filepath.Abs(os.Args[1])
	if err != nil {
		fail(err)
	}
	options := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(filepath.Dir(file))}
	if len(os.Args) == 3 {
		envFile, err := filepath.Abs(os.Args[2])
		if err != nil {
			fail(err)
		}
		options = append(options, cli.WithEnvFiles(envFile), cli.WithDotEnv)
	}
	opts, err := cli.NewProjectOptions([]string{file}, options...)
	if err != nil {
		fail(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
