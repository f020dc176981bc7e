// Sale: the ICO's phase, day and bonus, and USD raised against the soft
// and hard caps (`TokenSaleApi.status`); the signing account's
// contributions, allocation and its claim (`TokenSaleApi.buyer`,
// `TokenSale.claim`, signed in the browser).
import { current } from '../accounts';
import { chain } from '../chain';
import { esc, masp } from '../format';
import { progressBar } from '../plot';

const usd = (micros: bigint) => `$${(Number(micros) / 1e6).toLocaleString('en-US', { maximumFractionDigits: 2 })}`;

export async function sale(el: HTMLElement): Promise<void> {
  const api = chain();
  const s = await api.apis.TokenSaleApi.status();
  const me = await current();
  const b = me ? await api.apis.TokenSaleApi.buyer(me.address, 50) : undefined;
  const max = Number(s.hard_cap_usd) || 1;
  el.innerHTML = `<h1>Token sale</h1>
    <div class="card">Phase <strong id="sale-phase">${s.phase.type}</strong>
      · day <strong id="sale-day">${s.current_day}</strong> of the sale
      · bonus now <strong id="sale-bonus">${s.current_bonus_percent}%</strong>
      ${s.start !== undefined ? `· blocks ${s.start}–${s.end} (${s.day_length} per day)` : ''}</div>
    <div class="card"><h2>Raised <span id="sale-raised" data-micros="${s.raised_usd}">${usd(s.raised_usd)}</span></h2>
      ${progressBar(Number(s.raised_usd), max, [
        { at: Number(s.soft_cap_usd), label: `soft cap ${usd(s.soft_cap_usd)}` },
        { at: Number(s.hard_cap_usd), label: `hard cap ${usd(s.hard_cap_usd)}` },
      ])}
      <p>Above the hard cap (refundable): ${usd(s.excess_usd)}. Allocated ${masp(s.total_allocated)}, claimed ${masp(s.total_claimed)}.
      No MASP is minted after the sale.</p></div>
    <div class="card" id="mine"><h2>Your allocation ${me ? `as <code>${esc(me.name)}</code>` : ''}</h2>
      ${!me ? '<p class="muted">No account to sign with.</p>' : !b ? '<p class="muted" id="sale-none">This account has no contribution in the sale.</p>' : `
      <p>Counted <strong>${usd(b.counted_usd)}</strong> · allocation <strong id="sale-allocation" data-planck="${b.allocation}">${masp(b.allocation)}</strong>
        · <span id="sale-claim-state">${b.claimed ? 'claimed' : b.claimable ? 'claimable now' : 'not claimable yet (the sale must end above its soft cap)'}</span></p>
      <table id="contributions"><thead><tr><th>Paid in</th><th>Transaction</th><th class="num">USD</th><th class="num">Counted</th><th class="num">Bonus</th><th class="num">MASP</th><th class="num">Refundable</th></tr></thead>
      <tbody>${b.contributions
        .map(
          (c) => `<tr><td>${esc(c.currency.type)}</td><td><code>${esc(new TextDecoder().decode(c.external_tx_id))}</code></td><td class="num">${usd(c.usd_value)}</td>
            <td class="num">${usd(c.counted_usd)}</td><td class="num">${c.bonus_percent}%</td><td class="num">${masp(c.tokens)}</td><td class="num">${usd(c.refundable_usd)}</td></tr>`,
        )
        .join('')}</tbody></table>
      ${b.claimable ? '<button id="claim">Claim</button>' : ''}<div id="claim-result"></div>`}
    </div>`;
  const button = el.querySelector<HTMLButtonElement>('#claim');
  if (!button || !me) return;
  const out = el.querySelector<HTMLElement>('#claim-result')!;
  button.addEventListener('click', async () => {
    button.disabled = true;
    out.innerHTML = '<p class="muted">Signing and waiting for the block…</p>';
    try {
      const r = await api.tx.TokenSale.claim().signAndSubmit(me.signer);
      if (!r.ok) {
        const e = r.dispatchError;
        throw new Error(`the chain refused it: ${e.type}${'value' in e && e.value ? ': ' + JSON.stringify(e.value) : ''}`);
      }
      button.hidden = true;
      el.querySelector('#sale-claim-state')!.textContent = 'claimed';
      out.innerHTML = `<p id="claimed">Claimed ${masp(b!.allocation)} (block #${r.block.number}).</p>`;
    } catch (e) {
      button.disabled = false;
      out.innerHTML = `<p class="error">${esc(String((e as Error).message ?? e))}</p>`;
    }
  });
}
