package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/coord-io/coord/coord"
	"github.com/coord-io/coord/coord/server"
	"github.com/coord-io/coord/statemachine"
)

func snapshotCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "Back up every shard to one file, check a backup, restore one into a new cluster",
		UsageText: `coord snapshot save FILE [--force]
coord snapshot status FILE [-w simple|table|json]
coord snapshot restore FILE --data-dir DIR --name NAME --initial-cluster n1=PEER,...

A backup is one checksummed file holding every shard of the cluster as
one member has it: each shard at one applied index, read after a
linearizable barrier on that shard. The shards are not one atomic cut of
the whole cluster (as with a range over several shards): a write applied
to shard 1 while shard 0 was being read may be in the file while an
earlier write to shard 0 is not. With one shard it is one point in time.

Restore builds the data directory of one member of a NEW cluster; run it
once per member, each with its own --data-dir and --name and the same
--initial-cluster, then start each member with coord serve and the same
flags and --shards (the backup's shard count). The new cluster has every
key (with its history), lease, lock, election, queue (in-flight items
included), barrier and semaphore of the backup, and the auth store. Each
lease's TTL starts again in full when the new cluster starts. It gets a
new cluster identity: clients of the old cluster must reconnect.

etcdctl snapshot save FILE (through the etcd door) saves the same bytes:
coord snapshot status and restore read its file too.

   coord snapshot save backup.coord
   coord snapshot status backup.coord -w table
   coord snapshot restore backup.coord --name n1 --data-dir /var/lib/coord/n1 \
       --initial-cluster n1=10.0.0.1:7380,n2=10.0.0.2:7380,n3=10.0.0.3:7380`,
		Action: groupAction,
		Subcommands: []*cli.Command{
			snapshotSaveCommand(env),
			snapshotStatusCommand(env),
			snapshotRestoreCommand(env),
		},
	}
}

func snapshotSaveCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "save",
		Usage: "Save a backup of every shard from one member to FILE",
		UsageText: `coord snapshot save FILE [--force] [--endpoints ONE]

Streams a backup of every shard from the first endpoint that answers (name
one member with --endpoints to choose it) into FILE.part, checks it, then
renames it to FILE. An existing FILE is kept unless --force. It runs until
the file is complete, however long that takes, unless --timeout is given;
Ctrl-C stops it and removes FILE.part. With auth on, only root may save.

   coord snapshot save backup.coord
   coord snapshot save --endpoints 10.0.0.2:7379 --force /backups/nightly.coord`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "overwrite FILE if it exists"},
		},
		Action: func(c *cli.Context) error {
			args, err := argsBetween(c, 1, 1, "FILE")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			path := args[0]
			if _, err := os.Stat(path); err == nil && !c.Bool("force") {
				return fmt.Errorf("%s exists: not overwritten (use --force to replace it)", path)
			}
			ctx, cancel := context.WithCancel(c.Context)
			if rootContext(c).IsSet("timeout") {
				ctx, cancel = callContext(c)
			}
			defer cancel()
			var sum *statemachine.BackupSummary
			var info *coord.SnapshotInfo
			err = withClient(c, func(cl *coord.Client) error {
				info, sum, err = saveSnapshot(ctx, cl, path)
				return err
			})
			if err != nil {
				return err
			}
			switch format {
			case formatJSON:
				return writeJSON(env.stdout, snapshotJSON(path, sum))
			default:
				var keys int64
				for _, s := range sum.Shards {
					keys += s.Keys
				}
				fmt.Fprintf(env.stdout, "Snapshot saved at %s: %d bytes, %d shards, %d keys, from member %s\n",
					path, sum.Size, len(sum.Shards), keys, info.Member)
				return nil
			}
		},
	}
}

// saveSnapshot streams a backup into path+".part", syncs and verifies
// it, and renames it to path; .part is removed on failure.
func saveSnapshot(ctx context.Context, cl *coord.Client, path string) (*coord.SnapshotInfo, *statemachine.BackupSummary, error) {
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(part)
		}
	}()
	info, err := cl.Snapshot(ctx, "", f)
	if err != nil {
		return nil, nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, nil, err
	}
	if err := f.Close(); err != nil {
		return nil, nil, err
	}
	sum, err := verifyBackupFile(part)
	if err != nil {
		return nil, nil, fmt.Errorf("the backup received does not verify: %w", err)
	}
	if err := os.Rename(part, path); err != nil {
		return nil, nil, err
	}
	ok = true
	return info, sum, nil
}

// verifyBackupFile reads and checks the backup at path.
func verifyBackupFile(path string) (*statemachine.BackupSummary, error) {
	f, size, err := statemachine.OpenBackupFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sum, err := statemachine.ReadBackup(f, size, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sum, nil
}

func snapshotStatusCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "Check a backup file and print what it holds",
		UsageText: `coord snapshot status FILE [-w simple|table|json]

Verifies FILE (its SHA-256, and each shard's CRC-32C) and prints the
cluster and member it was taken from, when, its size and checksum, and for
each shard: the applied index and revision it was taken at, its compact
revision, its live keys (the primitives' reserved keys included), its
stored versions of keys (history and tombstones included), its leases and
its bytes. A damaged or truncated file is an error (exit status 1). No
member is contacted.

   coord snapshot status backup.coord
   coord snapshot status backup.coord -w json`,
		Action: func(c *cli.Context) error {
			args, err := argsBetween(c, 1, 1, "FILE")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			sum, err := verifyBackupFile(args[0])
			if err != nil {
				return err
			}
			return printSnapshotStatus(env.stdout, format, args[0], sum)
		},
	}
}

// snapshotShardJSON is one shard of status -w json.
type snapshotShardJSON struct {
	Shard           uint32 `json:"shard"`
	AppliedIndex    uint64 `json:"applied_index"`
	Revision        int64  `json:"revision"`
	CompactRevision int64  `json:"compact_revision"`
	Keys            int64  `json:"keys"`
	Versions        int64  `json:"versions"`
	Leases          int64  `json:"leases"`
	Bytes           int64  `json:"bytes"`
}

// snapshotStatusJSON is status -w json (and save -w json).
type snapshotStatusJSON struct {
	File      string              `json:"file"`
	Version   int                 `json:"version"`
	ClusterID string              `json:"cluster_id"`
	Member    string              `json:"member"`
	Created   string              `json:"created"`
	Size      int64               `json:"size"`
	SHA256    string              `json:"sha256"`
	Keys      int64               `json:"keys"`
	Shards    []snapshotShardJSON `json:"shards"`
}

func snapshotJSON(path string, s *statemachine.BackupSummary) snapshotStatusJSON {
	out := snapshotStatusJSON{File: path, Version: s.Header.Version, ClusterID: fmt.Sprintf("%016x", s.Header.ClusterID),
		Member: s.Header.Member, Created: time.UnixMilli(s.Header.Created).UTC().Format(time.RFC3339Nano),
		Size: s.Size, SHA256: s.SHA256}
	for _, sh := range s.Shards {
		out.Keys += sh.Keys
		out.Shards = append(out.Shards, snapshotShardJSON{Shard: sh.Shard, AppliedIndex: sh.AppliedIndex, Revision: sh.Revision,
			CompactRevision: sh.CompactRevision, Keys: sh.Keys, Versions: sh.Versions, Leases: sh.Leases, Bytes: sh.Bytes})
	}
	return out
}

func printSnapshotStatus(w io.Writer, format, path string, s *statemachine.BackupSummary) error {
	js := snapshotJSON(path, s)
	if format == formatJSON {
		return writeJSON(w, js)
	}
	fmt.Fprintf(w, "cluster %s, member %s, taken %s, %d shards, %d keys, %d bytes, sha256 %s\n",
		js.ClusterID, js.Member, js.Created, len(js.Shards), js.Keys, js.Size, js.SHA256)
	header := []string{"SHARD", "APPLIED INDEX", "REVISION", "COMPACT REVISION", "KEYS", "VERSIONS", "LEASES", "BYTES"}
	var rows [][]string
	for _, sh := range js.Shards {
		rows = append(rows, []string{strconv.Itoa(int(sh.Shard)), strconv.FormatUint(sh.AppliedIndex, 10), strconv.FormatInt(sh.Revision, 10),
			strconv.FormatInt(sh.CompactRevision, 10), strconv.FormatInt(sh.Keys, 10), strconv.FormatInt(sh.Versions, 10),
			strconv.FormatInt(sh.Leases, 10), strconv.FormatInt(sh.Bytes, 10)})
	}
	if format == formatTable {
		writeBorderedTable(w, header, rows, []bool{true, true, true, true, true, true, true, true})
		return nil
	}
	writePlainTable(w, header, rows)
	return nil
}

func snapshotRestoreCommand(env *cliEnv) *cli.Command {
	return &cli.Command{
		Name:  "restore",
		Usage: "Build one member's data directory of a new cluster from a backup",
		UsageText: `coord snapshot restore FILE --data-dir DIR --name NAME --initial-cluster n1=PEER,n2=PEER,...

Verifies FILE, then writes the state of every shard into DIR (which must
not exist or be empty) for member NAME of the new cluster --initial-cluster.
Run it once per member of the new cluster, then start each member with
coord serve --name NAME --data-dir DIR --initial-cluster ... --shards N
(N: the backup's shard count; another count is refused at start). The
members must all restore the same file. The new cluster gets a new
identity; each lease's TTL starts again in full when it starts.

   coord snapshot restore backup.coord --name n1 --data-dir n1.coord \
       --initial-cluster n1=127.0.0.1:7380,n2=127.0.0.1:7390,n3=127.0.0.1:7400`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Usage: "the new member's data `DIR` (new or empty)"},
			&cli.StringFlag{Name: "name", Usage: "the new member's `NAME`, one of --initial-cluster"},
			&cli.StringFlag{Name: "initial-cluster", Usage: "the new cluster's members, `n1=PEER,n2=PEER,...` (as coord serve takes it)"},
		},
		Action: func(c *cli.Context) error {
			args, err := argsBetween(c, 1, 1, "FILE")
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			for _, f := range []string{"data-dir", "name", "initial-cluster"} {
				if c.String(f) == "" {
					return usageErrorf(c, "missing flag: --%s", f)
				}
			}
			sum, err := server.Restore(server.RestoreConfig{Backup: args[0], DataDir: c.String("data-dir"),
				Name: c.String("name"), InitialCluster: c.String("initial-cluster")})
			if err != nil {
				if errors.Is(err, statemachine.ErrCorruptBackup) {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				return err
			}
			if format == formatJSON {
				return writeJSON(env.stdout, snapshotJSON(args[0], sum))
			}
			var keys int64
			for _, s := range sum.Shards {
				keys += s.Keys
			}
			fmt.Fprintf(env.stdout, "Restored %s (%d shards, %d keys) into %s for member %s.\n", args[0], len(sum.Shards), keys, c.String("data-dir"), c.String("name"))
			fmt.Fprintf(env.stdout, "Start it with: coord serve --name %s --data-dir %s --initial-cluster %s --shards %d\n",
				c.String("name"), c.String("data-dir"), c.String("initial-cluster"), len(sum.Shards))
			return nil
		},
	}
}
