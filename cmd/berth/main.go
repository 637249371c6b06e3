// Command berth deploys a repository of services from a git commit to
// running, health-checked, load-balanced services.
package main

import (
	"os"

	"github.com/berth-dev/berth/internal/cli"
)

func main() {
	os.Exit(cli.Execute())
}
