/**
 * Builds the commander program from the option table and the command list, and turns argv
 * into one typed `Invocation`. Commander never exits or prints errors by itself here: every
 * problem becomes a `UsageError` (exit 2) with a one-line message and a hint.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { UsageError } from "../errors.ts";
import { environmentHelp } from "./environment_help.ts";
import { GLOBAL_OPTIONS, refuseSecrets } from "./options.ts";
import type { GlobalFlags, Invocation } from "./invocation.ts";

/** What parsing produced: a command to run, or text already shown (help) with its status. */
export type ParseResult =
  | { kind: "run"; invocation: Invocation; flags: GlobalFlags }
  | { kind: "none"; flags: GlobalFlags }
  | { kind: "shown"; exitCode: number };

function intArg(name: string, min: number): (v: string) => number {
  return (v: string): number => {
    if (!/^[+-]?\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be an integer`);
    const n = Number.parseInt(v, 10);
    if (n < min) throw new InvalidArgumentError(`${name} must be at least ${min}`);
    return n;
  };
}

/** Parses `argv` (without the program name). */
export function parseArgs(argv: readonly string[], write: (text: string) => void): ParseResult {
  refuseSecrets(argv);
  let result: ParseResult | undefined;
  const program = new Command("wal-e");
  const flags = (): GlobalFlags => program.opts<GlobalFlags>();
  const done = (invocation: Invocation): void => {
    result = { kind: "run", invocation, flags: flags() };
  };
  program
    .exitOverride()
    .enablePositionalOptions()
    .configureOutput({ writeOut: write, writeErr: () => {} })
    .description("Continuous archiving of PostgreSQL WAL files and base backups (WAL-E).")
    .addHelpText("after", `\n${environmentHelp()}`)
    .action(() => {
      result = { kind: "none", flags: flags() };
    });
  for (const o of GLOBAL_OPTIONS) program.option(o.flags, o.help);

  program.command("version").description("print the version and exit").action(() =>
    done({ name: "version", input: {} })
  );

  program.command("backup-push")
    .description("push a base backup of a PostgreSQL cluster to the store")
    .argument("<PG_CLUSTER_DIRECTORY>", "the cluster's data directory")
    .option("-p, --pool-size <N>", "partitions uploaded in parallel", intArg("--pool-size", 1), 4)
    .option(
      "--cluster-read-rate-limit <BYTES_PER_SECOND>",
      "limit the read rate of the cluster's files (bytes per second, all partitions together)",
      intArg("--cluster-read-rate-limit", 1),
    )
    .option("--while-offline", "back up a cluster that is shut down (reads pg_controldata)")
    .option(
      "--fast-checkpoint",
      "request an immediate checkpoint at backup start (WAL-E always spread it)",
    )
    .action((
      dir: string,
      o: {
        poolSize: number;
        clusterReadRateLimit?: number;
        whileOffline?: boolean;
        fastCheckpoint?: boolean;
      },
    ) =>
      done({
        name: "backup-push",
        input: {
          clusterDirectory: dir,
          poolSize: o.poolSize,
          readRateLimit: o.clusterReadRateLimit,
          whileOffline: o.whileOffline === true,
          fastCheckpoint: o.fastCheckpoint === true,
        },
      })
    );

  program.command("backup-fetch")
    .description("restore a base backup into an empty data directory")
    .argument("<PG_CLUSTER_DIRECTORY>", "directory to restore into")
    .argument("<BACKUP_NAME>", "a backup name or LATEST")
    .option("-p, --pool-size <N>", "partitions downloaded in parallel", intArg("--pool-size", 1), 4)
    .option("--blind-restore", "restore tablespaces under pg_tblspc without checking symlinks")
    .option(
      "--restore-spec <FILE|SOURCE>",
      "JSON file of directories and tablespace symlinks to create, or SOURCE for the backup's own",
    )
    .action((
      dir: string,
      name: string,
      o: { poolSize: number; blindRestore?: boolean; restoreSpec?: string },
    ) =>
      done({
        name: "backup-fetch",
        input: {
          clusterDirectory: dir,
          backupName: name,
          poolSize: o.poolSize,
          blindRestore: o.blindRestore === true,
          restoreSpec: o.restoreSpec,
        },
      })
    );

  program.command("backup-list")
    .description("list complete base backups (tab-separated, as WAL-E)")
    .argument("[QUERY]", "a backup name or LATEST")
    .option("--detail", "read each backup's sentinel for sizes and stop positions")
    .option("--json", "print a JSON array with the same fields instead of the table")
    .action((query: string | undefined, o: { detail?: boolean; json?: boolean }) =>
      done({
        name: "backup-list",
        input: { query, detail: o.detail === true, json: o.json === true },
      })
    );

  program.command("wal-push")
    .description("archive a WAL file (use in archive_command: wal-push %p)")
    .argument("<WAL_SEGMENT>", "path of the WAL file")
    .option(
      "-p, --pool-size <N>",
      "also archive up to N-1 other ready segments in parallel",
      intArg("--pool-size", 1),
      32,
    )
    .action((segment: string, o: { poolSize: number }) =>
      done({ name: "wal-push", input: { segmentPath: segment, poolSize: o.poolSize } })
    );

  program.command("wal-fetch")
    .description('restore a WAL file (use in restore_command: wal-fetch "%f" "%p")')
    .argument("<WAL_SEGMENT>", "name of the WAL file")
    .argument("<WAL_DESTINATION>", "path to write it to")
    .option(
      "-p, --prefetch <N>",
      "download the next N segments in the background (0 disables)",
      intArg("--prefetch", 0),
      8,
    )
    .action((segment: string, dest: string, o: { prefetch: number }) =>
      done({
        name: "wal-fetch",
        input: { segmentName: segment, destination: dest, prefetch: o.prefetch },
      })
    );

  program.command("wal-prefetch")
    .description("download segments into the prefetch area (started by wal-fetch)")
    .argument("<BASE_DIRECTORY>", "directory holding .wal-e/prefetch (normally pg_wal)")
    .argument("<SEGMENT...>", "segment names")
    .action((base: string, segments: string[]) =>
      done({ name: "wal-prefetch", input: { baseDirectory: base, segmentNames: segments } })
    );

  addDelete(program, done);

  program.command("wal-verify")
    .description(
      "check from the store alone that each backup's WAL is archived, with gaps and restorable windows",
    )
    .option("--json", "print one JSON document instead of one line per finding")
    .action((o: { json?: boolean }) =>
      done({ name: "wal-verify", input: { json: o.json === true } })
    );

  program.command("backup-verify")
    .description(
      "download and decode every partition of a backup and check it against its manifest",
    )
    .argument("<BACKUP_NAME>", "a backup name or LATEST")
    .option("--json", "print one JSON document instead of one line per finding")
    .option("-p, --pool-size <N>", "partitions read in parallel", intArg("--pool-size", 1), 4)
    .option("--restore", "after the checks pass, restore the backup and start it (a drill)")
    .option("--target-time <T>", "with --restore: recover to this time (recovery_target_time)")
    .option("--pg-bin <DIR>", "with --restore: PostgreSQL's binaries (initdb, pg_ctl, ...)")
    .action((
      name: string,
      o: {
        json?: boolean;
        poolSize: number;
        restore?: boolean;
        targetTime?: string;
        pgBin?: string;
      },
    ) => {
      if (o.restore !== true && (o.targetTime !== undefined || o.pgBin !== undefined)) {
        throw new UsageError("--target-time and --pg-bin apply only with --restore", {
          hint: 'Run "wal-e backup-verify --help" for usage.',
        });
      }
      done({
        name: "backup-verify",
        input: {
          backupName: name,
          json: o.json === true,
          poolSize: o.poolSize,
          restore: o.restore === true,
          targetTime: o.targetTime,
          pgBin: o.pgBin,
        },
      });
    });

  program.command("check")
    .description(
      "probe the store (write, read back, list, delete) and the cluster's archiving settings",
    )
    .option("--no-postgres", "check only the store, without connecting to PostgreSQL")
    .action((o: { postgres: boolean }) =>
      done({ name: "check", input: { postgres: o.postgres !== false } })
    );

  try {
    program.parse([...argv], { from: "user" });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version") {
      return { kind: "shown", exitCode: 0 };
    }
    if (err.code === "commander.help") {
      // A command that needs a subcommand got none (`wal-e delete`).
      throw new UsageError("a subcommand is required", {
        hint: `Run "wal-e ${argv.filter((a) => !a.startsWith("-")).join(" ")} --help".`,
      });
    }
    const unknown = program.args[0];
    if (err.code === "commander.excessArguments" && !/ for '/.test(err.message) && unknown) {
      // An unknown command: argparse's words, as WAL-E printed them.
      const choices = program.commands.map((c) => `'${c.name()}'`).join(", ");
      throw new UsageError(
        `argument subcommand: invalid choice: '${unknown}' (choose from ${choices})`,
        { hint: 'Run "wal-e --help" for the commands.' },
      );
    }
    throw new UsageError(err.message.replace(/^error: /, ""), {
      hint: 'Run "wal-e --help" or "wal-e COMMAND --help" for usage.',
    });
  }
  if (result === undefined) throw new Error("commander produced no result");
  if (
    result.kind !== "shown" && result.flags.awsAccessKeyId !== undefined &&
    result.flags.awsInstanceProfile === true
  ) {
    throw new UsageError(
      "argument --aws-instance-profile: not allowed with argument -k/--aws-access-key-id",
      { hint: "Use either static keys or the instance profile." },
    );
  }
  return result;
}

function addDelete(program: Command, done: (i: Invocation) => void): void {
  const del = program.command("delete")
    .description("delete old backups and WAL (a dry run unless --confirm)")
    .enablePositionalOptions()
    .option("-n, --dry-run", "only log what would be deleted (wins over --confirm)")
    .option("--confirm", "really delete");
  const mode = (): { confirm: boolean } => {
    const o = del.opts<{ dryRun?: boolean; confirm?: boolean }>();
    return { confirm: o.confirm === true && o.dryRun !== true };
  };
  del.command("before")
    .description("delete backups and WAL older than a base backup (or a WAL segment name)")
    .argument("<BEFORE_SEGMENT_EXCLUSIVE>", "a base backup name or a 24-hex WAL segment name")
    .action((before: string) =>
      done({ name: "delete", input: { action: "before", before, ...mode() } })
    );
  del.command("retain")
    .description("keep the newest N complete base backups and the WAL they need")
    .argument(
      "<NUM_TO_RETAIN>",
      "number of backups to keep (at least 1)",
      intArg("NUM_TO_RETAIN", 1),
    )
    .action((n: number) =>
      done({ name: "delete", input: { action: "retain", retain: n, ...mode() } })
    );
  del.command("old-versions")
    .description("delete objects of WAL-E's obsolete layouts (basebackups_000..004, wal_000..004)")
    .action(() => done({ name: "delete", input: { action: "old-versions", ...mode() } }));
  del.command("everything")
    .description("delete every backup and WAL object under the prefix")
    .action(() => done({ name: "delete", input: { action: "everything", ...mode() } }));
}
