/** Back-pressure at the edge with tar-stream's Node-style (streamx) writables. */

/** The part of a streamx writable that `drained` needs. */
export interface Drainable {
  readonly destroyed: boolean;
  on(event: string, fn: () => void): unknown;
  off(event: string, fn: () => void): unknown;
}

/** Resolves once `w` wants more data; rejects when it closed first (`what` names it). */
export function drained(w: Drainable, what: string): Promise<void> {
  if (w.destroyed) return Promise.reject(new Error(`${what} closed`));
  return new Promise((resolve, reject) => {
    const done = (): void => {
      w.off("drain", done);
      w.off("close", closed);
      resolve();
    };
    const closed = (): void => {
      w.off("drain", done);
      w.off("close", closed);
      reject(new Error(`${what} closed`));
    };
    w.on("drain", done);
    w.on("close", closed);
  });
}
