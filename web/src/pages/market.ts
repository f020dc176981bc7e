// Market: the offer book (table and depth), and a quote for size x duration
// x replicas computed by the chain (`StorageMarketApi.quote`).
import { chain } from '../chain';
import { GIB, bytes, esc, masp, parseMasp, parseSize } from '../format';
import { depthChart } from '../plot';
import { clearPicked, picked, toggle } from '../picked';

export async function market(el: HTMLElement): Promise<void> {
  const api = chain();
  const [book, epoch] = await Promise.all([
    api.apis.StorageMarketApi.order_book(500),
    api.apis.StorageMarketApi.current_epoch(),
  ]);
  const sorted = [...book].sort((a, b) => (a[1].price < b[1].price ? -1 : a[1].price > b[1].price ? 1 : 0));
  let depth = 0;
  const points = sorted.map(([, o]) => {
    depth += Number(o.capacity) / Number(GIB);
    return { price: Number(o.price) / 1e12, depth };
  });
  const chosen = new Set(picked().map((p) => p.offer));
  const rows = book
    .map(
      ([id, o]) => `<tr data-offer="${id}">
        <td><input type="checkbox" data-pick="${id}" data-host="${o.host}" title="Store a shard on this offer"${chosen.has(String(id)) ? ' checked' : ''}></td>
        <td class="num">${id}</td>
        <td><a href="#host?who=${o.host}"><code>${o.host}</code></a></td>
        <td class="num" data-price="${o.price}">${masp(o.price)}</td>
        <td class="num" data-capacity="${o.capacity}">${bytes(o.capacity)}</td>
        <td class="num">${o.min_duration}–${o.max_duration}</td></tr>`,
    )
    .join('');
  el.innerHTML = `<h1>Market</h1>
    <p class="muted">Epoch ${epoch}. Prices are per GiB per epoch; a Sender pays only for bytes x time stored.</p>
    <div class="card"><h2>Quote</h2>
      <form id="quote" class="inline">
        <label>Size <input name="size" value="32MiB"></label>
        <label>Epochs <input name="duration" value="24"></label>
        <label>Replicas <input name="replicas" value="2"></label>
        <label>Max price <input name="max" placeholder="any" title="MASP per GiB per epoch"></label>
        <label>Min rating <input name="rating" value="0" title="0 to 1,000,000"></label>
        <button>Quote</button>
      </form>
      <div id="quote-result"></div>
    </div>
    <div class="card"><h2>Order book depth</h2>${depthChart(points, 'price (MASP per GiB per epoch)', 'GiB offered at or below')}</div>
    <h2>Offers (${book.length})</h2>
    <p class="muted">Pick offers to choose your hosts: the Files page then stores a file's shards on them, one shard per offer in the order picked, at their prices (<code>masp put --hosts</code> does the same). <span id="picked"></span></p>
    <table id="book"><thead><tr><th>Pick</th><th class="num">Offer</th><th>Host</th><th class="num">Price / GiB / epoch</th><th class="num">Capacity</th><th class="num">Epochs</th></tr></thead>
    <tbody>${rows || '<tr><td colspan="6" class="muted">No offers.</td></tr>'}</tbody></table>`;
  const showPicked = () => {
    const p = picked();
    el.querySelector('#picked')!.innerHTML = p.length
      ? `Picked: ${p.map((x) => `#${esc(x.offer)}`).join(', ')} <button id="pick-clear">Clear</button>`
      : '';
    el.querySelector('#pick-clear')?.addEventListener('click', () => {
      clearPicked();
      el.querySelectorAll<HTMLInputElement>('input[data-pick]').forEach((c) => (c.checked = false));
      showPicked();
    });
  };
  el.querySelectorAll<HTMLInputElement>('input[data-pick]').forEach((c) =>
    c.addEventListener('change', () => {
      const now = toggle(c.dataset.pick!, c.dataset.host!);
      // Another offer of the same host is no longer picked.
      el.querySelectorAll<HTMLInputElement>('input[data-pick]').forEach((o) => (o.checked = now.some((p) => p.offer === o.dataset.pick)));
      showPicked();
    }),
  );
  showPicked();
  const form = el.querySelector<HTMLFormElement>('#quote')!;
  const out = el.querySelector<HTMLElement>('#quote-result')!;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    try {
      const size = parseSize(String(f.get('size')));
      const duration = Number(f.get('duration'));
      const replicas = Number(f.get('replicas'));
      const minRating = Number(f.get('rating') || 0);
      if (!Number.isInteger(duration) || duration < 1) throw new Error('epochs must be a whole number, at least 1');
      if (!Number.isInteger(replicas) || replicas < 1) throw new Error('replicas must be a whole number, at least 1');
      const max = String(f.get('max') ?? '').trim();
      const q = await chain().apis.StorageMarketApi.quote(size, duration, replicas, max ? parseMasp(max) : undefined, minRating);
      const lines = q.lines
        .map((l) => `<tr><td><code>${l.host}</code></td><td class="num">${masp(l.price)}</td><td class="num">${masp(l.cost)}</td></tr>`)
        .join('');
      out.innerHTML = `<table><thead><tr><th>Host</th><th class="num">Price / GiB / epoch</th><th class="num">Term</th></tr></thead><tbody>${lines}</tbody></table>
        <p>Total at most <strong id="quote-total" data-planck="${q.total}">${masp(q.total)}</strong> for ${bytes(size)} x ${replicas} for ${duration} epochs.
        ${q.unmatched ? `<span class="error">${q.unmatched} replica(s) would find no host now.</span>` : ''}</p>`;
    } catch (e) {
      out.innerHTML = `<p class="error">${esc(String((e as Error).message ?? e))}</p>`;
    }
  });
}
