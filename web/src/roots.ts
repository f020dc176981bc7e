// Chunk roots off the main thread: a few Web Workers, each with its own
// instance of the WASM build (the CLI's masp_proofs::chunk_root, BLAKE2b),
// so a file's 1 MiB chunks are rooted on every core while the page stays
// responsive, as `masp put` roots them on every core. A chunk goes to the
// worker with the fewest waiting, its buffer transferred (not copied) and
// transferred back with its root. Sealing stays where it is (WebCrypto,
// off the main thread already): sealing in the workers too was slower.

/** Workers by default: one per core the browser reports, 1 to 8. */
export function poolSize(): number {
  return Math.max(1, Math.min(8, navigator.hardwareConcurrency || 1));
}

interface Job {
  resolve: (r: Rooted) => void;
  reject: (e: Error) => void;
}

/** A chunk and its root. */
export interface Rooted {
  root: Uint8Array;
  /** The chunk given, back (its buffer was lent to the worker). */
  chunk: Uint8Array;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
  /** Why the worker stopped (it failed to start), if it did. */
  failed?: Error;
}

export class RootPool {
  private readonly slots: Slot[];
  private next = 0;
  private nextId = 0;
  private closed = false;

  /** `size` workers (default: [`poolSize`]). */
  constructor(size = poolSize()) {
    this.slots = Array.from({ length: Math.max(1, size) }, () => {
      const slot: Slot = { worker: new Worker(new URL('./roots.worker.ts', import.meta.url), { type: 'module' }), jobs: new Map() };
      slot.worker.onmessage = (e: MessageEvent<{ id: number; root?: Uint8Array; chunk: Uint8Array; error?: string }>) => {
        const { id, root, chunk, error } = e.data;
        const job = slot.jobs.get(id);
        slot.jobs.delete(id);
        if (root) job?.resolve({ root, chunk });
        else job?.reject(new Error(`chunk root: ${error}`));
      };
      slot.worker.onerror = (e) => this.fail(slot, new Error(`chunk root worker: ${e.message || 'failed to start'}`));
      return slot;
    });
  }

  /** Workers in the pool. */
  get size(): number {
    return this.slots.length;
  }

  private fail(slot: Slot, e: Error) {
    slot.failed ??= e;
    for (const job of slot.jobs.values()) job.reject(e);
    slot.jobs.clear();
  }

  /** The Merkle root of one ciphertext chunk (at most 1 MiB), and the chunk
   * back. Its buffer is transferred to a worker when the chunk is all of it
   * (so `chunk` itself is empty until the answer comes: use the one given
   * back), otherwise the chunk is copied. */
  rooted(chunk: Uint8Array): Promise<Rooted> {
    if (this.closed) return Promise.reject(new Error('chunk roots: the pool is closed'));
    // The slot with the fewest jobs waiting, the first after the last used
    // on a tie.
    let slot = this.slots[this.next];
    for (let k = 1; k < this.slots.length; k++) {
      const s = this.slots[(this.next + k) % this.slots.length];
      if (s.jobs.size < slot.jobs.size) slot = s;
    }
    this.next = (this.slots.indexOf(slot) + 1) % this.slots.length;
    if (slot.failed) return Promise.reject(slot.failed);
    const whole = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
    const sent = whole ? chunk : chunk.slice();
    const id = this.nextId++;
    return new Promise<Rooted>((resolve, reject) => {
      slot.jobs.set(id, { resolve, reject });
      slot.worker.postMessage({ id, chunk: sent }, [sent.buffer as ArrayBuffer]);
    });
  }

  /** The Merkle root of one ciphertext chunk ([`rooted`], without the chunk). */
  async root(chunk: Uint8Array): Promise<Uint8Array> {
    return (await this.rooted(chunk)).root;
  }

  /** Stops the workers; jobs still waiting fail. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const slot of this.slots) {
      slot.worker.terminate();
      this.fail(slot, new Error('chunk roots: the pool was closed'));
    }
  }
}
