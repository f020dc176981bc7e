// A hostile user against a real dev chain (issue 18 items 1, 2, 5 and 6),
// through @polkadot/api with no custom types. Each test plays the cheapest
// attack we know of and checks that it fails and hurts nobody:
//
// 1. A request whose leaf count does not match its size (an honest host
//    would confirm, never be able to prove, be slashed and lose the
//    contract as DataLost) is refused, and nothing changes.
// 2. A Sender who is also its host buys the most cover an insurer sells on a
//    1-byte contract and lets the data "get lost": cover is bounded by what
//    backs the contract, and the insurer does not lose on the policy.
// 3. Zero-price offers from hosts without deposit, and requests with a rating
//    floor no host meets, cannot hold the top of the book: a real request
//    still matches an honest host.
// 4. A host's second account buys sixteen 1-byte contracts at a high price
//    (money that flows back to the host) and the host proves them all: more
//    proofs than an honest host storing 64 MiB, a lower rating.
//
// Each test runs its own node, so no attack's leftovers help another.

import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';

import { Keyring } from '@polkadot/keyring';
import { stringCamelCase, u8aToHex } from '@polkadot/util';
import { cryptoWaitReady, xxhashAsHex } from '@polkadot/util-crypto';

import { leafCount, leafHash, levels, proofFor } from './lib/merkle.mjs';
import { startDevNode, submit } from './lib/node.mjs';

const UNIT = 10n ** 12n;
const MIB = 1n << 20n;
const GIB = 1n << 30n;
const MISSES = 6; // the runtime's MaxConsecutiveMisses
const RATING_MAX = 1_000_000;

let node;
let keyring;

beforeEach(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  node = await startDevNode({ instantSeal: true });
});

afterEach(async () => { if (node) await node.stop(); node = undefined; });

const eventsOf = (result, section, method) =>
  result.events
    .filter(({ event }) => event.section === section && event.method === method)
    .map(({ event }) => Object.fromEntries(event.data.names.map((n, i) => [stringCamelCase(n), event.data[i].toJSON()])));

/** Helpers bound to the test's node. */
function chain() {
  const { api } = node;
  const alice = keyring.addFromUri('//Alice');
  const filler = keyring.addFromUri('//Ferdie');
  const best = async () => (await api.rpc.chain.getHeader()).number.toNumber();
  return {
    api,
    alice,
    best,
    /** Blocks up to `n` (instant seal: one block per transaction). */
    advanceTo: async (n) => { while (await best() < n) await submit(api, api.tx.system.remark('0x00'), filler); },
    free: async (who) => (await api.query.system.account(who.address)).data.free.toBigInt(),
    /** A fresh account with `amount` from Alice. */
    account: async (name, amount = 10_000n * UNIT) => {
      const pair = keyring.addFromUri(`//Attacker//${name}`);
      await submit(api, api.tx.balances.transferKeepAlive(pair.address, amount), alice);
      return pair;
    },
    /** Root sets a well-known `storage` parameter (test networks only). */
    setParam: async (key, type, value) => {
      const k = xxhashAsHex(key, 128);
      await submit(api, api.tx.sudo.sudo(api.tx.system.setStorage([[k, u8aToHex(api.createType(type, value).toU8a())]])), alice);
    },
    /** Registers `pair` as a host with `deposit` MASP locked. */
    host: async (pair, deposit) => {
      await submit(api, api.tx.storageMarket.registerHost(`https://${pair.address.slice(0, 8).toLowerCase()}.example`, 'EU', 1n << 40n, u8aToHex(pair.publicKey)), pair);
      if (deposit > 0n) await submit(api, api.tx.deposits.deposit(deposit), pair);
    },
  };
}

test('item 1: a leaf count that does not match the size is refused and changes nothing', { timeout: 300_000 }, async () => {
  const { api, free, account, host } = chain();
  const honest = await account('honest');
  const sender = await account('sender');
  await host(honest, 100n * UNIT);
  await submit(api, api.tx.storageMarket.postOffer(UNIT / 1000n, GIB, 1, 100), honest);

  const size = 1_000_000n; // 1954 leaves of 512 bytes, the last one short
  const right = leafCount(size);
  assert.equal(right, 1954n);
  const root = u8aToHex(new Uint8Array(32).fill(9));
  const before = await free(sender);
  for (const wrong of [1n, right - 1n, right + 1n, size]) {
    await assert.rejects(
      submit(api, api.tx.storageMarket.placeRequest(size, root, wrong, 1, 10, UNIT, 0), sender),
      /storageMarket.BadLeafCount/,
      `leaf count ${wrong} for ${size} bytes`,
    );
  }
  // Nothing changed but the fees: no contract, no request, nothing held.
  assert.equal((await api.query.storageMarket.contracts.keys()).length, 0);
  assert.equal((await api.query.storageMarket.requests.keys()).length, 0);
  // A refused call pays the fee of the weight it is declared with (the
  // worst-case matching), nothing more.
  const fee = (await api.tx.storageMarket.placeRequest(size, root, 1n, 1, 10, UNIT, 0).paymentInfo(sender)).partialFee.toBigInt();
  const spent = before - (await free(sender));
  assert.ok(spent > 0n && spent <= 4n * fee + 4n * (fee / 10n), `only fees were paid (${spent}, 4 x ${fee})`);
  assert.equal((await api.query.system.account(sender.address)).data.reserved.toBigInt(), 0n);
  const { used } = (await api.call.storageMarketApi.host(honest.address)).toJSON();
  assert.equal(BigInt(used), 0n, 'the honest host reserved no room');

  // The leaf count the size gives is accepted.
  const placed = await submit(api, api.tx.storageMarket.placeRequest(size, root, right, 1, 10, UNIT, 0), sender);
  assert.equal(eventsOf(placed, 'storageMarket', 'ContractCreated')[0].host, honest.address);
});

test('item 2: a Sender that is its own host cannot drain an insurer through a 1-byte contract', { timeout: 300_000 }, async () => {
  const { api, free, account, host, advanceTo, setParam } = chain();
  // Long enough that the cover is bought before the contract's first epoch
  // and so starts with it (cover bought later waits six epochs).
  const EPOCH = 16;
  await setParam(':EpochLength:', 'u32', EPOCH);
  const insurer = await account('insurer');
  const mallory = await account('mallory'); // the Sender
  const trent = await account('trent'); // Mallory's own host

  // The insurer sells up to 50 MASP of cover a contract at 1% a epoch.
  const PREMIUM = 10_000_000; // Perbill: 1%
  await submit(api, api.tx.insurance.depositCapital(200n * UNIT), insurer);
  await submit(api, api.tx.insurance.setOffer(PREMIUM, 50n * UNIT, 0), insurer);

  // Trent hosts; Mallory stores 1 byte with him for 20 epochs.
  await host(trent, 10n * UNIT);
  await submit(api, api.tx.storageMarket.postOffer(1n, GIB, 1, 100), trent);
  const data = new Uint8Array([42]);
  const placed = await submit(api, api.tx.storageMarket.placeRequest(1, u8aToHex(leafHash(data)), 1, 1, 20, UNIT, 0), mallory);
  const { contract, host: matched } = eventsOf(placed, 'storageMarket', 'ContractCreated')[0];
  assert.equal(matched, trent.address);
  await submit(api, api.tx.storageMarket.confirmStored(contract), trent);

  // What backs the contract: the minimum contract size (1 MiB) at 1 MASP a GiB.
  const backing = (await api.query.deposits.backings(contract)).unwrap().amount.toBigInt();
  assert.equal(backing, UNIT * MIB / GIB);

  // The most cover the offer sells is refused: it is not backed.
  await assert.rejects(submit(api, api.tx.insurance.buyCover(contract, insurer.address, 50n * UNIT, PREMIUM), mallory), /insurance.CoverExceedsBacking/);
  await assert.rejects(submit(api, api.tx.insurance.buyCover(contract, insurer.address, 2n * backing, PREMIUM), mallory), /insurance.CoverExceedsBacking/);
  // The backing itself can be insured.
  const capitalOf = async () => (await api.query.insurance.insurers(insurer.address)).unwrap().capital.toBigInt();
  const insurerBefore = (await free(insurer)) + (await capitalOf());
  await submit(api, api.tx.insurance.buyCover(contract, insurer.address, backing, PREMIUM), mallory);
  const cover = (await api.query.insurance.covers(contract)).unwrap();
  const { start: firstEpoch } = eventsOf(placed, 'storageMarket', 'ContractCreated')[0];
  assert.equal(cover.start.toNumber() * EPOCH, firstEpoch, 'the cover starts with the contract');
  const capitalBefore = await capitalOf();

  // Trent never proves: after six missed epochs the data counts as lost and
  // the insurer pays the claim.
  await advanceTo((cover.start.toNumber() + MISSES) * EPOCH + 1);
  assert.ok((await api.query.storageMarket.contracts(contract)).isNone, 'the contract ended');
  assert.ok((await api.query.insurance.covers(contract)).isNone, 'the claim was paid');
  assert.ok((await capitalOf()) < capitalBefore, 'the insurer paid a claim');
  const insurerAfter = (await free(insurer)) + (await capitalOf());
  assert.ok(insurerAfter >= insurerBefore, `the insurer lost ${insurerBefore - insurerAfter} on the policy`);
});

test('item 5: junk offers and requests cannot hold the top of the book; a real request still matches', { timeout: 600_000 }, async () => {
  const { api, account, host } = chain();
  const maxScan = api.consts.storageMarket.maxMatchScan.toNumber();

  // A host with no deposit cannot post an offer at all.
  const broke = await account('broke');
  await host(broke, 0n);
  await assert.rejects(submit(api, api.tx.storageMarket.postOffer(0, GIB, 1, 100), broke), /storageMarket.InsufficientHostDeposit/);

  // Hosts that post zero-price offers with the least deposit and then take
  // the deposit back: more junk than matching looks at.
  const perHost = 12;
  const junkHosts = Math.ceil((maxScan + 4) / perHost);
  for (let h = 0; h < junkHosts; h++) {
    const junk = await account(`junk${h}`);
    await host(junk, UNIT);
    for (let i = 0; i < perHost; i++) await submit(api, api.tx.storageMarket.postOffer(0, GIB, 1, 100), junk);
    await submit(api, api.tx.deposits.withdraw(UNIT), junk);
  }
  const book = (await api.call.storageMarketApi.orderBook(maxScan + 8)).toJSON();
  assert.ok(book.length > maxScan && book.slice(0, maxScan).every(([, o]) => BigInt(o.price) === 0n), 'junk holds the top of the book');

  // A request floor no host meets is refused (the best rating on this new chain is 0).
  const sender = await account('sender');
  await assert.rejects(
    submit(api, api.tx.storageMarket.placeRequest(1, u8aToHex(new Uint8Array(32)), 1, 1, 10, UNIT, 1), sender),
    /storageMarket.BadMinRating/,
  );

  // An honest host behind the junk; a real request matches it.
  const honest = await account('honest');
  await host(honest, 100n * UNIT);
  await submit(api, api.tx.storageMarket.postOffer(UNIT / 1000n, 10n * GIB, 1, 100), honest);
  const placed = await submit(api, api.tx.storageMarket.placeRequest(GIB, u8aToHex(new Uint8Array(32).fill(3)), GIB / 512n, 1, 10, UNIT / 100n, 0), sender);
  const created = eventsOf(placed, 'storageMarket', 'ContractCreated');
  assert.deepEqual(created.map((c) => c.host), [honest.address], 'the real request matched the honest host');
  assert.equal((await api.query.storageMarket.requests.keys()).length, 0, 'nothing of it rests');
  // The junk matching met left the book.
  const after = (await api.call.storageMarketApi.orderBook(100)).toJSON();
  assert.ok(after.length <= book.length - maxScan + 1, `junk left the book (${book.length} -> ${after.length})`);
});

test('item 6: 1-byte contracts from a second account, paid at a high price, do not farm a rating', { timeout: 600_000 }, async () => {
  const { api, host, best, advanceTo, setParam } = chain();
  // Long enough that every contract below is placed and confirmed in epoch
  // 0 and starts with epoch 1 (short epochs draw their seed at their first block).
  const EPOCH = 64;
  const EPOCHS = 4; // proven by both hosts
  await setParam(':EpochLength:', 'u32', EPOCH);
  // A test network storing MiBs: the stake a rating must outweigh is 10 mMASP.
  await setParam(':RatingStakePrior:', 'u128', UNIT / 100n);
  const [farmer, sybil, honest, ...senders] = ['//Bob', '//Charlie', '//Dave', '//Eve', '//Bob//stash'].map((u) => keyring.addFromUri(u));

  // The farmer's second account buys sixteen 1-byte contracts at 1 MASP a
  // GiB (a thousand times the honest price; it flows back to the farmer).
  await host(farmer, 100n * UNIT);
  await submit(api, api.tx.storageMarket.postOffer(UNIT, 16n * MIB, 1, 100), farmer);
  const contracts = []; // { id, host, data, lv, start }
  const place = async (who, hostPair, data, maxPrice) => {
    const lv = levels(data);
    const r = await submit(api, api.tx.storageMarket.placeRequest(data.length, u8aToHex(lv.at(-1)[0]), lv[0].length, 1, EPOCHS + 4, maxPrice, 0), who);
    const c = eventsOf(r, 'storageMarket', 'ContractCreated')[0];
    assert.equal(c.host, hostPair.address);
    await submit(api, api.tx.storageMarket.confirmStored(c.contract), hostPair);
    contracts.push({ id: c.contract, host: c.host, data, lv, start: c.start });
  };
  for (let i = 0; i < 16; i++) await place(sybil, farmer, new Uint8Array([i]), UNIT);

  // The honest host stores two 32 MiB files for two Senders at 1 mMASP a GiB.
  await host(honest, 100n * UNIT);
  await submit(api, api.tx.storageMarket.postOffer(UNIT / 1000n, 64n * MIB, 1, 100), honest);
  for (const [i, s] of senders.entries()) {
    const data = new Uint8Array(Number(32n * MIB));
    for (let j = 0; j < data.length; j++) data[j] = (j * 7 + i + (j >> 12)) & 0xff;
    await place(s, honest, data, UNIT / 1000n);
  }
  assert.ok(await best() < EPOCH, 'everything was placed and confirmed in epoch 0');
  assert.ok(contracts.every((c) => c.start === EPOCH), 'every contract starts with epoch 1');

  // Both hosts prove every contract of theirs, every epoch.
  for (let e = 1; e <= EPOCHS; e++) {
    await advanceTo(e * EPOCH);
    for (const h of [farmer, honest]) {
      const batch = [];
      for (const c of contracts.filter((c) => c.host === h.address)) {
        const p = await proofFor(api, c.id, c.data, c.lv);
        assert.ok(p && p.epoch === e, `contract ${c.id} is challenged in epoch ${e}`);
        batch.push([c.id, p.proof]);
      }
      const r = await submit(api, api.tx.storageProofs.submitProofs(batch), h);
      assert.equal(eventsOf(r, 'storageProofs', 'Proven').length, batch.length);
    }
  }
  assert.ok(await best() < (EPOCHS + 1) * EPOCH, 'the last proofs went in within their epoch');

  const rate = async (h) => (await api.call.hostRatingApi.rating(h.address)).toJSON();
  const [f, o] = [await rate(farmer), await rate(honest)];
  assert.equal(f.metrics.proofsPassed, 16 * EPOCHS);
  assert.equal(o.metrics.proofsPassed, 2 * EPOCHS);
  assert.ok(o.rating > 0 && o.rating <= RATING_MAX);
  assert.ok(f.rating < o.rating, `the farmer (${f.rating}) is rated below the honest host (${o.rating}) with 8x its proofs`);
  assert.equal((await api.call.hostRatingApi.top(5)).toJSON()[0][0], honest.address, 'the honest host is on top');
});
