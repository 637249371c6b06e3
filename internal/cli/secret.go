package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/engine/local"
	"github.com/berth-dev/berth/internal/secrets"
	"github.com/berth-dev/berth/internal/spec"
)

func init() { extraCommands = append(extraCommands, newSecretCommand) }

// secretCommand is `berth secret` and its subcommands. They go through the
// engine: the running control plane's store, or, when none runs, the state
// directory's store directly (so they work before the first `berth up`).
type secretCommand struct {
	cmd *cobra.Command
	g   *globals
}

func newSecretCommand(g *globals) *cobra.Command {
	c := &secretCommand{g: g}
	c.cmd = &cobra.Command{
		Use:   "secret",
		Short: "Manage encrypted secrets and config values (set, ls, get, rm)",
		Long: `secret manages the values services reference under secrets: and config: in
berth.yaml. Values are encrypted at rest in the state directory's store with the
master key (BERTH_MASTER_KEY, or STATE/master.key created on first use), and
every change is a new version. Names are scoped by --env: with --env prod,
NAME is stored as prod/NAME.

A task gets the values only in its environment, at the versions its release
recorded; after ` + "`secret set`" + ` the services that use the name are rolled
to a new release with the new version.`,
	}
	c.cmd.AddCommand(c.newSet(), c.newList(), c.newGet(), c.newRemove())
	return c.cmd
}

// scoped returns the store name of NAME under --env. A name already
// prefixed with the environment is taken as is, so the name an error
// message shows (prod/DB_PASSWORD) can be pasted back.
func (c *secretCommand) scoped(name string) (string, error) {
	full := name
	if env := c.g.env; env != "" && !strings.HasPrefix(name, env+"/") {
		full = secrets.ScopedName(env, name)
	}
	if err := secrets.ValidateName(full); err != nil {
		return "", usageErr("%v", err)
	}
	return full, nil
}

// noValueArgs refuses a value on the command line, where it would land in
// shell history and /proc/PID/cmdline. The refused argument is not echoed.
func noValueArgs(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return usageErr("name the secret: %s NAME", cmd.CommandPath())
	case len(args) > 1:
		return usageErr("berth secret set takes only NAME: the value is never read from the command line (it would land in shell history); pipe it on stdin or pass --from-file FILE")
	}
	return nil
}

func (c *secretCommand) newSet() *cobra.Command {
	var fromFile string
	var noRollout bool
	cmd := &cobra.Command{
		Use:   "set NAME [--from-file FILE] [--no-rollout]",
		Short: "Store a new version of a secret (value from stdin or a file, never from argv)",
		Long: `set stores the value read from stdin (prompted for, without echo, on a
terminal) or from --from-file as the next version of NAME. One trailing
newline is removed; an empty value is refused.

If a control plane runs, every service whose live release uses NAME is rolled
to a new release (same artifact and config, new secret version) with a
zero-downtime rolling deployment, and set waits for it like deploy does.
--no-rollout stores the value only: it applies at the next deploy. Without a
running control plane, too, the value applies at the next deploy.`,
		Args: noValueArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.set(cmd.Context(), cmd.InOrStdin(), args[0], fromFile, noRollout)
		},
	}
	cmd.Flags().StringVar(&fromFile, "from-file", "", "read the value from this file instead of stdin")
	cmd.Flags().BoolVar(&noRollout, "no-rollout", false, "store the value without rolling the services that use it")
	return cmd
}

func (c *secretCommand) set(ctx context.Context, in io.Reader, name, fromFile string, noRollout bool) error {
	full, err := c.scoped(name)
	if err != nil {
		return err
	}
	value, err := c.readValue(in, full, fromFile)
	if err != nil {
		return err
	}
	e := c.engine()
	version, err := e.SetSecret(ctx, full, value)
	clear(value)
	if err != nil {
		return failed(err)
	}
	out := c.g.stdout
	fmt.Fprintf(out, "stored %s version %d\n", full, version)
	if noRollout {
		fmt.Fprintf(out, "--no-rollout: services that use %s get the new value at their next deploy\n", full)
		return nil
	}
	resp, err := e.RolloutSecrets(ctx, api.SecretsRolloutRequest{Names: []string{full}})
	switch {
	case isUnreachable(err):
		fmt.Fprintf(out, "no control plane is running: the new value applies at the next deploy (`berth up` or `berth deploy`)\n")
		return nil
	case err != nil:
		return failed(fmt.Errorf("stored %s version %d, but rolling the services that use it failed: %w\n  fix the cause, then run `berth deploy`", full, version, err))
	case len(resp.Deployments) == 0:
		fmt.Fprintf(out, "no running service uses %s at an older version; nothing to roll\n", full)
		return nil
	}
	var rolled []string
	for _, d := range resp.Deployments {
		rolled = append(rolled, d.Service)
	}
	fmt.Fprintf(out, "rolling %s to the new version (release set %s):\n", strings.Join(rolled, ", "), resp.SetID)
	return c.g.follow(ctx, e, resp.Deployments, out)
}

// maxInput bounds what set reads, one byte past the largest value so an
// oversized one is reported instead of cut.
const maxInput = secrets.MaxValueSize + 2

// readValue reads the value of a secret from a file or stdin (in), without
// one trailing newline, refusing an empty one.
func (c *secretCommand) readValue(in io.Reader, name, fromFile string) ([]byte, error) {
	var (
		raw []byte
		err error
	)
	switch {
	case fromFile != "":
		var f *os.File
		f, err = os.Open(fromFile)
		if err != nil {
			return nil, usageErr("read value of %s: %v", name, err)
		}
		raw, err = io.ReadAll(io.LimitReader(f, maxInput))
		_ = f.Close()
	case isTerminal(in):
		fmt.Fprintf(c.g.stderr, "value of %s (input hidden, end with Enter): ", name)
		raw, err = readHidden(in.(*os.File))
		fmt.Fprintln(c.g.stderr)
	default:
		raw, err = io.ReadAll(io.LimitReader(in, maxInput))
	}
	if err != nil {
		return nil, failed(fmt.Errorf("read value of %s: %w", name, err))
	}
	raw = trimNewline(raw)
	if len(raw) == 0 {
		return nil, usageErr("refusing to store an empty value for %s: pipe the value on stdin (e.g. `printf %%s \"$VALUE\" | berth secret set %s`) or pass --from-file FILE", name, name)
	}
	return raw, nil
}

// trimNewline removes one trailing "\n" or "\r\n".
func trimNewline(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// readHidden reads one line from a terminal with echo turned off.
func readHidden(f *os.File) ([]byte, error) {
	line, err := term.ReadPassword(int(f.Fd()))
	if len(line) > maxInput {
		return nil, fmt.Errorf("the value is longer than %d bytes", maxInput)
	}
	return line, err
}

// secretRow is one line of `berth secret ls`.
type secretRow struct {
	Name      string    `json:"name"`
	Version   int       `json:"version,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	UsedBy    []string  `json:"used_by"`
	// Missing means the spec references the name but it is not set.
	Missing bool `json:"missing,omitempty"`
}

func (c *secretCommand) newList() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List secrets: names, versions, when updated and which services use them (never values)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			rows, err := c.list(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSONTo(c.g.stdout, rows)
			}
			if len(rows) == 0 {
				fmt.Fprintln(c.g.stdout, "no secrets; store one with: berth secret set NAME < FILE")
				return nil
			}
			tw := newTable(c.g.stdout)
			fmt.Fprintln(tw, "NAME\tVERSION\tUPDATED\tUSED BY")
			for _, r := range rows {
				version, updated := fmt.Sprint(r.Version), r.UpdatedAt.Local().Format(time.DateTime)
				if r.Missing {
					version, updated = "-", "MISSING: berth secret set "+r.Name
				}
				used := strings.Join(r.UsedBy, ",")
				if used == "" {
					used = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, version, updated, used)
			}
			return tw.Flush()
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

// list describes every stored secret and every name the spec references
// but the store lacks. It never decrypts a value.
func (c *secretCommand) list(ctx context.Context) ([]secretRow, error) {
	infos, err := c.engine().ListSecrets(ctx)
	if err != nil {
		return nil, failed(c.g.explain(err))
	}
	users := map[string][]string{}
	if sp, err := c.g.loadSpec(); err == nil {
		users = secretUsers(c.g.env, sp)
	} else if _, statErr := os.Stat(c.g.specPath()); statErr == nil {
		fmt.Fprintf(c.g.stderr, "warning: cannot tell which services use them: %v\n", err)
	}
	rows := make([]secretRow, 0, len(infos))
	seen := map[string]bool{}
	for _, in := range infos {
		seen[in.Name] = true
		rows = append(rows, secretRow{Name: in.Name, Version: in.Version, UpdatedAt: in.UpdatedAt, UsedBy: orEmpty(users[in.Name])})
	}
	for _, name := range slices.Sorted(maps.Keys(users)) {
		if !seen[name] {
			rows = append(rows, secretRow{Name: name, UsedBy: users[name], Missing: true})
		}
	}
	slices.SortFunc(rows, func(a, b secretRow) int { return strings.Compare(a.Name, b.Name) })
	return rows, nil
}

// engine is the engine secrets go through: with no BERTH_API, the local
// control plane, or the state directory's store when none runs.
func (c *secretCommand) engine() engine.Engine {
	e := c.g.engine()
	if lc, ok := e.(*local.Client); ok && os.Getenv("BERTH_API") == "" {
		return lc.WithState(c.g.stateDir())
	}
	return e
}

// secretUsers maps each local secret the spec references to the services
// that use it.
func secretUsers(env string, sp *spec.Spec) map[string][]string {
	return new(secrets.Store).Users(env, specRefs(sp))
}

// specRefs maps each service of the spec to its secret and config
// references (environment variable → reference).
func specRefs(sp *spec.Spec) map[string]map[string]string {
	uses := make(map[string]map[string]string, len(sp.Services))
	for name, s := range sp.Services {
		refs := map[string]string{}
		maps.Copy(refs, s.Secrets)
		for k, v := range s.Config {
			refs["config:"+k] = v
		}
		uses[name] = refs
	}
	return uses
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (c *secretCommand) newGet() *cobra.Command {
	var reveal bool
	var version int
	cmd := &cobra.Command{
		Use:   "get NAME --reveal [--version N]",
		Short: "Print a secret's value (only with --reveal)",
		Long: `get prints the value of NAME (the latest version, or --version N) on stdout,
exactly as stored, without a trailing newline. It refuses without --reveal,
so a value never lands in a terminal's scrollback or a CI log by accident.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			full, err := c.scoped(args[0])
			if err != nil {
				return err
			}
			if !reveal {
				return usageErr("refusing to print the value of %s without --reveal: it would land in your terminal scrollback or CI log; use `berth secret ls` to see names and versions, or pass --reveal", full)
			}
			v, _, err := c.engine().Secret(cmd.Context(), full, version)
			if err != nil {
				return failed(c.g.explain(err))
			}
			_, err = c.g.stdout.Write(v)
			clear(v)
			return err
		},
	}
	cmd.Flags().BoolVar(&reveal, "reveal", false, "really print the value")
	cmd.Flags().IntVar(&version, "version", 0, "version to print (default the latest)")
	return cmd
}

func (c *secretCommand) newRemove() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"delete"},
		Short:   "Delete a secret (every version)",
		Long: `rm deletes every version of NAME. Running tasks keep the value they started
with, but no task that uses NAME can start again (a restart, a scale-up, a
deploy or a rollback) until NAME is set again and the service redeployed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			full, err := c.scoped(args[0])
			if err != nil {
				return err
			}
			if err := c.engine().DeleteSecret(cmd.Context(), full); err != nil {
				if errors.Is(err, secrets.ErrNotFound) {
					return usageErr("no secret %s (see `berth secret ls`)", full)
				}
				return failed(c.g.explain(err))
			}
			fmt.Fprintf(c.g.stdout, "deleted %s\n", full)
			if sp, err := c.g.loadSpec(); err == nil {
				if users := secretUsers(c.g.env, sp)[full]; len(users) > 0 {
					fmt.Fprintf(c.g.stdout, "warning: %s still use it: their tasks cannot start again until you set it again and deploy\n", strings.Join(users, ", "))
				}
			}
			return nil
		},
	}
}
