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
import { esc } from './format';
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

/** Wires a page's "open your identity" form (`form#open` with a `phrase`
 * field, and `#open-result` for what happens) in `el`: the phrase's identity
 * is derived (Argon2id, so it says it is working), handed to `opened`, and
 * the page drawn again with `again` (marked not ready meanwhile, as the
 * tests wait for); a phrase that is not one says why. */
export function onOpen(el: HTMLElement, opened: (who: Identity) => void, again: () => Promise<void>): void {
  const form = el.querySelector<HTMLFormElement>('#open');
  if (!form) return;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const out = el.querySelector('#open-result')!;
    out.innerHTML = '<p class="muted">Deriving your keys (Argon2id, 64 MiB)…</p>';
    try {
      opened(await fromPhrase(String(new FormData(form).get('phrase') ?? '')));
      el.dataset.ready = 'false';
      await again();
      el.dataset.ready = 'true';
    } catch (e) {
      out.innerHTML = `<p class="error">${esc(String((e as Error).message ?? e))}</p>`;
    }
  });
}
