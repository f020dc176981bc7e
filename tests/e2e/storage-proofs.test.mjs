// Storage proofs on a real dev chain, through @polkadot/api with no custom
// types. The Merkle tree and the challenge draw are rebuilt in JavaScript
// from the format's rules (lib/merkle.mjs), so this test also checks that the
// rules as documented are the rules the runtime applies.
//
// A host stores a small file; it proves the challenged leaves and is paid for
// that epoch, and its rating rises; a forged proof is refused with its error;
// an epoch without a proof slashes the host, pays the Sender and lowers the
// host's rating.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { Keyring } from '@polkadot/keyring';
import { hexToU8a, stringCamelCase, u8aToHex } from '@polkadot/util';
import { cryptoWaitReady, xxhashAsHex } from '@polkadot/util-crypto';

import { LEAF, challengeIndices, levels, proveLeaves } from './lib/merkle.mjs';
import { startDevNode, submit } from './lib/node.mjs';

const UNIT = 10n ** 12n;
const EPOCH = 8; // blocks, set through sudo before any contract exists

let node;
let keyring;

before(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  node = await startDevNode({ instantSeal: true });
});

after(async () => { if (node) await node.stop(); });

const eventsOf = (result, section, method) =>
  result.events
    .filter(({ event }) => event.section === section && event.method === method)
    .map(({ event }) => Object.fromEntries(event.data.names.map((n, i) => [stringCamelCase(n), event.data[i].toJSON()])));

test('a host proves the challenged leaves and is paid; a miss pays the Sender from its deposit', { timeout: 300_000 }, async () => {
  const { api } = node;
  const [alice, charlie, dave, ferdie] = ['//Alice', '//Charlie', '//Dave', '//Ferdie'].map((u) => keyring.addFromUri(u));
  const best = async () => (await api.rpc.chain.getHeader()).number.toNumber();
  const advanceTo = async (n) => { while (await best() < n) await submit(api, api.tx.system.remark('0x00'), ferdie); };
  const epochOf = (n) => Math.floor(n / EPOCH);

  await submit(api, api.tx.sudo.sudo(api.tx.system.setStorage([[xxhashAsHex(':EpochLength:', 128), u8aToHex(api.createType('u32', EPOCH).toU8a())]])), alice);

  // A 6-leaf file (the last leaf holds 3 bytes): 2,563 bytes of "ciphertext".
  const data = new Uint8Array(5 * LEAF + 3).map((_, i) => (i * 131 + (i >> 9)) & 0xff);
  const root = levels(data).at(-1)[0];

  await submit(api, api.tx.storageMarket.registerHost('https://charlie.example', 'EU', 1n << 40n, u8aToHex(charlie.publicKey)), charlie);
  await submit(api, api.tx.deposits.deposit(1000n * UNIT), charlie);
  await submit(api, api.tx.storageMarket.postOffer(UNIT, 1n << 30n, 1, 100), charlie);
  const placed = await submit(api, api.tx.storageMarket.placeRequest(data.length, u8aToHex(root), 6, 1, 10, UNIT, 0), dave);
  const { contract, start } = eventsOf(placed, 'storageMarket', 'ContractCreated')[0];
  await submit(api, api.tx.storageMarket.confirmStored(contract), charlie);

  // Into the term's first epoch: the challenge is seeded (epochs this short
  // draw the seed at their first block; an hour-long one at its middle).
  await advanceTo(start);
  const [epoch, first] = (await api.call.storageProofsApi.challenge(contract)).unwrap().map((x) => Number(x.toString()));
  assert.equal(epoch, epochOf(await best()));
  const seed = (await api.query.storageProofs.epochSeeds(epoch)).unwrap().toU8a();
  const indices = challengeIndices(seed, contract, epoch, 6);
  assert.equal(indices[0], first, 'the documented draw is the runtime\'s');
  assert.ok(indices.every((i) => i >= 0 && i < 6));

  // Forged proofs: the right leaves with a broken path; the last challenged
  // leaf replaced by other bytes (a host that lost it); only the first leaf.
  const good = proveLeaves(data, indices);
  const forged = { ...good, path: [...good.path] };
  if (forged.path.length > 0) {
    forged.path[0] = u8aToHex(new Uint8Array(32).fill(1));
    await assert.rejects(submit(api, api.tx.storageProofs.submitProofs([[contract, forged]]), charlie), /storageProofs.InvalidProof/);
  }
  const lost = hexToU8a(good.leaf);
  lost[lost.length - 1] ^= 0xff;
  await assert.rejects(submit(api, api.tx.storageProofs.submitProofs([[contract, { ...good, leaf: u8aToHex(lost) }]]), charlie), /storageProofs.InvalidProof/);
  if (indices.length > 1) {
    const partial = proveLeaves(data, indices.slice(0, 1));
    await assert.rejects(submit(api, api.tx.storageProofs.submitProofs([[contract, partial]]), charlie), /storageProofs.(BadLeafLength|BadPathLength|InvalidProof)/);
  }
  // Someone else's proof of it.
  await assert.rejects(submit(api, api.tx.storageProofs.submitProofs([[contract, good]]), ferdie), /storageProofs.NotContractHost/);

  const hostBefore = (await api.query.system.account(charlie.address)).data.free.toBigInt();
  const proven = await submit(api, api.tx.storageProofs.submitProofs([[contract, good]]), charlie);
  const ev = eventsOf(proven, 'storageProofs', 'Proven')[0];
  assert.equal(ev.epoch, epoch);
  assert.ok(BigInt(ev.paid) > 0n);
  const fee = hostBefore + BigInt(ev.paid) - (await api.query.system.account(charlie.address)).data.free.toBigInt();
  assert.ok(fee >= 0n && fee < UNIT / 100n, 'the host received the epoch price (minus its fee)');
  const record = (await api.call.storageProofsApi.record(contract)).toJSON();
  assert.equal(record.lastProven, epoch);

  // The proof raised the host's objective rating (polkadot.js: Runtime calls -> hostRatingApi).
  const rated = (await api.call.hostRatingApi.rating(charlie.address)).toJSON();
  assert.ok(rated.rating > 0 && rated.metrics.proofsPassed === 1, JSON.stringify(rated));
  assert.deepEqual((await api.call.hostRatingApi.top(5)).toJSON().map(([h]) => h), [charlie.address]);

  // The next epoch passes without a proof: the host is slashed, Dave is paid.
  const daveBefore = (await api.query.system.account(dave.address)).data.free.toBigInt();
  await advanceTo((epoch + 2) * EPOCH + 1);
  const after = (await api.call.storageProofsApi.record(contract)).toJSON();
  assert.equal(after.consecutiveMisses, 1);
  assert.equal(after.totalMisses, 1);
  const daveAfter = (await api.query.system.account(dave.address)).data.free.toBigInt();
  assert.ok(daveAfter > daveBefore, 'the Sender was paid from the host\'s deposit');
  const fallen = (await api.call.hostRatingApi.rating(charlie.address)).toJSON();
  assert.equal(fallen.metrics.proofsMissed, 1);
  assert.ok(fallen.reliability < rated.reliability, 'the miss lowered the rating');
});
