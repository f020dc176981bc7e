// Who signs: accounts of the polkadot.js browser extension (or any wallet
// that injects itself the same way), and on a development chain the
// well-known dev accounts (//Alice .. //Ferdie), whose keys are public.
import type { PolkadotSigner } from 'polkadot-api';
import { getPolkadotSigner } from 'polkadot-api/signer';
import { connectInjectedExtension, getInjectedExtensions } from 'polkadot-api/pjs-signer';
import { sr25519CreateDerive } from '@polkadot-labs/hdkd';
import { DEV_MINI_SECRET, ss58Address } from '@polkadot-labs/hdkd-helpers';
import { chainName } from './chain';

export interface Account {
  address: string;
  name: string;
  signer: PolkadotSigner;
}

const DEV = ['Alice', 'Bob', 'Charlie', 'Dave', 'Eve', 'Ferdie'];

/** Whether the chain is a development chain (its dev keys may be offered). */
export async function isDevChain(): Promise<boolean> {
  return /dev|local/i.test(await chainName());
}

function devAccounts(): Account[] {
  const derive = sr25519CreateDerive(DEV_MINI_SECRET);
  return DEV.map((name) => {
    const pair = derive(`//${name}`);
    return {
      address: ss58Address(pair.publicKey, 42),
      name: `//${name} (dev)`,
      signer: getPolkadotSigner(pair.publicKey, 'Sr25519', pair.sign),
    };
  });
}

let cached: Promise<Account[]> | undefined;

/** Every account that can sign here: the extensions', then dev ones. */
export function accounts(): Promise<Account[]> {
  cached ??= (async () => {
    const out: Account[] = [];
    for (const name of getInjectedExtensions()) {
      try {
        const ext = await connectInjectedExtension(name, 'MASP');
        for (const a of ext.getAccounts()) {
          out.push({ address: a.address, name: `${a.name ?? a.address} (${name})`, signer: a.polkadotSigner });
        }
      } catch {
        // The user declined this extension: the others still count.
      }
    }
    if (await isDevChain()) out.push(...devAccounts());
    return out;
  })();
  return cached;
}

const KEY = 'masp.account';

/** The account chosen in the header (kept across visits). */
export async function current(): Promise<Account | undefined> {
  const all = await accounts();
  const want = localStorage.getItem(KEY);
  return all.find((a) => a.address === want) ?? all[0];
}

/** Fills the header's account picker. */
export async function picker(el: HTMLSelectElement, onChange: () => void): Promise<void> {
  const all = await accounts();
  const now = await current();
  el.innerHTML = all.length
    ? all.map((a) => `<option value="${a.address}"${a.address === now?.address ? ' selected' : ''}>${a.name}</option>`).join('')
    : '<option value="">no account: install the polkadot.js extension</option>';
  el.onchange = () => {
    localStorage.setItem(KEY, el.value);
    onChange();
  };
}
