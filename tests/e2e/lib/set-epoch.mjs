// Sets a dev chain's epoch length (blocks), as the e2e tests do: //Alice,
// the dev chain's sudo key, writes the runtime's `:EpochLength:` parameter.
// Only before any contract exists: contracts count epochs from it.
// Usage: node set-epoch.mjs WS_URL BLOCKS
import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady, xxhashAsHex } from '@polkadot/util-crypto';
import { u8aToHex } from '@polkadot/util';

import { submit } from './node.mjs';

const [url, blocks] = process.argv.slice(2);
const n = Number(blocks);
if (!url || !Number.isInteger(n) || n < 2) {
  console.error('usage: node set-epoch.mjs WS_URL BLOCKS (BLOCKS >= 2)');
  process.exit(2);
}
await cryptoWaitReady();
const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
try {
  const alice = new Keyring({ type: 'sr25519' }).addFromUri('//Alice');
  const value = u8aToHex(api.createType('u32', n).toU8a());
  await submit(api, api.tx.sudo.sudo(api.tx.system.setStorage([[xxhashAsHex(':EpochLength:', 128), value]])), alice);
  console.log(`epoch length: ${n} blocks`);
} finally {
  await api.disconnect();
}
