package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
)

const defaultEndpoint = "127.0.0.1:7379"

// Output formats of -w/--write-out.
const (
	formatSimple = "simple"
	formatJSON   = "json"
	formatTable  = "table"
)

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    "endpoints",
			Usage:   "comma-separated client `ADDRS` of cluster members",
			EnvVars: []string{"COORD_ENDPOINTS"},
			Value:   defaultEndpoint,
		},
		&cli.DurationFlag{
			Name:  "timeout",
			Usage: "`DURATION` allowed for each request",
			Value: 5 * time.Second,
		},
		&cli.DurationFlag{
			Name:  "dial-timeout",
			Usage: "`DURATION` allowed for connecting to one endpoint",
			Value: 2 * time.Second,
		},
		&cli.StringFlag{
			Name:    "write-out",
			Aliases: []string{"w"},
			Usage:   "output `FORMAT`: simple, json or table",
			Value:   formatSimple,
		},
		&cli.StringFlag{Name: "cacert", Usage: "verify servers with this CA bundle `FILE` (PEM); enables TLS"},
		&cli.StringFlag{Name: "cert", Usage: "client certificate `FILE` (PEM) for mutual TLS; needs --key"},
		&cli.StringFlag{Name: "key", Usage: "client private key `FILE` (PEM) for mutual TLS; needs --cert"},
		&cli.StringFlag{
			Name:    "user",
			Usage:   "authenticate as user `NAME[:PASSWORD]` (asks for the password on a terminal when it is missing)",
			EnvVars: []string{"COORD_USER"},
		},
		&cli.StringFlag{
			Name:    "password",
			Usage:   "`PASSWORD` of --user (then --user is the name alone, colons and all)",
			EnvVars: []string{"COORD_PASSWORD"},
		},
	}
}

// outputFormat returns the -w format, validated.
func outputFormat(c *cli.Context) (string, error) {
	switch f := c.String("write-out"); f {
	case formatSimple, formatJSON, formatTable:
		return f, nil
	default:
		return "", usageErrorf(c, "unknown output format %q for --write-out (want simple, json or table)", f)
	}
}

// endpoints returns the --endpoints list.
func endpoints(c *cli.Context) ([]string, error) {
	var eps []string
	for _, e := range strings.Split(c.String("endpoints"), ",") {
		if e = strings.TrimSpace(e); e != "" {
			e = strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://")
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return nil, usageErrorf(c, "--endpoints is empty")
	}
	return eps, nil
}

// tlsConfig builds the client TLS configuration from --cacert, --cert and
// --key; nil when none is set.
func tlsConfig(c *cli.Context) (*tls.Config, error) {
	// Read from the global flags: `lease grant` has a --key of its own.
	g := rootContext(c)
	ca, cert, key := g.String("cacert"), g.String("cert"), g.String("key")
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	if (cert == "") != (key == "") {
		return nil, usageErrorf(c, "--cert and --key must be given together")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("reading --cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificates found", ca)
		}
		cfg.RootCAs = pool
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("loading --cert/--key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// rootContext is the context of the global flags: the outermost one of
// the app (urfave/cli puts a bare context, without App, above it).
func rootContext(c *cli.Context) *cli.Context {
	l := c.Lineage()
	for i := len(l) - 1; i >= 0; i-- {
		if l[i] != nil && l[i].App != nil {
			return l[i]
		}
	}
	return c
}

// clientConfig is the client configuration of the global flags:
// endpoints, dial timeout, TLS and credentials.
func clientConfig(c *cli.Context) (coord.Config, error) {
	eps, err := endpoints(c)
	if err != nil {
		return coord.Config{}, err
	}
	tc, err := tlsConfig(c)
	if err != nil {
		return coord.Config{}, err
	}
	user, password, err := credentials(c)
	if err != nil {
		return coord.Config{}, err
	}
	return coord.Config{
		Endpoints:   eps,
		DialTimeout: c.Duration("dial-timeout"),
		TLS:         tc,
		Username:    user,
		Password:    password,
		// A command uses the endpoints it was given (they may be
		// proxies); membership changes also learn the members' own
		// addresses (a member does not remove itself: remove goes on
		// through another member even if only the removed one was given).
		StaticEndpoints: !isMemberCommand(c),
	}, nil
}

// isMemberCommand reports whether c runs under coord member.
func isMemberCommand(c *cli.Context) bool {
	for _, l := range c.Lineage() {
		if l != nil && l.Command != nil && l.Command.Name == "member" {
			return true
		}
	}
	return false
}

// newClient makes a client from the global flags.
func newClient(c *cli.Context) (*coord.Client, error) {
	cfg, err := clientConfig(c)
	if err != nil {
		return nil, err
	}
	return coord.New(cfg)
}

// withClient runs f with a client made from the global flags and closes it.
func withClient(c *cli.Context, f func(cl *coord.Client) error) error {
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	defer cl.Close()
	return f(cl)
}

// withCall runs f with a client and the context of one request
// (callContext).
func withCall(c *cli.Context, f func(ctx context.Context, cl *coord.Client) error) error {
	return withClient(c, func(cl *coord.Client) error {
		ctx, cancel := callContext(c)
		defer cancel()
		return f(ctx, cl)
	})
}

// callContext is the context of one request: --timeout from now.
func callContext(c *cli.Context) (context.Context, context.CancelFunc) {
	if d := c.Duration("timeout"); d > 0 {
		return context.WithTimeout(c.Context, d)
	}
	return context.WithCancel(c.Context)
}

// describeError is the one-line reason printed for a failed operation.
func describeError(err error) string {
	msg := oneLine(err.Error())
	// No hint that no member runs when one answered (a refusal such as
	// "too many client connections" or "requires TLS").
	unreachable := !isServerError(err) && (errors.Is(err, coord.ErrNoEndpoints) ||
		errors.Is(err, coord.ErrUnavailable) ||
		strings.Contains(msg, coord.ErrNoEndpoints.Error()))
	switch {
	case unreachable:
		return msg + " (is a member running? start one with `coord serve` or `coord dev`, or set --endpoints)"
	case errors.Is(err, coord.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		if !strings.Contains(msg, "time") {
			msg = "timed out: " + msg
		}
		return msg + " (raise --timeout if the cluster is slow)"
	case errors.Is(err, coord.ErrPermissionDenied):
		return deniedMessage(serverMessage(err, msg))
	case errors.Is(err, coord.ErrAuthFailed):
		// The member's reason alone: a refused handshake is no
		// unreachable endpoint.
		msg = serverMessage(err, msg)
		if !strings.Contains(msg, "authentication failed") {
			msg = "authentication failed: " + msg
		}
		return msg + " (check --user and --password, or COORD_USER and COORD_PASSWORD)"
	case errors.Is(err, coord.ErrCompacted):
		if rev := coord.CompactRevision(err); rev > 0 && !strings.Contains(msg, fmt.Sprint(rev)) {
			return fmt.Sprintf("%s (compacted revision %d)", msg, rev)
		}
	}
	return msg
}

// isServerError reports whether err carries a message from the server (as
// opposed to a failure to reach it).
func isServerError(err error) bool {
	var e *coord.Error
	return errors.As(err, &e)
}

// serverMessage is the member's own message in err, or msg when err
// carries none.
func serverMessage(err error, msg string) string {
	var e *coord.Error
	if errors.As(err, &e) {
		return oneLine(e.Error())
	}
	return msg
}

// deniedMessage is the line of a permission denied error:
// "coord: permission denied: REASON".
func deniedMessage(msg string) string {
	reason := strings.TrimPrefix(msg, "coord: ")
	reason = strings.TrimPrefix(reason, "permission denied")
	reason = strings.TrimLeft(reason, ":; ")
	if reason == "" {
		return "coord: permission denied"
	}
	return "coord: permission denied: " + reason
}
