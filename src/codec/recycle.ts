/**
 * Handing decoded buffers back to the stream that made them, so a restore reuses a few MiB of
 * buffers instead of allocating a fresh one per MiB (V8 frees unreferenced array buffers only
 * after tens of MiB of them, which was most of backup-fetch's resident size).
 *
 * A producer `lend`s a chunk it enqueues; the one consumer that knows when it is done with
 * every view of that chunk (the tar reader, tar_read.ts) calls `giveBack`. A chunk nobody
 * gives back is simply garbage collected, so a stage in between that copies or re-slices
 * chunks only loses the reuse, never correctness. The contract the tar reader keeps: a chunk
 * is given back only once the reader has read past its last byte and whoever it handed views
 * of it to has asked for the next piece (or returned).
 */

const lenders = new WeakMap<Uint8Array, (chunk: Uint8Array) => void>();

/** Poisoning of given-back buffers, for tests (a use after give-back shows as wrong bytes). */
let poison = false;

/** Byte every given-back buffer is filled with while poisoning is on. */
export const POISON_BYTE = 0xa5;

/** Registers `chunk` as reusable: `take` gets it back once its consumer is done with it. */
export function lend(chunk: Uint8Array, take: (chunk: Uint8Array) => void): void {
  lenders.set(chunk, take);
}

/** Tells `chunk`'s producer (if it lent it) that no view of it is in use any longer. */
export function giveBack(chunk: Uint8Array): void {
  const take = lenders.get(chunk);
  if (take === undefined) return;
  lenders.delete(chunk);
  if (poison) new Uint8Array(chunk.buffer).fill(POISON_BYTE);
  take(chunk);
}

/** Tests: fill every given-back buffer with POISON_BYTE (off by default). */
export function setRecyclePoison(on: boolean): void {
  poison = on;
}
