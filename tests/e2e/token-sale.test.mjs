// The ICO on a real dev chain, through @polkadot/api with no custom types.
// The node runs with instant seal: a block per transaction, so the test moves
// through the 42 sale days by sending remarks (deterministic, no waiting).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady } from '@polkadot/util-crypto';

import { startDevNode } from './lib/node.mjs';
import { bestNumber, runIcoStory, send, status } from './lib/ico.mjs';

let node;
let keyring;

before(async () => {
  await cryptoWaitReady();
  keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
  node = await startDevNode({ instantSeal: true });
});

after(async () => { if (node) await node.stop(); });

test('the ICO: bonuses by day, no double counting, finalize, claims, no emission after', { timeout: 600_000 }, async () => {
  const { api } = node;
  const ferdie = keyring.addFromUri('//Ferdie');
  // One remark per block: the dev chain's sale is 42 days of 10 blocks.
  const advanceTo = async (n) => {
    while (await bestNumber(api) < n) await send(api, api.tx.system.remark('0x00'), ferdie);
  };
  // Reach block 1 so the sale is active.
  await advanceTo(1);
  const st = await status(api);
  assert.equal(st.phase, 'Active');
  assert.equal(st.currentBonusPercent, 25);

  const r = await runIcoStory(api, keyring, { advanceTo });

  assert.deepEqual(r.attested.map((a) => a.dayAttested), [1, 2, 12, 26]);
  assert.deepEqual(r.attested.map((a) => a.bonus), [25, 15, 10, 0], 'bonuses 25/15/10/0 %');
  // $35 on day 1 = 100 MASP + 25%.
  assert.equal(r.attested[0].tokens, 125n * r.UNIT);
  assert.equal(r.duplicateError, 'tokenSale.DuplicateContribution');
  assert.equal(r.final.phase, 'Succeeded');

  for (const c of r.claims) assert.equal(c.after - c.before >= 0n, true);
  const zero = r.claims[0];
  assert.equal(zero.before, 0n, 'the first buyer held no MASP');
  assert.equal(zero.after, zero.tokens, 'and claimed without paying a fee');
  assert.equal(r.issuanceAfter - r.issuanceBefore, r.totalAllocated, 'issuance grew by exactly the claims');

  // Nothing can mint any more: a second claim fails, issuance is unchanged.
  await assert.rejects(send(api, api.tx.tokenSale.claim(), keyring.addFromUri('//Bob')), /tokenSale.AlreadyClaimed/);
  await advanceTo((await bestNumber(api)) + 3);
  // Fees moved to the author, never burned: issuance is stable.
  assert.equal((await api.query.balances.totalIssuance()).toBigInt(), r.issuanceAfter);

  const buyer = (await api.call.tokenSaleApi.buyer(zero.pair.address, 10)).toJSON();
  assert.equal(buyer.claimed, true);
  assert.equal(buyer.contributions.length, 1);
});
