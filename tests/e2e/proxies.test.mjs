// Proxies, end to end (issue 22): a real dev node, two `masp-host` daemons
// on 127.0.0.5 and 127.0.0.6, two `masp-proxy` daemons on 127.0.0.3 (Dave)
// and 127.0.0.4 (Eve), and the `masp` CLI of a Sender whose connections
// leave from 127.0.0.2 (`MASP_BIND`).
//
// - a put through a proxy: every connection a host sees comes from the
//   proxy's address, never the Sender's; `get` gives the file back; the
//   proxy is paid on chain exactly for the bytes it relayed (the client's
//   count, the proxy's count and the chain's agree to the byte);
// - two hops: the host sees only the exit proxy, reached over TLS inside
//   the entry's tunnel; both are paid;
// - kill -9 of the proxy mid-upload: the put completes through the other
//   one, byte-identical on `get`; the failure is reported on chain;
// - a proxy refuses a target that is not a registered endpoint, a tunnel
//   without the payer's authorization, and one whose authorization was
//   used already; a forged receipt is refused by the proxy and on chain,
//   and a replayed one on chain.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Keyring } from '@polkadot/keyring';
import { u8aConcat, u8aToHex, stringToU8a, bnToU8a } from '@polkadot/util';
import { cryptoWaitReady } from '@polkadot/util-crypto';

import { startDevNode, submit } from './lib/node.mjs';
import { maspUser, startHost, startProxy } from './lib/hosts.mjs';

const UNIT = 10n ** 12n;
const GIB = 1n << 30n;
const PRICE = '0.5'; // MASP per GiB relayed
const PRICE_PLANCK = UNIT / 2n;
const CLIENT_ADDR = '127.0.0.2';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const relayCost = (bytes) => (BigInt(bytes) * PRICE_PLANCK + GIB - 1n) / GIB;

let node;
let api;
let keyring;
let alice;
const hosts = {};
const proxies = {};
let sender;
let work;

const env = { MASP_BIND: CLIENT_ADDR };

/** Peer addresses in a host's access log since byte `from` of it. */
function peers(host, from = 0) {
  const text = readFileSync(host.logFile, 'utf8').slice(from);
  return [...text.matchAll(/connection accepted peer=\[?([0-9a-f.:]+?)\]?:\d+/g)].map((m) => m[1]);
}
const logSize = (host) => readFileSync(host.logFile).length;

async function ok(args, extraEnv = {}) {
  const r = await sender.masp(args, { env: { ...env, ...extraEnv } });
  assert.equal(r.code, 0, `masp ${args.join(' ')}: ${r.stderr}`);
  return r;
}

/** Bytes each proxy relayed, as `masp` printed them. */
function relayedByClient(stderr) {
  const out = {};
  for (const m of stderr.matchAll(/proxy (\S+) \((\S+)\): (\d+) bytes relayed/g)) out[m[1]] = Number(m[3]);
  return out;
}

const channel = async (proxy) => (await api.query.egress.channels(sender.address, proxy.account, 'Relay')).unwrap();

/** Waits until the chain paid `proxy` for `bytes` on the Sender's channel. */
async function paidFor(proxy, bytes) {
  const until = Date.now() + 60_000;
  for (;;) {
    const c = await channel(proxy);
    if (c.bytesPaid.toNumber() >= bytes) return c;
    assert.ok(Date.now() < until, `${proxy.name} redeemed ${bytes} bytes (chain has ${c.bytesPaid})`);
    await sleep(1000);
  }
}

/** A raw CONNECT to `proxy`: the status line and body. */
function rawConnect(proxy, target, auth) {
  return new Promise((ok, fail) => {
    const s = connect({ host: proxy.addr, port: proxy.port, localAddress: CLIENT_ADDR });
    let data = '';
    s.on('data', (d) => {
      data += d;
      const end = data.indexOf('\r\n\r\n');
      if (end >= 0) {
        const status = Number(data.split(' ')[1]);
        const len = Number((data.match(/content-length: (\d+)/i) || [0, 0])[1]);
        if (status === 200 || data.length >= end + 4 + len) {
          s.destroy();
          ok({ status, body: data.slice(end + 4) });
        }
      }
    });
    s.on('error', fail);
    const lines = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`];
    if (auth) lines.push(`Proxy-Authorization: ${auth}`);
    s.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

/** The Sender's authorization of a tunnel through `proxy` to `target`. */
function authorization(proxy, target) {
  const expires = BigInt(Math.floor(Date.now() / 1000) + 120);
  const nonce = randomBytes(16);
  const payload = u8aConcat(
    stringToU8a('masp/relay-tunnel/v1'),
    api.genesisHash.toU8a(),
    keyring.decodeAddress(proxy.account),
    bnToU8a(expires, { bitLength: 64, isLe: true }),
    nonce,
    stringToU8a(target),
  );
  const sig = sender.pair.sign(payload);
  return `MASP ${u8aToHex(u8aConcat(sender.pair.publicKey, bnToU8a(expires, { bitLength: 64, isLe: true }), nonce, sig)).slice(2)}`;
}

before(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  alice = keyring.addFromUri('//Alice');
  node = await startDevNode({ blockTimeMs: 500 });
  api = node.api;
  const log = 'info,masp_host::server=debug';
  hosts.bob = await startHost({ name: 'bob', suri: '//Bob', nodeUrl: node.rpcUrl, price: 10n ** 9n, addr: '127.0.0.5', log });
  hosts.charlie = await startHost({ name: 'charlie', suri: '//Charlie', nodeUrl: node.rpcUrl, price: 10n ** 9n, addr: '127.0.0.6', log });
  // A small credit: the proxies wait for receipts many times per file.
  const settings = { CREDIT_BYTES: 2 << 20 };
  proxies.dave = await startProxy({ name: 'dave', suri: '//Dave', nodeUrl: node.rpcUrl, price: PRICE, addr: '127.0.0.3', settings });
  proxies.eve = await startProxy({ name: 'eve', suri: '//Eve', nodeUrl: node.rpcUrl, price: PRICE, addr: '127.0.0.4', settings });
  proxies.dave.account = keyring.addFromUri('//Dave').address;
  proxies.eve.account = keyring.addFromUri('//Eve').address;
  sender = maspUser({ nodeUrl: node.rpcUrl });
  const r = await sender.masp(['keys', 'new']);
  assert.equal(r.code, 0, r.stderr);
  sender.address = r.stdout.match(/Account: (\S+)/)[1];
  sender.pair = keyring.addFromMnemonic(r.stdout.trim().split('\n').at(-1).trim());
  sender.hex = u8aToHex(sender.pair.publicKey);
  await submit(api, api.tx.balances.transferKeepAlive(sender.address, 1000n * UNIT), alice);
  work = mkdtempSync(join(tmpdir(), 'masp-proxies-'));
});

after(async () => {
  for (const p of Object.values(proxies)) await p.cleanup().catch(() => {});
  for (const h of Object.values(hosts)) await h.cleanup().catch(() => {});
  sender?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
  if (node) await node.stop();
});

let fileId;
let plain;

test('a put through a proxy: hosts see only the proxy, and it is paid exactly for what it relayed', { timeout: 300_000 }, async () => {
  plain = randomBytes(6 * (1 << 20) + 4321);
  const path = join(work, 'one.bin');
  writeFileSync(path, plain);
  const marks = { bob: logSize(hosts.bob), charlie: logSize(hosts.charlie) };
  const put = await ok(['put', path, '--replicas', '2', '--duration', '20', '--wait', '120', '--proxy', proxies.dave.account]);
  fileId = Number(put.stdout.match(/as file (\d+)/)[1]);
  const seen = [...peers(hosts.bob, marks.bob), ...peers(hosts.charlie, marks.charlie)];
  assert.ok(seen.length > 0, 'the hosts logged their connections');
  assert.deepEqual([...new Set(seen)], ['127.0.0.3'], `hosts saw only the proxy: ${seen}`);

  // Both replicas' ciphertext went through Dave; the client's count, the
  // proxy's and the chain's agree.
  const counted = relayedByClient(put.stderr)[proxies.dave.account];
  assert.ok(counted > 2 * plain.length, `relayed ${counted} bytes for two replicas of ${plain.length}`);
  const status = await proxies.dave.status(sender.hex);
  assert.equal(status.relayed, counted, 'the proxy counted what the client counted');
  assert.equal(status.best, counted, 'and holds a receipt for exactly that');
  const c = await paidFor(proxies.dave, counted);
  assert.equal(c.bytesPaid.toNumber(), counted, 'redeemed exactly the bytes relayed');
  assert.equal(c.paid.toBigInt(), relayCost(counted), 'at its price');
  assert.ok((await proxies.dave.metric('masp_proxy_credit_waits_total')) >= 0);

  // Downloaded through the proxy, byte-identical.
  const again = { bob: logSize(hosts.bob), charlie: logSize(hosts.charlie) };
  const out = join(work, 'one.out');
  await ok(['get', String(fileId), '-o', out, '--proxy', proxies.dave.account]);
  assert.ok(readFileSync(out).equals(plain), 'byte-identical');
  const got = [...peers(hosts.bob, again.bob), ...peers(hosts.charlie, again.charlie)];
  assert.deepEqual([...new Set(got)], ['127.0.0.3'], `the download too: ${got}`);
});

test('two hops: the host sees only the exit proxy, and both are paid', { timeout: 300_000 }, async () => {
  const marks = { bob: logSize(hosts.bob), charlie: logSize(hosts.charlie) };
  const eveBefore = await proxies.eve.metric('masp_proxy_bytes_relayed_total');
  const eveTls = await proxies.eve.metric('masp_proxy_connections_total', 'transport="tls"');
  const out = join(work, 'two.out');
  const r = await ok(['get', String(fileId), '-o', out, '--proxy', `${proxies.dave.account},${proxies.eve.account}`, '--hops', '2']);
  assert.ok(readFileSync(out).equals(plain), 'byte-identical');
  const seen = [...peers(hosts.bob, marks.bob), ...peers(hosts.charlie, marks.charlie)];
  assert.ok(seen.length > 0);
  assert.deepEqual([...new Set(seen)], ['127.0.0.4'], `hosts saw only the exit proxy: ${seen}`);
  const counted = relayedByClient(r.stderr);
  assert.ok(counted[proxies.eve.account] > plain.length, 'the exit relayed the file');
  // The entry carried everything the exit did, plus the exit's handshakes
  // and receipts.
  assert.ok(counted[proxies.dave.account] > counted[proxies.eve.account], JSON.stringify(counted));
  assert.ok((await proxies.eve.metric('masp_proxy_bytes_relayed_total')) > eveBefore);
  // Everything for the exit went over TLS to it inside the entry's tunnel
  // (the entry saw neither the hosts nor the exit's authorizations); the
  // client spoke plain HTTP only to the entry.
  assert.ok((await proxies.eve.metric('masp_proxy_connections_total', 'transport="tls"')) > eveTls, 'TLS to the exit');
  assert.equal(await proxies.dave.metric('masp_proxy_connections_total', 'transport="tls"'), 0);
  const eve = await paidFor(proxies.eve, counted[proxies.eve.account]);
  assert.equal(eve.bytesPaid.toNumber(), counted[proxies.eve.account], 'the exit is paid exactly its bytes');
});

test('kill -9 of the proxy mid-upload: the put completes through the other one', { timeout: 400_000 }, async () => {
  const big = randomBytes(48 * (1 << 20) + 99);
  const path = join(work, 'big.bin');
  writeFileSync(path, big);
  const daveBefore = await proxies.dave.metric('masp_proxy_bytes_relayed_total');
  const eveBefore = await proxies.eve.metric('masp_proxy_bytes_relayed_total');
  const run = sender.spawn(['put', path, '--replicas', '2', '--duration', '20', '--wait', '180', '--parallel', '1',
    '--proxy', `${proxies.dave.account},${proxies.eve.account}`], { env });
  // Killed once it has relayed a few MiB of the upload.
  const until = Date.now() + 120_000;
  for (;;) {
    const n = await proxies.dave.metric('masp_proxy_bytes_relayed_total').catch(() => 0);
    if (n - daveBefore > 4 * (1 << 20)) break;
    assert.ok(Date.now() < until, 'the upload started through Dave');
    await sleep(20);
  }
  proxies.dave.child.kill('SIGKILL');
  const r = await run.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /proxy \S+ \(http:\/\/127\.0\.0\.3:\d+\) failed/);
  assert.ok((await proxies.eve.metric('masp_proxy_bytes_relayed_total')) - eveBefore > 0, 'Eve took over');
  const id = Number(r.stdout.match(/as file (\d+)/)[1]);
  const out = join(work, 'big.out');
  await ok(['get', String(id), '-o', out, '--proxy', proxies.eve.account]);
  assert.ok(readFileSync(out).equals(big), 'byte-identical after the failover');
  // The failure counts in Dave's rating.
  const view = (await api.call.proxiesApi.proxy(proxies.dave.account)).unwrap();
  assert.ok(view.failures.toNumber() >= 1, 'the failure was reported on chain');
  await proxies.dave.start();
});

test('a proxy relays only to registered endpoints, for the payer who signed, once', { timeout: 120_000 }, async () => {
  const dave = proxies.dave;
  const host = hosts.bob.url.replace('http://', '');
  // Not a registered endpoint (the node's own RPC port, say): refused
  // whatever the authorization.
  const rpc = node.rpcUrl.replace('ws://', '').replace(/\/$/, '');
  let r = await rawConnect(dave, rpc, authorization(dave, rpc));
  assert.equal(r.status, 403, r.body);
  assert.match(r.body, /not the endpoint of a host or proxy registered on chain/);
  r = await rawConnect(dave, '127.0.0.9:22', authorization(dave, '127.0.0.9:22'));
  assert.equal(r.status, 403);
  // No authorization, or one for another target or proxy.
  r = await rawConnect(dave, host);
  assert.equal(r.status, 407, r.body);
  r = await rawConnect(dave, host, authorization(dave, hosts.charlie.url.replace('http://', '')));
  assert.equal(r.status, 407);
  r = await rawConnect(dave, host, authorization(proxies.eve, host));
  assert.equal(r.status, 407);
  // A good one opens a tunnel once; a copy of it opens nothing.
  const auth = authorization(dave, host);
  r = await rawConnect(dave, host, auth);
  assert.equal(r.status, 200, r.body);
  r = await rawConnect(dave, host, auth);
  assert.equal(r.status, 407);
  assert.match(r.body, /used already/);
  assert.ok((await dave.metric('masp_proxy_tunnels_total', 'result="target"')) >= 2);
});

test('forged and replayed relay receipts are refused by the proxy and on chain', { timeout: 120_000 }, async () => {
  const dave = proxies.dave;
  const c = await channel(dave);
  const bytes = c.bytesPaid.toNumber() + 1000;
  // Signed by someone else (Alice) for the Sender's channel.
  const payload = u8aConcat(
    stringToU8a('masp/relay-receipt/v1'),
    api.genesisHash.toU8a(),
    bnToU8a(c.id.toBigInt(), { bitLength: 64, isLe: true }),
    keyring.decodeAddress(dave.account),
    bnToU8a(BigInt(bytes), { bitLength: 64, isLe: true }),
  );
  const forged = alice.sign(payload);
  const wire = u8aToHex(u8aConcat(
    bnToU8a(c.id.toBigInt(), { bitLength: 64, isLe: true }),
    bnToU8a(BigInt(bytes), { bitLength: 64, isLe: true }),
    forged,
  )).slice(2);
  const res = await fetch(`${dave.url}/v1/relay/${sender.hex}?receipt=${wire}`, { method: 'POST' });
  assert.equal(res.status, 401, await res.text());
  // On chain: the proxy itself submitting it gets BadSignature, nothing paid.
  const daveKey = keyring.addFromUri('//Dave');
  const receipt = (b, sig) => ({ payer: sender.address, channel: c.id, bytes: b, signature: { Sr25519: sig } });
  await assert.rejects(
    submit(api, api.tx.egress.redeem('Relay', [receipt(bytes, forged)]), daveKey),
    /egress\.BadSignature/,
  );
  // The Sender's own receipt for what was paid already: NothingNew.
  const paidPayload = u8aConcat(payload.slice(0, payload.length - 8), bnToU8a(BigInt(c.bytesPaid.toNumber()), { bitLength: 64, isLe: true }));
  await assert.rejects(
    submit(api, api.tx.egress.redeem('Relay', [receipt(c.bytesPaid.toNumber(), sender.pair.sign(paidPayload))]), daveKey),
    /egress\.NothingNew/,
  );
  assert.equal((await channel(dave)).bytesPaid.toNumber(), c.bytesPaid.toNumber(), 'nothing more paid');
  // The Sender sees its relay channels beside its egress ones.
  const listed = (await ok(['egress', 'ls'])).stdout;
  assert.match(listed, new RegExp(`proxy ${dave.account}`));
  assert.match(listed, new RegExp(`proxy ${proxies.eve.account}`));
});
