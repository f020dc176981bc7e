// Sale: the ICO's phase, day and bonus, and USD raised against the soft
// and hard caps (`TokenSaleApi.status`).
import { chain } from '../chain';
import { masp } from '../format';
import { progressBar } from '../plot';

const usd = (micros: bigint) => `$${(Number(micros) / 1e6).toLocaleString('en-US', { maximumFractionDigits: 2 })}`;

export async function sale(el: HTMLElement): Promise<void> {
  const s = await chain().apis.TokenSaleApi.status();
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
      No MASP is minted after the sale.</p></div>`;
}
