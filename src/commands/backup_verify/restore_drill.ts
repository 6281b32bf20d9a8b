/**
 * `backup-verify --restore`, the restore drill: fetch a base backup into a fresh scratch
 * directory, start it as a private cluster (Unix socket in the scratch directory, archiving
 * off) whose `restore_command` is this program's own wal-fetch, recover to the target time or
 * the end of the archive, wait for promotion, check every database (and every btree index
 * with amcheck when installed), then stop the server and remove the scratch directory, on
 * failure too. Prints `restorable to <time>` with the duration of each phase.
 *
 * The drill only reads the store: the server's archiving is off, so the promoted copy never
 * writes its new timeline into the live archive (README "Restoring", "On a drill").
 */
import { join } from "node:path";
import { listBackups, readSentinel, selectBackups } from "../../archive/backups.ts";
import { UserError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { backupFetch } from "../backup_fetch.ts";
import type { CommandDeps } from "../context.ts";
import type { FailureContext, RecoveryProgress } from "./recovery_log.ts";
import { runSanityChecks, type SanityReport, type Socket } from "./sanity_checks.ts";
import {
  checkServerVersion,
  controlSettings,
  dataDirMajor,
  defaultPgBin,
  drillConf,
  findBinaries,
  normalizeTargetTime,
  type PgBinaries,
  prepareDataDir,
  restoreCommand,
} from "./scratch_config.ts";
import { ScratchServer, waitForHelpers, waitForPromotion } from "./scratch_server.ts";

/** Input of the restore drill. */
export interface RestoreDrillInput {
  /** A backup name or `LATEST` (chosen as backup-fetch chooses it). */
  backupName: string;
  /** Recover up to this time (with a time zone); the end of the archive when undefined. */
  targetTime?: string | undefined;
  /** Directory of `postgres` and `pg_controldata`; `/usr/lib/postgresql/<major>/bin` by default. */
  pgBin?: string | undefined;
}

/** Any port will do: the server listens on a socket in the scratch directory only. */
const DRILL_PORT = 5432;
/** Partitions downloaded at once (backup-fetch's default). */
const FETCH_POOL = 4;
/** Longest Unix socket path (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * Runs the drill; resolves to 0 after printing `restorable to …` on stdout. Every failure
 * (no such backup, fetch, recovery, a check) throws a UserError saying why, after the server
 * is stopped and the scratch directory removed. The scratch directory is made under TMPDIR
 * (default /tmp) and needs room for the whole restored cluster.
 */
export async function runRestoreDrill(
  input: RestoreDrillInput,
  deps: CommandDeps,
): Promise<number> {
  const log = deps.log.child("wal_e.operator.restore_drill");
  const plan = await planDrill(input, deps);
  const scratch = await Deno.realPath(await Deno.makeTempDir({ prefix: "wal-e-restore-drill-" }));
  await Deno.chmod(scratch, 0o700);
  const dirs = [scratch];
  const running: { server?: ScratchServer } = {};
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  let trapped = false;
  try {
    log.info({
      msg: "starting the restore drill",
      detail: `Backup ${plan.context.backupName}, recovering to ${
        plan.target ?? "the end of the archive"
      }, in the scratch directory "${scratch}".`,
    });
    const dataDir = join(scratch, "data");
    let t = performance.now();
    await backupFetch({
      clusterDirectory: dataDir,
      backupName: plan.context.backupName,
      poolSize: FETCH_POOL,
      // Tablespaces go inside the scratch copy, never to their original locations.
      blindRestore: true,
      restoreSpec: undefined,
    }, deps);
    const fetchMs = performance.now() - t;
    log.info({ msg: "fetched the base backup", detail: `In ${seconds(fetchMs)}.` });

    const socket = { dir: await socketDir(scratch, dirs), port: DRILL_PORT };
    const bins = await configure(dataDir, socket, plan);
    t = performance.now();
    // From here a signal must not leave a server running: stop and clean up instead.
    for (const s of SIGNALS) Deno.addSignalListener(s, onSignal);
    trapped = true;
    running.server = ScratchServer.start(bins, dataDir, join(scratch, "server.log"), deps.env);
    const progress = await waitForPromotion(running.server, {
      log,
      signal: interrupt.signal,
      context: plan.context,
    });
    const recoveryMs = performance.now() - t;
    log.info({
      msg: "the restored cluster was promoted",
      detail: `In ${seconds(recoveryMs)}; redo done at ${progress.redoDoneAt ?? "?"}` +
        (progress.newTimeline === undefined ? "" : `, new timeline ${progress.newTimeline}`) +
        ".",
    });
    t = performance.now();
    const report = await runSanityChecks(socket, deps.env, log, interrupt.signal);
    const checksMs = performance.now() - t;
    deps.stdout(
      `${restorableTo(plan.target, progress, report)} from ${plan.context.backupName}: fetch ${
        seconds(fetchMs)
      }, recovery ${seconds(recoveryMs)}, checks ${seconds(checksMs)}; ${checked(report)}\n`,
    );
    return 0;
  } finally {
    await cleanUp(running.server, dirs, log);
    if (trapped) { for (const s of SIGNALS) Deno.removeSignalListener(s, onSignal); }
  }
}

/** What the drill needs settled before it writes anything. */
interface DrillPlan {
  context: FailureContext;
  /** Normalized target time. */
  target: string | undefined;
  restoreCommand: string;
  /** From --pg-bin, checked; undefined: the default for the backup's version. */
  givenBins: PgBinaries | undefined;
}

/**
 * Everything that can be refused before fetching: root, a bad target time, missing --pg-bin
 * binaries, no backup matching the query.
 */
async function planDrill(input: RestoreDrillInput, deps: CommandDeps): Promise<DrillPlan> {
  if (Deno.uid() === 0) {
    throw new UserError("the restore drill cannot run as root", {
      detail: "PostgreSQL refuses to start a server as root.",
      hint: "Run it as the user PostgreSQL runs as, with the same environment, e.g. " +
        "sudo -u postgres envdir /etc/wal-e.d/env wal-e backup-verify LATEST --restore",
    });
  }
  const self = deps.selfCommand;
  if (self === undefined || self.length === 0) {
    throw new TypeError("the restore drill needs deps.selfCommand to build restore_command");
  }
  const target = input.targetTime === undefined ? undefined : normalizeTargetTime(input.targetTime);
  // Checked before a possibly long fetch when given; the default needs the backup's version.
  const givenBins = input.pgBin === undefined ? undefined : await findBinaries(input.pgBin);
  const backup = selectBackups(await listBackups(deps.store), input.backupName)[0];
  if (backup === undefined) {
    throw new UserError("no backups found for the restore drill", {
      detail: `No backup matching the query ${input.backupName} was able to be located.`,
    });
  }
  const sentinel = await readSentinel(deps.store, backup.name);
  return {
    context: {
      backupName: backup.name,
      startSegment: backup.walSegmentBackupStart,
      stopSegment: sentinel.wal_segment_backup_stop,
      targetTime: target,
    },
    target,
    restoreCommand: restoreCommand(self),
    givenBins,
  };
}

const SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM"];

/** The socket directory: in the scratch directory unless that path is too long for a socket. */
async function socketDir(scratch: string, dirs: string[]): Promise<string> {
  const inside = join(scratch, "socket");
  if (`${inside}/.s.PGSQL.${DRILL_PORT}`.length <= MAX_SOCKET_PATH) {
    await Deno.mkdir(inside, { mode: 0o700 });
    return inside;
  }
  const short = await Deno.makeTempDir({ dir: "/tmp", prefix: "wal-e-drill-" });
  await Deno.chmod(short, 0o700);
  dirs.push(short);
  return short;
}

/** Picks and checks the binaries, then writes the drill's configuration into `dataDir`. */
async function configure(dataDir: string, socket: Socket, plan: DrillPlan): Promise<PgBinaries> {
  const major = await dataDirMajor(dataDir);
  const bins = plan.givenBins ?? await findBinaries(defaultPgBin(major), major);
  await checkServerVersion(bins, major);
  const { maxPreparedTransactions } = await controlSettings(bins, dataDir);
  await prepareDataDir(
    dataDir,
    drillConf({
      socketDir: socket.dir,
      port: socket.port,
      restoreCommand: plan.restoreCommand,
      targetTime: plan.target,
      major: Number(major),
      maxPreparedTransactions,
    }),
  );
  return bins;
}

/**
 * Where the archive takes this backup: the target when recovery stopped there, else the
 * commit time of the last transaction replayed (pg_last_xact_replay_timestamp()).
 */
function restorableTo(
  target: string | undefined,
  p: RecoveryProgress,
  r: SanityReport,
): string {
  if (target !== undefined && p.stoppedAt !== undefined) {
    return `restorable to ${target} (the recovery target; recovery stopped ${p.stoppedAt})`;
  }
  const end = target === undefined ? "end of the archive" : "the archive ends before the target";
  if (r.lastReplayed !== null) {
    return `restorable to ${r.lastReplayed} (the last transaction replayed; ${end})`;
  }
  return `restorable to WAL position ${r.walLsn} (no transaction committed after the backup; ${end})`;
}

function checked(r: SanityReport): string {
  const dbs = `${r.databases.length} database(s) answered`;
  return r.indexesChecked === undefined
    ? `${dbs}, amcheck not installed`
    : `${dbs}, ${r.indexesChecked} btree index(es) passed amcheck`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Stops the server and removes the scratch directories; never throws (warns instead). */
async function cleanUp(
  server: ScratchServer | undefined,
  dirs: readonly string[],
  log: Logger,
): Promise<void> {
  if (server !== undefined) {
    try {
      const how = await server.stop();
      log.info({ msg: "stopped the drill's server", detail: `PID ${server.pid}: ${how}.` });
    } catch (err) {
      log.warning({
        msg: "could not stop the drill's server",
        detail: `PID ${server.pid}: ${err instanceof Error ? err.message : String(err)}`,
        hint: "Stop it by hand: pg_ctl -D <scratch>/data -m fast stop.",
      });
    }
  }
  const scratch = dirs[0];
  const left = scratch === undefined ? [] : await waitForHelpers(scratch, 30_000);
  if (left.length > 0) {
    log.warning({
      msg: "helper processes still use the scratch directory",
      detail: `PIDs ${left.join(", ")} (wal-fetch or wal-prefetch started by the drill).`,
    });
  }
  for (const dir of dirs) {
    try {
      await Deno.remove(dir, { recursive: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      log.warning({
        msg: "could not remove the restore drill's scratch directory",
        detail: `"${dir}": ${err instanceof Error ? err.message : String(err)}`,
        hint: "Remove it by hand.",
      });
    }
  }
}
