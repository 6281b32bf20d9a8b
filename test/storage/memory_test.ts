import { MemoryStore } from "../../src/storage/memory.ts";
import { storeContract } from "./store_contract.ts";

storeContract(
  "memory",
  () => Promise.resolve({ store: new MemoryStore("p/"), dispose: () => Promise.resolve() }),
);
