// Small SVG plots: nothing to load, nothing to configure.
import { esc } from './format';

/**
 * A step chart of cumulative depth: x = price, y = capacity available at
 * that price or cheaper (the order book's depth).
 */
export function depthChart(points: { price: number; depth: number }[], xLabel: string, yLabel: string): string {
  const w = 640, h = 220, pad = 44;
  if (points.length === 0) return '<p class="muted">The book is empty.</p>';
  const maxX = Math.max(...points.map((p) => p.price)) * 1.1 || 1;
  const maxY = Math.max(...points.map((p) => p.depth)) * 1.1 || 1;
  const x = (v: number) => pad + (v / maxX) * (w - 2 * pad);
  const y = (v: number) => h - pad - (v / maxY) * (h - 2 * pad);
  let d = `M ${x(0)} ${y(0)}`;
  let prev = 0;
  for (const p of points) {
    d += ` L ${x(p.price)} ${y(prev)} L ${x(p.price)} ${y(p.depth)}`;
    prev = p.depth;
  }
  d += ` L ${x(maxX)} ${y(prev)}`;
  return `<svg id="depth" width="${w}" height="${h}" role="img" aria-label="order book depth">
    <line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#8f9bb3"/>
    <line x1="${pad}" y1="${pad / 2}" x2="${pad}" y2="${h - pad}" stroke="#8f9bb3"/>
    <path d="${d}" fill="none" stroke="#2f6fdf" stroke-width="2"/>
    <text x="${w / 2}" y="${h - 8}" text-anchor="middle">${esc(xLabel)}</text>
    <text x="12" y="${h / 2}" transform="rotate(-90 12 ${h / 2})" text-anchor="middle">${esc(yLabel)}</text>
    <text x="${pad}" y="${h - pad + 14}" text-anchor="middle">0</text>
    <text x="${x(maxX / 1.1)}" y="${h - pad + 14}" text-anchor="middle">${(maxX / 1.1).toPrecision(3)}</text>
    <text x="${pad - 4}" y="${y(maxY / 1.1) + 4}" text-anchor="end">${(maxY / 1.1).toPrecision(3)}</text>
  </svg>`;
}

/** A horizontal progress bar with marks (e.g. soft and hard caps). */
export function progressBar(value: number, max: number, marks: { at: number; label: string }[]): string {
  const w = 640, h = 56, pad = 10;
  const x = (v: number) => pad + Math.min(1, v / (max || 1)) * (w - 2 * pad);
  const ticks = marks
    .map((m) => {
      // A label near an edge is anchored to it, so it is not cut off.
      const at = x(m.at);
      const anchor = at > w * 0.8 ? 'end' : at < w * 0.2 ? 'start' : 'middle';
      return `<line x1="${at}" y1="8" x2="${at}" y2="36" stroke="#b3261e"/><text x="${at}" y="50" text-anchor="${anchor}">${esc(m.label)}</text>`;
    })
    .join('');
  return `<svg id="progress" width="${w}" height="${h}" role="img" aria-label="progress">
    <rect x="${pad}" y="12" width="${w - 2 * pad}" height="20" fill="#e3e6ec" rx="3"/>
    <rect x="${pad}" y="12" width="${x(value) - pad}" height="20" fill="#2f6fdf" rx="3"/>${ticks}
  </svg>`;
}

/** Vertical bars, one per label (e.g. a rating's parts). */
export function bars(items: { label: string; value: number; max: number }[]): string {
  const w = 640, h = 180, pad = 30;
  const bw = (w - 2 * pad) / Math.max(1, items.length);
  const out = items
    .map((it, i) => {
      const bh = (Math.min(it.value, it.max) / (it.max || 1)) * (h - 2 * pad);
      const x0 = pad + i * bw + bw * 0.15;
      return `<rect x="${x0}" y="${h - pad - bh}" width="${bw * 0.7}" height="${bh}" fill="#2f6fdf"/>
        <text x="${x0 + bw * 0.35}" y="${h - pad + 14}" text-anchor="middle">${esc(it.label)}</text>
        <text x="${x0 + bw * 0.35}" y="${h - pad - bh - 4}" text-anchor="middle">${((100 * it.value) / (it.max || 1)).toFixed(0)}%</text>`;
    })
    .join('');
  return `<svg id="bars" width="${w}" height="${h}" role="img" aria-label="bars">${out}</svg>`;
}

/** A line through `points` (x ascending), with its first and last x and
 * its y range labelled; each point is a dot carrying its values
 * (`data-x`, `data-y`) for tests and tooltips. */
export function lineChart(id: string, points: { x: number; y: number }[], xLabel: string, yLabel: string, maxY: number): string {
  const w = 640, h = 220, pad = 44;
  if (points.length === 0) return '<p class="muted">No history available.</p>';
  const minX = points[0].x;
  const spanX = points[points.length - 1].x - minX || 1;
  const x = (v: number) => pad + ((v - minX) / spanX) * (w - 2 * pad);
  const y = (v: number) => h - pad - (Math.min(v, maxY) / (maxY || 1)) * (h - 2 * pad);
  const d = points.map((p, i) => `${i ? 'L' : 'M'} ${x(p.x)} ${y(p.y)}`).join(' ');
  const dots = points
    .map((p) => `<circle cx="${x(p.x)}" cy="${y(p.y)}" r="3" fill="#2f6fdf" data-x="${p.x}" data-y="${p.y}"><title>${p.x}: ${p.y}</title></circle>`)
    .join('');
  return `<svg id="${esc(id)}" width="${w}" height="${h}" role="img" aria-label="${esc(yLabel)} over ${esc(xLabel)}">
    <line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#8f9bb3"/>
    <line x1="${pad}" y1="${pad / 2}" x2="${pad}" y2="${h - pad}" stroke="#8f9bb3"/>
    <path d="${d}" fill="none" stroke="#2f6fdf" stroke-width="2"/>${dots}
    <text x="${w / 2}" y="${h - 8}" text-anchor="middle">${esc(xLabel)}</text>
    <text x="12" y="${h / 2}" transform="rotate(-90 12 ${h / 2})" text-anchor="middle">${esc(yLabel)}</text>
    <text x="${pad}" y="${h - pad + 14}" text-anchor="middle">${minX}</text>
    <text x="${w - pad}" y="${h - pad + 14}" text-anchor="middle">${points[points.length - 1].x}</text>
    <text x="${pad - 4}" y="${y(maxY) + 4}" text-anchor="end">${maxY}</text>
    <text x="${pad - 4}" y="${h - pad + 4}" text-anchor="end">0</text>
  </svg>`;
}
