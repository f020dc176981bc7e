// The MASP web app: one page per hash route, each reading the chain through
// the typed API.
import './style.css';
import { finalizedNumber, rpcUrl } from './chain';
import { esc } from './format';
import { market } from './pages/market';
import { hosts } from './pages/hosts';
import { host } from './pages/host';
import { sale } from './pages/sale';
import { proxies } from './pages/proxies';
import { insurance } from './pages/insurance';
import { files } from './pages/files';
import { listings } from './pages/listings';
import { bench } from './pages/bench';
import { picker } from './accounts';

const pages: Record<string, (el: HTMLElement, params: URLSearchParams) => Promise<void>> = {
  market,
  hosts,
  host,
  sale,
  proxies,
  insurance,
  files,
  listings,
  bench,
};

async function route(): Promise<void> {
  const [name, query] = (location.hash.slice(1) || 'market').split('?');
  const page = pages[name] ?? market;
  const el = document.getElementById('page')!;
  document.querySelectorAll('header nav a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === `#${name}`));
  el.dataset.ready = 'false';
  el.innerHTML = '<p class="muted">Loading…</p>';
  try {
    await page(el, new URLSearchParams(query ?? ''));
  } catch (e) {
    el.innerHTML = `<p class="error">Cannot read the chain at ${esc(rpcUrl)}: ${esc(String((e as Error).message ?? e))}</p>`;
  }
  el.dataset.ready = 'true';
}

window.addEventListener('hashchange', route);
route();
picker(document.getElementById('account') as HTMLSelectElement, route).catch(() => {});
finalizedNumber()
  .then((n) => {
    document.getElementById('chain')!.textContent = `${rpcUrl} · finalized #${n}`;
  })
  .catch(() => {
    document.getElementById('chain')!.textContent = `${rpcUrl} · unreachable`;
  });
