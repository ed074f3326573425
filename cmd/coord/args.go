package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// passthroughCommands are the commands (by path, "lock acquire") whose
// arguments after "--" are a command line to run. For them reorderArgs keeps
// the "--" boundary in the arguments the action sees; for every other
// command "--" only ends the flags, as in etcdctl.
var passthroughCommands = map[string]bool{
	"lock acquire":      true,
	"elect campaign":    true,
	"barrier enter":     true,
	"semaphore acquire": true,
	"watch":             true,
}

// defaultSubcommands name, per command group, the subcommand a first
// argument that names no subcommand selects, as etcdctl's "lock NAME" and
// "elect NAME VALUE" do. A subcommand's name always wins: a lock named
// "status" is "coord lock acquire status".
var defaultSubcommands = map[string]string{
	"lock":  "acquire",
	"elect": "campaign",
}

// defaultSubcommand is the default subcommand of the command group path
// (levels its commands), or nil.
func defaultSubcommand(path []string, levels []*cli.Command) *cli.Command {
	if len(levels) == 0 {
		return nil
	}
	name, ok := defaultSubcommands[strings.Join(path, " ")]
	if !ok {
		return nil
	}
	return findCommand(levels[len(levels)-1].Subcommands, name, false)
}

// reorderArgs rewrites a command line so urfave/cli, which stops parsing
// flags at the first positional argument, sees every flag: global flags go
// right after the program name, each command's flags right after that
// command's name, then "--" and the positional arguments.
//
//	coord get a --prefix -w json  =>  coord -w json get --prefix -- a
//
// A flag is looked up in the innermost command first, then its parents, then
// the global flags, to learn whether it takes a value. Unknown flags stay
// with the innermost command, where urfave/cli reports them. Everything
// after the first "--" is positional (for a passthrough command it is kept
// behind a second "--").
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	for _, a := range args {
		// Shell completion must see the command line as typed.
		if a == "--generate-bash-completion" {
			return args
		}
	}

	rest := args[1:]
	commands := app.Commands
	var (
		path       []string       // command names as typed
		levels     []*cli.Command // the commands of path
		flags      = [][]string{nil}
		positional []string
		passthru   []string
		dash       bool
		unknown    []string // flags no command defines
		help       bool
	)
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			dash = true
			passthru = rest[i+1:]
			break
		}
		if isFlagArg(a) {
			level, takesValue, known := lookupFlag(app, levels, a)
			if !known && len(positional) == 0 {
				// A flag of the default subcommand ("coord lock --ttl 5s
				// NAME") selects it.
				if def := defaultSubcommand(path, levels); def != nil && findFlag(def.Flags, flagName(a)) != nil {
					path = append(path, def.Name)
					levels = append(levels, def)
					flags = append(flags, nil)
					commands = def.Subcommands
					level, takesValue, known = lookupFlag(app, levels, a)
				}
			}
			if !known {
				unknown = append(unknown, a)
				continue
			}
			if name := flagName(a); name == "help" || name == "h" {
				help = true
			}
			flags[level] = append(flags[level], a)
			if takesValue && !strings.Contains(a, "=") && i+1 < len(rest) {
				i++
				flags[level] = append(flags[level], rest[i])
			}
			continue
		}
		if len(positional) == 0 {
			if cmd := findCommand(commands, a, len(levels) == 0); cmd != nil {
				path = append(path, a)
				levels = append(levels, cmd)
				flags = append(flags, nil)
				commands = cmd.Subcommands
				continue
			}
			if def := defaultSubcommand(path, levels); def != nil {
				if a == "help" || a == "h" {
					// "coord lock help": the group's help.
					flags[len(levels)] = append(flags[len(levels)], "--help")
					help = true
					continue
				}
				// etcdctl's shape: "coord lock NAME" is "coord lock
				// acquire NAME"; a subcommand's name wins over a NAME.
				path = append(path, def.Name)
				levels = append(levels, def)
				flags = append(flags, nil)
				commands = def.Subcommands
			}
		}
		positional = append(positional, a)
	}

	// Unknown flags go to the innermost command, which reports them.
	flags[len(flags)-1] = append(flags[len(flags)-1], unknown...)
	if help {
		// Help shows the innermost command; its arguments do not matter.
		positional, dash = nil, false
	}

	out := []string{args[0]}
	out = append(out, flags[0]...)
	for i, name := range path {
		out = append(out, name)
		out = append(out, flags[i+1]...)
	}
	if len(positional) == 0 && !dash {
		return out
	}
	out = append(out, "--")
	out = append(out, positional...)
	if dash {
		if passthroughCommands[strings.Join(commandNames(levels), " ")] {
			out = append(out, "--")
		}
		out = append(out, passthru...)
	}
	return out
}

// isFlagArg reports whether a looks like a flag ("-w", "--prefix=x"); a
// lone "-" is an argument.
func isFlagArg(a string) bool {
	return len(a) > 1 && a[0] == '-'
}

// flagName is the name of a flag argument: "--limit=5" -> "limit".
func flagName(arg string) string {
	name := strings.TrimLeft(arg, "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		name = name[:i]
	}
	return name
}

// lookupFlag finds the flag of arg in the innermost command of levels, then
// its parents, then the global flags. It returns the level (0 = global,
// i = levels[i-1]) where the flag belongs, whether it takes a value and
// whether it was found at all.
func lookupFlag(app *cli.App, levels []*cli.Command, arg string) (int, bool, bool) {
	name := flagName(arg)
	for i := len(levels) - 1; i >= 0; i-- {
		if f := findFlag(levels[i].Flags, name); f != nil {
			return i + 1, flagTakesValue(f), true
		}
	}
	if f := findFlag(app.Flags, name); f != nil {
		return 0, flagTakesValue(f), true
	}
	if name == "help" || name == "h" {
		// urfave/cli adds the help flag to every command during Run.
		return len(levels), false, true
	}
	return 0, false, false
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func flagTakesValue(f cli.Flag) bool {
	if d, ok := f.(cli.DocGenerationFlag); ok {
		return d.TakesValue()
	}
	return false
}

func findCommand(cmds []*cli.Command, name string, top bool) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	if top && (name == "help" || name == "h") {
		// urfave/cli adds the help command during Run.
		return &cli.Command{Name: name}
	}
	return nil
}

func commandNames(levels []*cli.Command) []string {
	names := make([]string, len(levels))
	for i, c := range levels {
		names[i] = c.Name
	}
	return names
}

// splitPassthrough splits the arguments of a passthrough command into its
// own arguments and the command line after "--".
func splitPassthrough(args []string) (own, command []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

// nameAndFormat reads the one NAME argument and the -w format of a
// command about one named primitive.
func nameAndFormat(c *cli.Context) (name, format string, err error) {
	args, err := argsBetween(c, 1, 1, "NAME")
	if err != nil {
		return "", "", err
	}
	if format, err = outputFormat(c); err != nil {
		return "", "", err
	}
	return args[0], format, nil
}

// rangeArgs reads KEY [RANGE_END], the -w format and the range flags
// (--prefix, --from-key) of get, del and watch.
func rangeArgs(c *cli.Context) (args []string, format string, err error) {
	return rangeArgsOf(c, c.Args().Slice())
}

// rangeArgsOf is rangeArgs over the given arguments (those before "--" of
// a passthrough command).
func rangeArgsOf(c *cli.Context, all []string) (args []string, format string, err error) {
	switch {
	case len(all) < 1:
		return nil, "", usageErrorf(c, "missing argument: KEY [RANGE_END]")
	case len(all) > 2:
		return nil, "", usageErrorf(c, "too many arguments: unexpected %q (usage: KEY [RANGE_END])", all[2])
	}
	args = all
	if format, err = outputFormat(c); err != nil {
		return nil, "", err
	}
	if err := checkRangeFlags(c.Bool("prefix"), c.Bool("from-key"), len(args) == 2); err != nil {
		return nil, "", usageErrorf(c, "%v", err)
	}
	return args, format, nil
}
