/** Small stream adapters shared by the codec and the commands. */

/**
 * Re-exposes `src`, replacing any error it raises with `map(err)` (which may also just record
 * it and return it unchanged). Pull-driven, so back-pressure passes straight through.
 */
export function mapStreamErrors(
  src: ReadableStream<Uint8Array>,
  map: (err: unknown) => unknown,
): ReadableStream<Uint8Array> {
  const reader = src.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      try {
        const { done, value } = await reader.read();
        if (done) c.close();
        else c.enqueue(value);
      } catch (err) {
        c.error(map(err));
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
