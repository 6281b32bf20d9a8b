/** An observer stage: passes bytes through unchanged and counts them. */

/** TransformStream that counts the bytes flowing through it. */
export class ByteCounter extends TransformStream<Uint8Array, Uint8Array> {
  readonly #state: { count: number };

  constructor() {
    const state = { count: 0 };
    super({
      transform(chunk, controller) {
        state.count += chunk.length;
        controller.enqueue(chunk);
      },
    });
    this.#state = state;
  }

  /** Bytes seen so far. */
  get count(): number {
    return this.#state.count;
  }
}
