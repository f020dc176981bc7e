// A RootPool worker (roots.ts): the WASM build's chunk_root, one chunk per
// message ({id, chunk}); answers {id, root, chunk} with the chunk's buffer
// transferred back, or {id, error}.
import init, { chunk_root } from './wasm/masp_web_cipher';

const ready = init();

self.onmessage = async (e: MessageEvent<{ id: number; chunk: Uint8Array }>) => {
  const { id, chunk } = e.data;
  try {
    await ready;
    const root = chunk_root(chunk);
    self.postMessage({ id, root, chunk }, { transfer: [chunk.buffer as ArrayBuffer, root.buffer as ArrayBuffer] });
  } catch (err) {
    self.postMessage({ id, error: String((err as Error)?.message ?? err) });
  }
};
