// The white paper's ICO, told on a running MASP dev chain through @polkadot/api
// (no custom types): the sale authority (sudo, Alice) attests contributions on
// days 1, 2, 12 and 26; a duplicate external tx is refused; once the sale has
// ended anyone finalizes it; each buyer claims (one of them holds no MASP and
// claims feelessly); total issuance grows by exactly what was claimed and then
// never again.
//
// Used by tests/e2e/token-sale.test.mjs (instant seal, blocks pushed with
// remarks) and by scripts/ico-demo (a devnet, real block time).

import { describeError as describe, submit } from './node.mjs';

const USD = 1_000_000n;
const UNIT = 10n ** 12n;

/** Sends `tx` signed by `signer`; resolves to { blockHash, events } once in a block. */
export const send = submit;

/** Sends `call` through sudo; rejects with the inner error (e.g. "tokenSale.DuplicateContribution"). */
export async function sudo(api, alice, call) {
  const { events, blockHash } = await send(api, api.tx.sudo.sudo(call), alice);
  const sudid = events.find(({ event }) => api.events.sudo.Sudid.is(event));
  if (!sudid) throw new Error('no Sudid event');
  const result = sudid.event.data.sudoResult;
  if (result.isErr) throw new Error(describe(api, result.asErr));
  return { events, blockHash };
}

/** The sale status from the runtime API. */
export async function status(api) {
  return (await api.call.tokenSaleApi.status()).toJSON();
}

/** Current best block number. */
export async function bestNumber(api) {
  return (await api.rpc.chain.getHeader()).number.toNumber();
}

/**
 * Runs the ICO story. `advanceTo(n)` must return once the best block is >= n;
 * `log` receives one line per step. Returns what happened, for assertions.
 */
export async function runIcoStory(api, keyring, { advanceTo, log = () => {} }) {
  const alice = keyring.addFromUri('//Alice');
  const ferdie = keyring.addFromUri('//Ferdie');
  const zeroBuyer = keyring.addFromUri(`//masp-ico-buyer-${Date.now()}`);
  const buyers = [
    { name: 'new account (0 MASP)', pair: zeroBuyer, day: 1, usd: 35n * USD, currency: 'Btc' },
    { name: 'Bob', pair: keyring.addFromUri('//Bob'), day: 2, usd: 70n * USD, currency: 'Eth' },
    { name: 'Charlie', pair: keyring.addFromUri('//Charlie'), day: 12, usd: 350n * USD, currency: 'Ltc' },
    { name: 'Dave', pair: keyring.addFromUri('//Dave'), day: 26, usd: 15_000_000n * USD, currency: 'Storj' },
  ];

  const st = await status(api);
  if (st.phase !== 'Active') throw new Error(`the sale is not active (phase ${st.phase}): start a fresh dev chain`);
  const dayStart = (d) => st.start + (d - 1) * st.dayLength;
  if (await bestNumber(api) >= dayStart(2) - 1) {
    throw new Error(`day 1 of the sale is over (block ${await bestNumber(api)}): start a fresh dev chain (scripts/devnet --clean)`);
  }
  log(`sale: blocks ${st.start}..${st.end - 1}, ${st.dayLength} blocks per day`);
  const issuanceBefore = (await api.query.balances.totalIssuance()).toBigInt();

  const attested = [];
  let n = 0;
  for (const b of buyers) {
    await advanceTo(dayStart(b.day));
    // A tx id in hex digits (given with a 0x prefix, @polkadot/api would
    // send the bytes it encodes, not the text).
    const txId = Buffer.from(`${b.currency}-demo-${n++}-${Date.now()}`).toString('hex');
    const { events } = await sudo(api, alice, api.tx.tokenSale.attestContribution(b.pair.address, b.currency, txId, 1_000_000, b.usd));
    const ev = events.find(({ event }) => api.events.tokenSale.ContributionAttested.is(event)).event.data;
    const row = {
      ...b,
      txId,
      dayAttested: ev.day.toNumber(),
      bonus: ev.bonusPercent.toNumber(),
      tokens: ev.tokens.toBigInt(),
    };
    attested.push(row);
    log(`day ${row.dayAttested}: ${b.name} paid $${b.usd / USD} in ${b.currency} -> ${Number(row.tokens) / 1e12} MASP (+${row.bonus}%)`);
  }

  // The same external transaction again, written in capitals, is refused:
  // one payment counts once.
  let duplicateError = null;
  try {
    await sudo(api, alice, api.tx.tokenSale.attestContribution(buyers[1].pair.address, attested[1].currency, attested[1].txId.toUpperCase(), 1, 100n * USD));
  } catch (e) {
    duplicateError = e.message;
  }
  log(`same ${attested[1].currency} tx again: refused (${duplicateError})`);

  await advanceTo(st.end);
  await send(api, api.tx.tokenSale.finalize(), ferdie);
  const final = await status(api);
  log(`finalized by Ferdie: ${final.phase}, raised $${BigInt(final.raisedUsd) / USD}`);

  const claims = [];
  for (const a of attested) {
    const before = (await api.query.system.account(a.pair.address)).data.free.toBigInt();
    await send(api, api.tx.tokenSale.claim(), a.pair);
    const after = (await api.query.system.account(a.pair.address)).data.free.toBigInt();
    claims.push({ ...a, before, after });
    log(`${a.name} claimed: ${Number(before) / 1e12} -> ${Number(after) / 1e12} MASP`);
  }

  const issuanceAfter = (await api.query.balances.totalIssuance()).toBigInt();
  const totalAllocated = BigInt((await status(api)).totalAllocated);
  log(`total issuance: ${Number(issuanceBefore) / 1e12} -> ${Number(issuanceAfter) / 1e12} MASP (+${Number(totalAllocated) / 1e12} claimed)`);
  return { attested, duplicateError, final, claims, issuanceBefore, issuanceAfter, totalAllocated, UNIT };
}
