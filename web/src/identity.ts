// A Sender's identity in the browser, from its secret phrase exactly as the
// `masp` CLI derives it (client/src/keys.rs): the phrase normalized by the
// WASM build (words joined by single spaces, then a derivation path such as
// `//Alice`), the sr25519 account from its words and path, and the master
// key of its files (Argon2id, 64 MiB, in WASM). The phrase and the keys stay
// in this tab: nothing of them is stored or sent.
import type { PolkadotSigner } from 'polkadot-api';
import { getPolkadotSigner } from 'polkadot-api/signer';
import { sr25519CreateDerive } from '@polkadot-labs/hdkd';
import { DEV_PHRASE, mnemonicToMiniSecret, parseSuri, ss58Address, validateMnemonic } from '@polkadot-labs/hdkd-helpers';
import { cipher } from './wasm';

export interface Identity {
  address: string;
  publicKey: Uint8Array;
  sign: (message: Uint8Array) => Uint8Array;
  signer: PolkadotSigner;
  /** The master key of files and manifests. */
  master: Uint8Array;
}

/** The identity of `phrase` (a BIP-39 phrase, a derivation path may follow;
 * a bare path such as `//Alice` is the dev phrase's, as the CLI takes it). */
export async function fromPhrase(phrase: string): Promise<Identity> {
  const w = await cipher();
  let normalized = w.normalize_phrase(phrase);
  if (normalized.startsWith('/')) normalized = `${DEV_PHRASE}${normalized}`;
  const slash = normalized.indexOf('/');
  const words = slash < 0 ? normalized : normalized.slice(0, slash);
  if (!validateMnemonic(words)) throw new Error('not a BIP-39 phrase: check its words (12 or 24, English)');
  const { paths, password } = parseSuri(normalized);
  const derive = sr25519CreateDerive(mnemonicToMiniSecret(words, password ?? ''));
  const pair = derive(paths ?? '');
  return {
    address: ss58Address(pair.publicKey, 42),
    publicKey: pair.publicKey,
    sign: pair.sign,
    signer: getPolkadotSigner(pair.publicKey, 'Sr25519', pair.sign),
    master: w.master_key(normalized, pair.publicKey),
  };
}
