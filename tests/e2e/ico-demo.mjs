// Runs the ICO story on a running dev chain (scripts/devnet) and prints each
// step. Usage: scripts/ico-demo [ws://127.0.0.1:9944]
import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';

import { runIcoStory } from './lib/ico.mjs';

const url = process.argv[2] || 'ws://127.0.0.1:9944';
await cryptoWaitReady();
const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });

// Real blocks: wait for them.
const advanceTo = (n) => new Promise((ok) => {
  let announced = false;
  api.rpc.chain.subscribeNewHeads((h) => {
    if (h.number.toNumber() >= n) ok();
    else if (!announced) { announced = true; console.log(`  ... waiting for block ${n} (now ${h.number.toNumber()})`); }
  }).then((unsub) => { const t = setInterval(async () => { if ((await api.rpc.chain.getHeader()).number.toNumber() >= n) { clearInterval(t); unsub(); } }, 1000); });
});

try {
  await runIcoStory(api, keyring, { advanceTo, log: (l) => console.log(l) });
  console.log('ICO done. Open polkadot.js apps -> Developer -> Runtime calls -> tokenSaleApi to inspect.');
} catch (e) {
  console.error(`error: ${e.message}`);
  process.exitCode = 1;
} finally {
  await api.disconnect();
}
