// How amounts, sizes and ratings are shown (as the `masp` CLI prints them).
export const DECIMALS = 12;
export const UNIT = 10n ** 12n;
export const GIB = 1n << 30n;

/** Planck as MASP with up to 12 decimals, trailing zeros dropped. */
export function masp(planck: bigint): string {
  const neg = planck < 0n;
  const p = neg ? -planck : planck;
  const whole = p / UNIT;
  const frac = (p % UNIT).toString().padStart(DECIMALS, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${whole.toLocaleString('en-US')}${frac ? '.' + frac : ''} MASP`;
}

/** Parses a decimal MASP amount into planck; throws with a reason. */
export function parseMasp(s: string): bigint {
  const t = s.trim();
  const m = /^(\d*)(?:\.(\d{0,12}))?$/.exec(t);
  if (!m || (m[1] === '' && !m[2])) throw new Error(`${JSON.stringify(s)} is not an amount of MASP (e.g. 0.001)`);
  return BigInt(m[1] || '0') * UNIT + BigInt((m[2] ?? '').padEnd(DECIMALS, '0') || '0');
}

/** Bytes as B/KiB/MiB/GiB/TiB. */
export function bytes(n: bigint | number): string {
  let v = Number(n);
  for (const u of ['B', 'KiB', 'MiB', 'GiB', 'TiB']) {
    if (v < 1024 || u === 'TiB') return u === 'B' ? `${v} B` : `${v.toFixed(2)} ${u}`;
    v /= 1024;
  }
  return `${v} B`;
}

/** Parses "32MiB", "1.5 GiB", "1000" into bytes; throws with a reason. */
export function parseSize(s: string): bigint {
  const m = /^\s*([\d.]+)\s*(B|KiB|MiB|GiB|TiB|KB|MB|GB|TB)?\s*$/i.exec(s);
  if (!m) throw new Error(`${JSON.stringify(s)} is not a size (e.g. 32MiB)`);
  const mult: Record<string, number> = { b: 1, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12 };
  return BigInt(Math.round(Number(m[1]) * mult[(m[2] ?? 'b').toLowerCase()]));
}

/** A rating in millionths as a percentage. */
export function rating(millionths: number): string {
  return `${(millionths / 10_000).toFixed(1)}%`;
}

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** `s` with HTML's special characters escaped. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
