// The file-key hand-off of masp_primitives::seal, written again from its
// description (X25519, BLAKE2b-256, ChaCha20-Poly1305) with @noble/curves and
// Node's crypto: what this seals the runtime must open, and the reverse, so
// the format does not depend on one implementation.

import { createCipheriv, createDecipheriv } from 'node:crypto';

import { x25519 } from '@noble/curves/ed25519';
import { u8aConcat, u8aEq, stringToU8a } from '@polkadot/util';
import { blake2AsU8a } from '@polkadot/util-crypto';

const NONCE = new Uint8Array(12);

/** The X25519 public key of a 32-byte secret. */
export const publicKey = (secret) => x25519.getPublicKey(secret);

/** `BLAKE2b-256("masp/key-commitment/v1" || key)`. */
export const keyCommitment = (key) => blake2AsU8a(u8aConcat(stringToU8a('masp/key-commitment/v1'), key), 256);

/** `"masp/listing-key/v1" || listing (u64 BE) || buyer (32 bytes)`. */
export function purchaseContext(listing, buyer) {
  const id = new Uint8Array(8);
  new DataView(id.buffer).setBigUint64(0, BigInt(listing));
  return u8aConcat(stringToU8a('masp/listing-key/v1'), id, buyer);
}

const sealingKey = (shared, ephemeral, recipient) =>
  blake2AsU8a(u8aConcat(stringToU8a('masp/sealed-key/v1'), shared, ephemeral, recipient), 256);

/** Seals `key` to `recipient` with `ephemeralSecret`; `{ ephemeral, ciphertext, tag }`. */
export function seal(key, recipient, ephemeralSecret, context) {
  const ephemeral = publicKey(ephemeralSecret);
  const shared = x25519.getSharedSecret(ephemeralSecret, recipient);
  const cipher = createCipheriv('chacha20-poly1305', sealingKey(shared, ephemeral, recipient), NONCE, { authTagLength: 16 });
  cipher.setAAD(context, { plaintextLength: key.length });
  const ciphertext = Buffer.concat([cipher.update(key), cipher.final()]);
  return { ephemeral, ciphertext: new Uint8Array(ciphertext), tag: new Uint8Array(cipher.getAuthTag()) };
}

/** Opens a sealed key with the recipient's secret; `null` if it does not open. */
export function open({ ephemeral, ciphertext, tag }, secret, context) {
  const shared = x25519.getSharedSecret(secret, ephemeral);
  if (u8aEq(shared, new Uint8Array(32))) return null;
  const decipher = createDecipheriv('chacha20-poly1305', sealingKey(shared, ephemeral, publicKey(secret)), NONCE, { authTagLength: 16 });
  decipher.setAAD(context, { plaintextLength: ciphertext.length });
  decipher.setAuthTag(tag);
  try {
    return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
  } catch {
    return null;
  }
}
