// The offers a Sender picked on the Market page, kept in this browser
// (localStorage) until the Files page places a file on them with one
// `place_on_offers` call: shard i on the i-th offer picked, each of its own
// host.

const KEY = 'masp.picked-offers';

/** A picked offer: its id and host (an offer's host never changes). */
export interface Pick {
  offer: string;
  host: string;
}

export function picked(): Pick[] {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((p) => typeof p?.offer === 'string' && typeof p?.host === 'string') : [];
  } catch {
    return [];
  }
}

function save(picks: Pick[]): void {
  localStorage.setItem(KEY, JSON.stringify(picks));
}

/** Picks `offer` of `host`, or drops it if picked. An offer of a host
 * already picked replaces that host's other offer: one shard per host. */
export function toggle(offer: string, host: string): Pick[] {
  const now = picked();
  const next = now.some((p) => p.offer === offer)
    ? now.filter((p) => p.offer !== offer)
    : [...now.filter((p) => p.host !== host), { offer, host }];
  save(next);
  return next;
}

export function clearPicked(): void {
  save([]);
}
