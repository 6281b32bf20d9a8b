/**
 * A codec worker that serves requests like the real one, then crashes with an uncaught error
 * on its second request (test of the pool's failure handling: no hang, a typed error).
 */
import { type CodecRequest, handleCodecRequest } from "../../src/codec/lzo_worker.ts";

interface Scope {
  onmessage: ((e: MessageEvent<CodecRequest>) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
}

const scope = globalThis as unknown as Scope;
let served = 0;
scope.onmessage = (e) => {
  if (++served >= 2) throw new Error("simulated codec worker crash");
  const res = handleCodecRequest(e.data);
  scope.postMessage(res, res.ok ? [res.out, ...(res.buf === undefined ? [] : [res.buf])] : []);
};
