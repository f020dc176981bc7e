// Upload throughput through proxies (issue 22's goal: >= 0.8x direct for one
// hop), in one run: a dev node, two masp-host daemons (127.0.0.5, .6), two
// masp-proxy daemons (127.0.0.3, .4) and a Sender on 127.0.0.2. The same
// file is put ROUNDS times each way, in turn: direct, through one proxy
// (`--proxy`), through two (`--hops 2`); each put's upload phase (sealing
// and sending both replicas, as `masp put` reports it; the chain's matching
// and confirmations left out) is timed. Prints every round, the medians and
// the ratios. Not a test: timings never decide pass/fail.
// Usage: scripts/bench-proxy [MiB]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';

import { startDevNode, submit } from './lib/node.mjs';
import { maspUser, startHost, startProxy } from './lib/hosts.mjs';

const MIB = Number(process.argv[2] || 64);
const ROUNDS = Number(process.env.MASP_BENCH_ROUNDS || 5);
const UNIT = 10n ** 12n;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

await cryptoWaitReady();
const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
const alice = keyring.addFromUri('//Alice');
const node = await startDevNode({ blockTimeMs: 500 });
const api = node.api;
const daemons = [];
const work = mkdtempSync(join(tmpdir(), 'masp-bench-proxy-'));
let sender;
try {
  for (const [name, addr] of [['bob', '127.0.0.5'], ['charlie', '127.0.0.6']]) {
    daemons.push(await startHost({ name, suri: `//${name[0].toUpperCase()}${name.slice(1)}`, nodeUrl: node.rpcUrl, price: 10n ** 9n, addr }));
  }
  const proxies = [];
  for (const [name, addr] of [['dave', '127.0.0.3'], ['eve', '127.0.0.4']]) {
    const p = await startProxy({ name, suri: `//${name[0].toUpperCase()}${name.slice(1)}`, nodeUrl: node.rpcUrl, price: '0.01', addr });
    p.account = keyring.addFromUri(`//${name[0].toUpperCase()}${name.slice(1)}`).address;
    daemons.push(p);
    proxies.push(p);
  }
  sender = maspUser({ nodeUrl: node.rpcUrl });
  const r = await sender.masp(['keys', 'new']);
  if (r.code !== 0) throw new Error(r.stderr);
  const address = r.stdout.match(/Account: (\S+)/)[1];
  await submit(api, api.tx.balances.transferKeepAlive(address, 100_000n * UNIT), alice);
  const path = join(work, 'file.bin');
  writeFileSync(path, randomBytes(MIB << 20));
  const ways = {
    direct: [],
    'one hop': ['--proxy', proxies[0].account],
    'two hops': ['--proxy', `${proxies[0].account},${proxies[1].account}`, '--hops', '2'],
  };
  const times = Object.fromEntries(Object.keys(ways).map((w) => [w, []]));
  console.log(`upload of ${MIB} MiB as 2 replicas (${2 * MIB} MiB of ciphertext sent), ${ROUNDS} rounds`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [way, args] of Object.entries(ways)) {
      const res = await sender.masp(['put', path, '--replicas', '2', '--duration', '5', '--wait', '300', ...args], {
        env: { MASP_BIND: '127.0.0.2' },
        timeoutMs: 1_800_000,
      });
      if (res.code !== 0) throw new Error(`masp put (${way}): ${res.stderr}`);
      const secs = Number(res.stderr.match(/Uploaded .* in ([\d.]+) s/)[1]);
      times[way].push(secs);
      console.log(`round ${round} ${way.padEnd(8)} ${secs.toFixed(2)} s  ${((2 * MIB) / secs).toFixed(1)} MiB/s`);
    }
  }
  const direct = median(times.direct);
  for (const way of Object.keys(ways)) {
    const m = median(times[way]);
    console.log(`median ${way.padEnd(8)} ${m.toFixed(2)} s  ${((2 * MIB) / m).toFixed(1)} MiB/s  throughput x${(direct / m).toFixed(2)} of direct`);
  }
} finally {
  for (const d of daemons) await d.cleanup().catch(() => {});
  sender?.cleanup();
  rmSync(work, { recursive: true, force: true });
  await node.stop();
}
