// The WASM build of the CLI's sealing, Merkle, manifest and ticket code
// (web/wasm, built into src/wasm by web/build-wasm), loaded once.
import init, * as w from './wasm/masp_web_cipher';

export type Cipher = typeof w;

let ready: Promise<Cipher> | undefined;

/** The module, initialized. */
export function cipher(): Promise<Cipher> {
  ready ??= init().then(() => w);
  return ready;
}
