/**
 * backup-push, manifest phase: watches every file member as it is streamed into its partition
 * (`MemberObserver`, no second read of the cluster) and records its size and CRC-32; when the
 * cluster has data checksums, also verifies every 8 KiB page of relation files on the way.
 *
 * Page verification follows what PostgreSQL's own base backup does: an all-zero page is new
 * and valid; a page whose LSN is newer than the backup's start was written during the backup
 * (WAL replay rewrites it) and is skipped; a page whose checksum does not match is read again
 * once from the file (it may have been caught half-written) and only then reported, as a
 * WARNING naming the file and block, and recorded in the manifest. The backup itself goes on:
 * it holds what the cluster holds.
 */
import {
  type CorruptPage,
  FileChecksum,
  type Manifest,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type ManifestFile,
} from "../../archive/manifest.ts";
import type { FileTap, MemberObserver, TarMember } from "../../archive/tar_partition.ts";
import type { Logger } from "../../log.ts";
import {
  checkPage,
  PAGE_SIZE,
  pageChecksum,
  relationFirstBlock,
  storedChecksum,
} from "../../pg/page_checksum.ts";
import { formatLsn } from "../../pg/wal_name.ts";

/** Settings of a recorder. */
export interface RecorderOptions {
  backupName: string;
  startLsn: bigint;
  online: boolean;
  /** `data_checksums` from pg_control; pages are verified only when true. */
  dataChecksums: boolean | undefined;
  log: Logger;
}

/** Collects the manifest while the partitions stream. */
export class ManifestRecorder implements MemberObserver {
  readonly #o: RecorderOptions;
  readonly #files: ManifestFile[] = [];
  readonly #corrupt: CorruptPage[] = [];
  #verified = 0;
  #skippedNewer = 0;

  constructor(options: RecorderOptions) {
    this.#o = options;
  }

  /** Number of corrupt pages found so far. */
  get corruptPages(): number {
    return this.#corrupt.length;
  }

  /** Pages whose checksum was compared so far. */
  get pagesVerified(): number {
    return this.#verified;
  }

  file(member: TarMember, partition: number): FileTap {
    const hash = new FileChecksum();
    const first = this.#o.dataChecksums === true && member.path !== undefined
      ? relationFirstBlock(member.name)
      : undefined;
    const pages = first === undefined
      ? undefined
      : new PageTap(this, member.name, member.path ?? "", partition, first);
    return {
      data: (chunk, offset) => {
        hash.update(chunk);
        return pages?.data(chunk, offset);
      },
      end: () => this.#done(member, partition, hash),
    };
  }

  #done(member: TarMember, partition: number, hash: FileChecksum): void {
    this.#files.push({
      path: member.name,
      partition,
      size: member.size,
      crc32: hash.hex(),
    });
  }

  /** @internal Called by PageTap. */
  countPage(verdict: "ok" | "newer"): void {
    if (verdict === "ok") this.#verified++;
    else this.#skippedNewer++;
  }

  /** @internal Called by PageTap for a page that failed twice. */
  reportCorrupt(page: CorruptPage): void {
    this.#verified++;
    this.#corrupt.push(page);
    this.#o.log.warning({
      msg: "page checksum verification failed",
      detail: `File "${page.path}", block ${page.block}: calculated checksum ${
        hex(page.calculated)
      } but the page has ${hex(page.stored)} (read twice).`,
      hint: "The cluster's copy of this page is damaged; the backup holds it as it is. " +
        "backup-verify reports it too.",
    });
  }

  get startLsn(): bigint {
    return this.#o.startLsn;
  }

  /** The manifest document of everything recorded, for a backup of `partitionCount` volumes. */
  manifest(partitionCount: number, now: Date = new Date()): Manifest {
    return {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      backup_name: this.#o.backupName,
      created_at: now.toISOString(),
      online: this.#o.online,
      start_lsn: formatLsn(this.#o.startLsn),
      partition_count: partitionCount,
      checksum_algorithm: "crc32",
      page_checks: {
        data_checksums: this.#o.dataChecksums ?? null,
        pages_verified: this.#verified,
        pages_skipped_newer: this.#skippedNewer,
        corrupt_pages: [...this.#corrupt],
      },
      files: [...this.#files],
    };
  }
}

function hex(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, "0");
}

/** Page checks of one relation file; whole pages are checked as the chunks arrive. */
class PageTap {
  readonly #r: ManifestRecorder;
  readonly #name: string;
  readonly #path: string;
  readonly #partition: number;
  readonly #firstBlock: number;
  /** Bytes of a page split across chunks. */
  #carry: Uint8Array | undefined;
  #carryAt = 0;

  constructor(r: ManifestRecorder, name: string, path: string, partition: number, first: number) {
    this.#r = r;
    this.#name = name;
    this.#path = path;
    this.#partition = partition;
    this.#firstBlock = first;
  }

  async data(chunk: Uint8Array, offset: number): Promise<void> {
    let i = 0;
    if (this.#carry !== undefined) {
      const take = Math.min(PAGE_SIZE - this.#carryAt, chunk.length);
      this.#carry.set(chunk.subarray(0, take), this.#carryAt);
      this.#carryAt += take;
      i = take;
      if (this.#carryAt < PAGE_SIZE) return;
      await this.#page(this.#carry, offset - PAGE_SIZE + take);
      this.#carry = undefined;
    } else if (offset % PAGE_SIZE !== 0) {
      // Not page-aligned (never with the tar writer's chunks): skip to the next page.
      i = PAGE_SIZE - (offset % PAGE_SIZE);
    }
    for (; i + PAGE_SIZE <= chunk.length; i += PAGE_SIZE) {
      await this.#page(chunk.subarray(i, i + PAGE_SIZE), offset + i);
    }
    if (i < chunk.length) {
      this.#carry = new Uint8Array(PAGE_SIZE);
      this.#carry.set(chunk.subarray(i));
      this.#carryAt = chunk.length - i;
    }
  }

  /** Checks the page at byte `at` of the file (synchronous unless it must be read again). */
  #page(page: Uint8Array, at: number): Promise<void> | undefined {
    const block = this.#firstBlock + at / PAGE_SIZE;
    const v = checkPage(page, block, this.#r.startLsn);
    if (v === "ok" || v === "newer") this.#r.countPage(v);
    if (v !== "bad") return undefined;
    return this.#recheck(block, at, pageChecksum(page, block), storedChecksum(page));
  }

  /** A failing page, read once more from the file before it is called torn or corrupt. */
  async #recheck(block: number, at: number, calculated: number, stored: number): Promise<void> {
    // A file gone or cut short meanwhile (relation dropped or truncated): WAL replay accounts
    // for it. A file that cannot be read again keeps the first reading.
    const again = await readPage(this.#path, at).catch(() => null);
    if (again === undefined) return;
    if (again !== null) {
      const v = checkPage(again, block, this.#r.startLsn);
      if (v === "ok" || v === "newer") return this.#r.countPage(v);
      if (v === "new") return;
      calculated = pageChecksum(again, block);
      stored = storedChecksum(again);
    }
    this.#r.reportCorrupt({
      path: this.#name,
      partition: this.#partition,
      block,
      calculated,
      stored,
    });
  }
}

/** The page at byte `at` of `path`, or undefined when the file no longer holds a whole page. */
async function readPage(path: string, at: number): Promise<Uint8Array | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  try {
    await file.seek(at, Deno.SeekMode.Start);
    const buf = new Uint8Array(PAGE_SIZE);
    let filled = 0;
    while (filled < PAGE_SIZE) {
      const n = await file.read(buf.subarray(filled));
      if (n === null) return undefined;
      filled += n;
    }
    return buf;
  } finally {
    file.close();
  }
}
