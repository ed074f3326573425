package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
)

func txnCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "txn",
		Usage: "Run a transaction (compares, then success or failure operations) read from stdin",
		UsageText: `coord txn [--interactive] < TXN

Reads a transaction in etcdctl's format from stdin: compares one per line,
a blank line, the operations to run when every compare holds, a blank line,
the operations to run otherwise. Prints SUCCESS or FAILURE, then each
operation's result (after a blank line) as put, get and del print it.
Every key of a transaction must live in one shard: give them a common
{hash tag}.

Compares:   value("KEY") = "VALUE"      version("KEY") > "2"
            create("KEY") = "0"         mod("KEY") < "9"
            lease("KEY") = "694d71ddacfda227"       (relations: = != > <)
Operations: put KEY VALUE [--prev-kv] [--lease ID]
            get KEY [RANGE_END] [--prefix|--from-key] [--limit N] [--rev R]
                [--keys-only] [--count-only]
            del KEY [RANGE_END] [--prefix|--from-key] [--prev-kv]
Words with spaces or special characters are Go-quoted: put "a b" "x\ny".

   printf 'value("{u}/lock") = "free"\n\nput {u}/lock mine\n\nget {u}/lock\n' | coord txn
   coord txn -i                          # prompts for each section`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "prompt for each section; an empty line ends it"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			var prompt func(string)
			if c.Bool("interactive") {
				prompt = func(s string) { fmt.Fprintln(env.stderr, s) }
			}
			spec, err := parseTxnInteractive(env.stdin, prompt)
			if err != nil {
				return usageErrorf(c, "txn: %v", err)
			}
			return withCall(c, func(ctx context.Context, cl *coord.Client) error {
				resp, err := cl.Txn(ctx).If(spec.compares...).Then(clientOps(spec.success)...).Else(clientOps(spec.failure)...).Commit()
				if err != nil {
					return err
				}
				ops := spec.failure
				if resp.Succeeded {
					ops = spec.success
				}
				views := make([]getView, len(ops))
				for i, o := range ops {
					views[i] = o.view()
				}
				withClusterID(&resp.Header, cl)
				return printTxn(env.stdout, format, resp, views)
			})
		},
	}
}

func clientOps(ops []txnOp) []coord.Op {
	out := make([]coord.Op, len(ops))
	for i, o := range ops {
		out[i] = o.clientOp()
	}
	return out
}
