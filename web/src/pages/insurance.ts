// Insurance: insurers' offers, buying cover for one of your contracts
// (signed by the account picked in the header), and your covers. A claim
// needs no filing: the chain pays it when the market ends a covered
// contract as lost.
import { current } from '../accounts';
import { chain } from '../chain';
import { esc, masp, parseMasp, rating } from '../format';

export async function insurance(el: HTMLElement): Promise<void> {
  const api = chain();
  const me = await current();
  const offers = await api.query.Insurance.Offers.getEntries();
  const insurers = await Promise.all(offers.map((o) => api.query.Insurance.Insurers.getValue(o.keyArgs[0])));
  const rows = offers
    .map((o, i) => {
      const info = insurers[i];
      const free = info ? info.capital - info.committed : 0n;
      return `<tr data-insurer="${o.keyArgs[0]}"><td><code>${o.keyArgs[0]}</code></td>
        <td class="num">${(o.value.premium / 1e7).toFixed(4)}%</td><td class="num">${masp(o.value.max_cover)}</td>
        <td class="num">${rating(o.value.min_rating)}</td><td class="num">${masp(free)}</td></tr>`;
    })
    .join('');
  const contracts = me ? await api.apis.StorageMarketApi.sender_contracts(me.address, 1000) : [];
  const covers = await Promise.all(contracts.map(([id]) => api.query.Insurance.Covers.getValue(id)));
  const coverRows = contracts
    .map(([id], i) => {
      const c = covers[i];
      return c
        ? `<tr data-cover="${id}"><td class="num">${id}</td><td><code>${c.insurer}</code></td><td class="num" data-amount="${c.amount}">${masp(c.amount)}</td><td class="num">${masp(c.epoch_premium)}</td><td class="num">${c.start}–${c.last}</td></tr>`
        : '';
    })
    .join('');
  const options = offers.map((o) => `<option value="${o.keyArgs[0]}">${o.keyArgs[0]}</option>`).join('');
  const uncovered = contracts.filter((_, i) => !covers[i]).map(([id]) => `<option value="${id}">${id}</option>`).join('');
  el.innerHTML = `<h1>Insurance</h1>
    <p class="muted">Cover pays a Sender up to its amount when the market ends the contract as lost (the host's slashes first, then the insurer).</p>
    <h2>Offers (${offers.length})</h2>
    <table id="offers"><thead><tr><th>Insurer</th><th class="num">Premium / epoch</th><th class="num">Max cover</th><th class="num">Min host rating</th><th class="num">Free capital</th></tr></thead>
    <tbody>${rows || '<tr><td colspan="5" class="muted">No offers.</td></tr>'}</tbody></table>
    <div class="card"><h2>Buy cover ${me ? `as <code>${esc(me.name)}</code>` : ''}</h2>
      ${me ? `<form id="buy" class="inline">
        <label>Contract <select name="contract">${uncovered || '<option value="">(none uncovered)</option>'}</select></label>
        <label>Insurer <select name="insurer" style="width:14em">${options}</select></label>
        <label>Amount <input name="amount" placeholder="MASP"></label>
        <label>Max premium % <input name="max" value="1"></label>
        <button>Buy</button></form><div id="buy-result"></div>` : '<p class="muted">No account to sign with.</p>'}
    </div>
    <h2>Your covers</h2>
    <table id="covers"><thead><tr><th class="num">Contract</th><th>Insurer</th><th class="num">Cover</th><th class="num">Premium / epoch</th><th class="num">Epochs</th></tr></thead>
    <tbody>${coverRows || '<tr><td colspan="5" class="muted">None.</td></tr>'}</tbody></table>`;
  const form = el.querySelector<HTMLFormElement>('#buy');
  if (!form || !me) return;
  const out = el.querySelector<HTMLElement>('#buy-result')!;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    try {
      const contract = String(f.get('contract'));
      if (!contract) throw new Error('pick one of your contracts');
      const amount = parseMasp(String(f.get('amount')));
      if (amount === 0n) throw new Error('the amount must be above zero');
      const pct = Number(String(f.get('max')));
      if (!(pct >= 0 && pct <= 100)) throw new Error('the max premium is a percentage, 0 to 100');
      out.innerHTML = '<p class="muted">Signing and waiting for the block…</p>';
      const tx = api.tx.Insurance.buy_cover({
        contract: BigInt(contract),
        insurer: String(f.get('insurer')),
        amount,
        max_premium: Math.round(pct * 1e7),
      });
      const r = await tx.signAndSubmit(me.signer);
      if (!r.ok) {
        const e = r.dispatchError;
        throw new Error(`the chain refused it: ${e.type}${'value' in e && e.value ? ': ' + JSON.stringify(e.value) : ''}`);
      }
      out.innerHTML = `<p id="bought">Contract ${esc(contract)} is covered for ${masp(amount)} (block #${r.block.number}).</p>`;
    } catch (e) {
      out.innerHTML = `<p class="error">${esc(String((e as Error).message ?? e))}</p>`;
    }
  });
}
