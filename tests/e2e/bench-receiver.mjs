// Receiver download throughput (issue 19's goal: >= 0.9x the Sender's own
// `masp get` of the same file), in one run: a dev node, two masp-host
// daemons that charge for egress, a Sender and a Receiver with their own
// phrases. The same file is downloaded alternately by the Sender (`masp get
// ID`, Download tickets, receipts) and by the Receiver (`masp get --listing`,
// Receive tickets checked against the chain, receipts), ROUNDS times each;
// prints every round, the medians and the ratio. Not a test: timings never
// decide pass/fail. Usage: scripts/bench-receiver [MiB]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Keyring } from '@polkadot/keyring';
import { u8aToHex } from '@polkadot/util';
import { cryptoWaitReady, xxhashAsHex } from '@polkadot/util-crypto';

import { startDevNode, submit } from './lib/node.mjs';
import { maspUser, startHost } from './lib/hosts.mjs';

const MIB = Number(process.argv[2] || 64);
const ROUNDS = Number(process.env.MASP_BENCH_ROUNDS || 5);
const UNIT = 10n ** 12n;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

await cryptoWaitReady();
const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
const alice = keyring.addFromUri('//Alice');
const node = await startDevNode({ blockTimeMs: 500 });
const api = node.api;
const hosts = [];
const people = [];
const work = mkdtempSync(join(tmpdir(), 'masp-bench-receiver-'));
try {
  await submit(api, api.tx.sudo.sudo(api.tx.system.setStorage([[xxhashAsHex(':ListingKeyDeadline:', 128), u8aToHex(api.createType('u32', 1000).toU8a())]])), alice);
  for (const [name, price] of [['bob', 10n ** 9n], ['charlie', 2n * 10n ** 9n]]) {
    hosts.push(await startHost({ name, suri: `//${name[0].toUpperCase()}${name.slice(1)}`, nodeUrl: node.rpcUrl, price, egressPrice: UNIT / 100n }));
  }
  const person = async () => {
    const u = maspUser({ nodeUrl: node.rpcUrl });
    people.push(u);
    const r = await u.masp(['keys', 'new']);
    if (r.code !== 0) throw new Error(r.stderr);
    u.address = r.stdout.match(/Account: (\S+)/)[1];
    await submit(api, api.tx.balances.transferKeepAlive(u.address, 10_000n * UNIT), alice);
    return u;
  };
  const ok = async (u, args) => {
    const r = await u.masp(args, { timeoutMs: 1_800_000 });
    if (r.code !== 0) throw new Error(`masp ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const sender = await person();
  const receiver = await person();
  const path = join(work, 'file.bin');
  writeFileSync(path, randomBytes(MIB << 20));
  const file = (await ok(sender, ['put', path, '--replicas', '2', '--duration', '50', '--wait', '300'])).match(/as file (\d+)/)[1];
  const listing = (await ok(sender, ['share', file, '--free'])).match(/as listing (\d+)/)[1];
  await ok(receiver, ['open', listing]);
  await ok(sender, ['agent', '--once']);

  const time = async (u, args) => {
    const t0 = process.hrtime.bigint();
    await ok(u, args);
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const senderMBs = [];
  const receiverMBs = [];
  for (let i = 0; i < ROUNDS; i++) {
    const out = join(work, 'out.bin');
    const s = await time(sender, ['get', file, '-o', out]);
    const r = await time(receiver, ['get', '--listing', listing, '-o', out]);
    const size = statSync(out).size / 2 ** 20;
    senderMBs.push(size / s);
    receiverMBs.push(size / r);
    console.log(`round ${i + 1}: Sender ${senderMBs.at(-1).toFixed(1)} MiB/s, Receiver ${receiverMBs.at(-1).toFixed(1)} MiB/s`);
  }
  const s = median(senderMBs);
  const r = median(receiverMBs);
  console.log(`${MIB} MiB, ${ROUNDS} rounds, 2 hosts charging for egress (receipts on every chunk)`);
  console.log(`median: Sender get ${s.toFixed(1)} MiB/s, Receiver get --listing ${r.toFixed(1)} MiB/s: x${(r / s).toFixed(2)} (goal >= 0.9)`);
} finally {
  for (const h of hosts) await h.cleanup().catch(() => {});
  for (const u of people) u.cleanup();
  rmSync(work, { recursive: true, force: true });
  await node.stop();
}
