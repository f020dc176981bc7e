// MASP on a real relay network (scripts/test --relay): zombienet spawns the
// westend-local relay chain (alice, bob) and MASP as parachain 2000 with three
// collators (charlie, dave, eve) from tests/relaynet/relaynet.toml, with the
// binaries in MASP_BIN_DIR (masp-node, polkadot and its PVF workers); the
// tests speak JSON-RPC (@polkadot/api) to both chains.
//
// Rules checked:
// - para blocks are authored by more than one collator, backed and included
//   by the relay chain, and finalized (block time and finality lag printed);
// - the challenge randomness is the relay parent's BABE VRF output, read from
//   the relay state proof: it equals the relay chain's own value, so no
//   collator chose it; the epoch seed is derived from it;
// - the council (2/3) acts as root: it shortens the epoch (a parameter)
//   through one whitelist motion; one member alone cannot;
// - a runtime upgrade through the council (whitelisted
//   system.authorizeUpgrade, then system.applyAuthorizedUpgrade), enacted by
//   the relay chain, without stopping the chain;
// - kill -9 one collator: blocks and finality go on; restarted, it catches up.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { ApiPromise, WsProvider, Keyring } from '@polkadot/api';
import { blake2AsU8a, xxhashAsHex, cryptoWaitReady } from '@polkadot/util-crypto';
import { u8aConcat, u8aToHex, compactToU8a, compactFromU8a, stringToU8a, u8aEq } from '@polkadot/util';

const require = createRequire(import.meta.url);
const { start } = require('@zombienet/orchestrator');
const { readNetworkConfig } = require('@zombienet/utils');
const { getClient } = require('@zombienet/orchestrator/dist/providers/client.js');

const here = dirname(fileURLToPath(import.meta.url));
const binDir = process.env.MASP_BIN_DIR;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let network;
let relay;
let para;
let keyring;
const apis = [];

async function connect(url) {
  const api = await ApiPromise.create({ provider: new WsProvider(url), noInitWarn: true });
  apis.push(api);
  return api;
}

/** Waits until `f()` is truthy, polling every second, at most `secs`. */
async function until(what, f, secs = 300) {
  for (let i = 0; i < secs; i++) {
    const v = await f();
    if (v) return v;
    await sleep(1000);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/**
 * Each signer's next nonce as we used it: with three collators a block that
 * held our transaction can be retracted, and until the pool takes the
 * transaction back `accountNextIndex` would hand its nonce out again.
 */
const nextNonce = new Map();

/** Submits `tx` signed by `signer`; resolves with the events once in a block. */
async function submit(api, tx, signer) {
  const fromChain = (await api.rpc.system.accountNextIndex(signer.address)).toNumber();
  const nonce = Math.max(fromChain, nextNonce.get(signer.address) ?? 0);
  nextNonce.set(signer.address, nonce + 1);
  return new Promise((resolve, reject) => {
    tx.signAndSend(signer, { nonce }, ({ status, events, dispatchError }) => {
      if (dispatchError) {
        const d = dispatchError.isModule ? api.registry.findMetaError(dispatchError.asModule) : null;
        reject(new Error(d ? `${d.section}.${d.name}` : dispatchError.toString()));
      } else if (status.isInBlock) {
        resolve(events);
      }
    }).catch(reject);
  });
}

before(async () => {
  assert.ok(binDir, 'MASP_BIN_DIR names the directory of masp-node and polkadot');
  await cryptoWaitReady();
  keyring = new Keyring({ type: 'sr25519' });
  process.env.MASP_RELAY_RPC_PORT ??= '9900';
  process.env.MASP_PARA_RPC_PORT ??= '9910';
  const config = readNetworkConfig(join(here, 'relaynet.toml'));
  const dir = mkdtempSync(join(tmpdir(), 'masp-relaynet-'));
  network = await start('', config, { spawnConcurrency: 1, logType: 'silent', dir, force: true });
  relay = await connect(network.getNodeByName('alice').wsUri);
  para = await connect(network.getNodeByName('charlie').wsUri);
  await until('the first para block', async () => (await para.rpc.chain.getHeader()).number.toNumber() >= 2, 600);
});

after(async () => {
  for (const api of apis) await api.disconnect().catch(() => {});
  if (!network) return;
  // zombienet's native provider pipes each node's output into a log stream
  // it ends in stop(); a node it restarted may still write then. Stop the
  // nodes first, then zombienet.
  for (const { pid } of Object.values(getClient().processMap ?? {})) {
    try { if (pid) process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  await sleep(1000);
  await network.stop();
});

// The same late write can still surface once stop() ends the streams: that
// one (and only that one) is not a test failure.
process.on('uncaughtException', (e) => {
  if (e?.code === 'ERR_STREAM_WRITE_AFTER_END') {
    console.log(`relaynet: ignored a node's log write after zombienet closed its log (${e.message})`);
    return;
  }
  throw e;
});

test('para blocks come from more than one collator, are backed, included and finalized', { timeout: 900_000 }, async () => {
  const authors = new Set();
  const included = new Set();
  const unsub = await relay.query.system.events((events) => {
    for (const { event } of events) {
      if (relay.events.paraInclusion.CandidateIncluded.is(event)) {
        const receipt = event.data[0];
        if (receipt.descriptor.paraId.toNumber() === 2000) included.add(receipt.descriptor.paraHead.toHex());
      }
    }
  });
  const first = (await para.rpc.chain.getHeader()).number.toNumber();
  const t0 = Date.now();
  await until('para blocks by two collators and ten inclusions', async () => {
    const head = await para.rpc.chain.getHeader();
    const h = await para.derive.chain.getHeader(head.hash);
    if (h.author) authors.add(h.author.toString());
    return authors.size >= 2 && included.size >= 10;
  }, 600);
  unsub();
  const best = (await para.rpc.chain.getHeader()).number.toNumber();
  const finalized = (await para.rpc.chain.getHeader(await para.rpc.chain.getFinalizedHead())).number.toNumber();
  const blockTime = (Date.now() - t0) / Math.max(1, best - first) / 1000;
  console.log(`relaynet: para block time ${blockTime.toFixed(1)} s over ${best - first} blocks, finality lag ${best - finalized} blocks, ${included.size} candidates included, authors ${[...authors].join(', ')}`);
  assert.ok(authors.size >= 2, 'more than one collator authors blocks');
  assert.ok(finalized >= first, 'the relay chain finalizes para blocks');
  // The para head the relay chain holds is a finalized para block.
  const head = await relay.query.paras.heads(2000);
  assert.ok(head.isSome);
});

/** SCALE of a byte slice: compact length, then the bytes. */
const bytes = (u8a) => u8aConcat(compactToU8a(u8a.length), u8a);

test('the challenge randomness is the relay parent\'s BABE VRF output from the relay state proof', { timeout: 600_000 }, async () => {
  await until('relay randomness on the parachain', async () => (await para.query.relayRandomness.latest()).isSome);
  // BABE with two validators forks: a relay block number names one block
  // only once finalized. Compare para blocks whose relay parent is
  // finalized on the relay chain (its state root proves which block it is).
  const checked = new Set();
  await until('para blocks on finalized relay parents', async () => {
    const relayFinal = (await relay.rpc.chain.getHeader(await relay.rpc.chain.getFinalizedHead())).number.toNumber();
    const best = (await para.rpc.chain.getHeader()).number.toNumber();
    for (let n = best; n > Math.max(0, best - 20) && checked.size < 3; n--) {
      if (checked.has(n)) continue;
      const at = await para.at(await para.rpc.chain.getBlockHash(n));
      const vfp = (await at.query.parachainSystem.validationData()).unwrap();
      const relayParent = vfp.relayParentNumber.toNumber();
      if (relayParent > relayFinal) continue;
      const relayHash = await relay.rpc.chain.getBlockHash(relayParent);
      const relayHeader = await relay.rpc.chain.getHeader(relayHash);
      // The state root the collator proved against is the finalized relay
      // block's: the value below was proven against it, a collator could
      // not have put another.
      assert.equal(vfp.relayParentStorageRoot.toHex(), relayHeader.stateRoot.toHex(), `para block ${n}: relay parent ${relayParent} is the finalized one`);
      const latest = (await at.query.relayRandomness.latest()).unwrap();
      assert.equal(latest.seenAt.toNumber(), n, 'kept in every block');
      const onRelay = await (await relay.at(relayHash)).query.babe.authorVrfRandomness();
      assert.ok(onRelay.isSome, 'the relay block has a VRF output');
      assert.equal(latest.randomness.toHex(), onRelay.unwrap().toHex(), 'the parachain holds exactly the relay chain\'s value for its relay parent');
      console.log(`relaynet: para block ${n} holds relay block ${relayParent}'s VRF output ${latest.randomness.toHex().slice(0, 18)}…`);
      checked.add(n);
    }
    return checked.size >= 3;
  }, 300);
});

/** The council motion that runs `call` as root (whitelist it, dispatch it). */
function asRoot(call) {
  return para.tx.utility.batchAll([
    para.tx.whitelist.whitelistCall(call.method.hash),
    para.tx.whitelist.dispatchWhitelistedCallWithPreimage(call),
  ]);
}

/** Proposes `motion` (Alice); Alice and Bob vote aye (a proposal starts
 * with no votes), Charlie closes. */
async function councilMotion(motion) {
  const alice = keyring.addFromUri('//Alice');
  const bob = keyring.addFromUri('//Bob');
  const charlie = keyring.addFromUri('//Charlie');
  const len = motion.method.encodedLength;
  const events = await submit(para, para.tx.council.propose(2, motion, len), alice);
  const proposed = events.find(({ event }) => para.events.council.Proposed.is(event)).event;
  const [, index, hash] = proposed.data;
  await submit(para, para.tx.council.vote(hash, index, true), alice);
  await submit(para, para.tx.council.vote(hash, index, true), bob);
  const closed = await submit(para, para.tx.council.close(hash, index, { refTime: 10n ** 12n, proofSize: 10n ** 6n }, len), charlie);
  return closed.map(({ event }) => event);
}

test('the council acts as root: it shortens the epoch; the seed then comes from relay randomness', { timeout: 900_000 }, async () => {
  const EPOCH = 10;
  const key = xxhashAsHex(':EpochLength:', 128);
  const value = u8aToHex(para.createType('u32', EPOCH).toU8a());
  const set = para.tx.system.setStorage([[key, value]]);
  // One member alone: a motion of threshold 1 runs with one member's
  // origin, which the whitelist refuses.
  const alice = keyring.addFromUri('//Alice');
  const motion = asRoot(set);
  await submit(para, para.tx.council.propose(1, motion, motion.method.encodedLength), alice);
  assert.equal((await para.rpc.state.getStorage(key)).isNone, true, 'one member cannot set a parameter');
  // Two of three.
  const events = await councilMotion(asRoot(set));
  assert.ok(events.some((e) => para.events.council.Executed.is(e) && e.data[1].isOk), 'the motion executed');
  assert.ok(events.some((e) => para.events.whitelist.WhitelistedCallDispatched.is(e)), 'dispatched as root');
  assert.equal((await para.rpc.state.getStorage(key)).toHex(), value);

  // Within two epochs a seed is drawn, from the relay randomness.
  const seeded = await until('an epoch seed', async () => {
    const hash = await para.rpc.chain.getBlockHash();
    const evs = await (await para.at(hash)).query.system.events();
    const e = evs.find(({ event }) => para.events.storageProofs.EpochSeeded.is(event));
    return e ? { hash, epoch: e.event.data[0], seed: e.event.data[1] } : null;
  }, 300);
  const block = (await para.rpc.chain.getHeader(seeded.hash)).number.toNumber();
  // The randomness it used: the one kept before this block's hooks ran.
  const parent = await para.at(await para.rpc.chain.getBlockHash(block - 1));
  const kept = (await parent.query.relayRandomness.latest()).unwrap();
  const epochBytes = seeded.epoch.toU8a();
  // subject = SCALE(("masp/challenge" as [u8; 14], epoch)); random =
  // blake2(SCALE(("masp/relay-randomness" as &[u8], randomness, subject as &[u8])));
  // seed = blake2(SCALE(("masp/seed" as [u8; 9], random, epoch))).
  const subject = u8aConcat(stringToU8a('masp/challenge'), epochBytes);
  const random = blake2AsU8a(u8aConcat(bytes(stringToU8a('masp/relay-randomness')), kept.randomness.toU8a(), bytes(subject)));
  const seed = blake2AsU8a(u8aConcat(stringToU8a('masp/seed'), random, epochBytes));
  assert.equal(seeded.seed.toHex(), u8aToHex(seed), 'the seed is derived from the relay chain\'s randomness');
  console.log(`relaynet: epoch ${seeded.epoch} seeded at para block ${block} from relay randomness ${kept.randomness.toHex().slice(0, 18)}…`);
});

/**
 * The runtime the chain runs (its `:code`), with its `runtime_version`
 * custom section's spec_version raised by one and compressed again as the
 * node expects (the relay chain refuses an "upgrade" to identical code; the
 * executor and `system.applyAuthorizedUpgrade` read the version from that
 * section).
 */
async function upgradedCode() {
  // sp-maybe-compressed-blob's prefix of a zstd-compressed code blob.
  const prefix = Uint8Array.from([82, 188, 83, 118, 70, 219, 142, 5]);
  const onChain = (await para.rpc.state.getStorage(':code')).unwrap().toU8a(true);
  assert.ok(u8aEq(onChain.subarray(0, prefix.length), prefix), 'the chain\'s code is a compressed blob');
  const dir = mkdtempSync(join(tmpdir(), 'masp-upgrade-'));
  writeFileSync(join(dir, 'code.zst'), onChain.subarray(prefix.length));
  execFileSync('zstd', ['-q', '-d', '-f', join(dir, 'code.zst'), '-o', join(dir, 'code.wasm')]);
  const wasm = Uint8Array.from(readFileSync(join(dir, 'code.wasm')));
  const name = stringToU8a('runtime_version');
  let at = -1;
  for (let i = 0; i + name.length < wasm.length; i++) {
    if (wasm[i] === name.length && u8aEq(wasm.subarray(i + 1, i + 1 + name.length), name)) { at = i + 1 + name.length; break; }
  }
  assert.ok(at > 0, 'the WASM has a runtime_version section');
  let off = at;
  for (let s = 0; s < 2; s++) { // spec_name, impl_name
    const [len, n] = compactFromU8a(wasm.subarray(off));
    off += len + n.toNumber();
  }
  off += 4; // authoring_version
  const view = new DataView(wasm.buffer, wasm.byteOffset);
  const spec = view.getUint32(off, true);
  assert.equal(spec, (await para.rpc.state.getRuntimeVersion()).specVersion.toNumber(), 'found the spec_version');
  view.setUint32(off, spec + 1, true);
  writeFileSync(join(dir, 'new.wasm'), wasm);
  execFileSync('zstd', ['-q', '-19', '-f', join(dir, 'new.wasm'), '-o', join(dir, 'new.zst')]);
  return { code: u8aConcat(prefix, readFileSync(join(dir, 'new.zst'))), spec: spec + 1 };
}

test('a runtime upgrade through the council, enacted by the relay chain, without stopping the chain', { timeout: 900_000 }, async () => {
  const { code, spec } = await upgradedCode();
  const codeHash = blake2AsU8a(code);
  const events = await councilMotion(asRoot(para.tx.system.authorizeUpgrade(codeHash)));
  assert.ok(events.some((e) => para.events.system.UpgradeAuthorized.is(e)), 'the council authorised the upgrade');
  // Anyone applies it (the code is checked against the authorised hash).
  await submit(para, para.tx.system.applyAuthorizedUpgrade(u8aToHex(code)), keyring.addFromUri('//Dave'));
  const before = (await para.rpc.chain.getHeader()).number.toNumber();
  await until('the new runtime', async () => (await para.rpc.state.getRuntimeVersion()).specVersion.toNumber() === spec, 600);
  // Blocks go on under the new runtime.
  const after = await until('blocks after the upgrade', async () => {
    const n = (await para.rpc.chain.getHeader()).number.toNumber();
    return n >= before + 3 ? n : null;
  }, 300);
  console.log(`relaynet: runtime upgraded to spec_version ${spec} (code ${code.length} bytes) at para block ~${before}; chain at ${after}`);
});

test('kill -9 one collator: blocks and finality go on; restarted, it catches up', { timeout: 900_000 }, async () => {
  const client = getClient();
  const pid = client.processMap?.eve?.pid;
  assert.ok(pid, 'zombienet knows eve\'s process');
  const killedAt = (await para.rpc.chain.getHeader()).number.toNumber();
  const finalizedAt = (await para.rpc.chain.getHeader(await para.rpc.chain.getFinalizedHead())).number.toNumber();
  // zombienet's restart: kill -9 now, start the same command again after
  // DOWN seconds (its native provider restarts only a process it kills).
  const DOWN = 150;
  const t0 = Date.now();
  const eve = network.getNodeByName('eve');
  const restarted = eve.restart(DOWN);
  await sleep(2000);
  assert.throws(() => process.kill(pid, 0), 'eve is dead');
  const finalizedWithout = await until('5 more para blocks, finalized, without eve', async () => {
    const f = (await para.rpc.chain.getHeader(await para.rpc.chain.getFinalizedHead())).number.toNumber();
    return f >= Math.max(killedAt, finalizedAt) + 5 ? f : null;
  }, DOWN - 10);
  assert.ok(Date.now() - t0 < DOWN * 1000, 'finalized while eve was down');
  console.log(`relaynet: eve killed at para block ${killedAt}; finalized ${finalizedWithout} without it in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  await restarted;
  // Restarted, eve syncs back to the others' best block.
  const eveApi = await connect(eve.wsUri);
  await until('eve catches up', async () => {
    const mine = (await eveApi.rpc.chain.getHeader()).number.toNumber();
    const theirs = (await para.rpc.chain.getHeader()).number.toNumber();
    return mine >= theirs - 1;
  }, 600);
  // No finalized block was lost: eve's finalized chain agrees with charlie's.
  // Its finality follows the relay chain's: it reaches what was finalized
  // while it was down.
  const f = await until('eve finalizes what was finalized without it', async () => {
    const mine = (await eveApi.rpc.chain.getHeader(await eveApi.rpc.chain.getFinalizedHead())).number.toNumber();
    return mine >= finalizedWithout ? mine : null;
  }, 300);
  assert.equal((await eveApi.rpc.chain.getBlockHash(f)).toHex(), (await para.rpc.chain.getBlockHash(f)).toHex());
});
