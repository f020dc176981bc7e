// Sealing shard chunks with the browser's own AES-256-GCM (WebCrypto): the
// same key (the WASM build's shard_key), nonce and associated data (its
// shard_chunk_params) as the CLI, so the ciphertext is byte for byte what
// seal_shard_chunk (and `masp put`) makes (tests/e2e/wasm.test.mjs checks
// it), but on the CPU's AES instructions where the browser uses them,
// which the portable WASM build cannot.
import type { Cipher } from './wasm';

export class ShardSealer {
  private constructor(
    private readonly w: Cipher,
    private readonly key: CryptoKey,
    private readonly fileId: Uint8Array,
    private readonly shard: number,
    private readonly count: bigint,
  ) {}

  /** The sealer of shard `shard` (`count` chunks) of file `fileId` under
   * `fileKey`. */
  static async create(w: Cipher, fileKey: Uint8Array, fileId: Uint8Array, shard: number, count: number | bigint): Promise<ShardSealer> {
    const key = await crypto.subtle.importKey('raw', w.shard_key(fileKey, shard) as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
    return new ShardSealer(w, key, fileId, shard, BigInt(count));
  }

  private params(index: number): AesGcmParams {
    const p = this.w.shard_chunk_params(this.fileId, this.shard, this.count, BigInt(index));
    return { name: 'AES-GCM', iv: p.subarray(0, 12) as BufferSource, additionalData: p.subarray(12) as BufferSource, tagLength: 128 };
  }

  /** Chunk `index` sealed: its ciphertext and 16 bytes of tag. */
  async seal(index: number, plain: Uint8Array): Promise<Uint8Array> {
    return new Uint8Array(await crypto.subtle.encrypt(this.params(index), this.key, plain as BufferSource));
  }

  /** Chunk `index` opened; an error if it was altered. */
  async open(index: number, sealed: Uint8Array): Promise<Uint8Array> {
    try {
      return new Uint8Array(await crypto.subtle.decrypt(this.params(index), this.key, sealed as BufferSource));
    } catch {
      throw new Error(`chunk ${index} of shard ${this.shard} does not open: altered, or not this file's`);
    }
  }
}
