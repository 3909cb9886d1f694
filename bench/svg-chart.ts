// A line chart as SVG text, written by hand (no dependency, no external service): axes with "nice"
// ticks, one polyline per series, a legend. Used by bench/fleet-boot.ts for agents attested over
// time (docs/images/fleet-boot.svg). Pure: the same input gives the same bytes.

export interface Series {
  name: string
  /** [x, y] points, x ascending. */
  points: readonly (readonly [number, number])[]
  /** CSS colour; default from a fixed palette. */
  color?: string
  /** Dashed line (tells series apart without colour). */
  dashed?: boolean
}

export interface LineChart {
  title: string
  xLabel: string
  yLabel: string
  series: readonly Series[]
  width?: number
  height?: number
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd']

/** Up to about `count` round tick values (1, 2, 2.5 or 5 × 10^k) from 0 to at least `max`. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1]
  const rough = max / Math.max(1, count)
  const mag = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= rough) ?? 10 * mag
  const ticks: number[] = []
  for (let i = 0; ; i++) {
    const v = Number((i * step).toPrecision(12))
    ticks.push(v)
    if (v >= max) break
  }
  return ticks
}

/** XML text escaping for labels. */
export const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

const fmt = (n: number): string =>
  Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0+$/, '')
const px = (n: number): string => n.toFixed(1)

/** The chart as a standalone SVG document. */
export function lineChartSvg(c: LineChart): string {
  const width = c.width ?? 720
  const height = c.height ?? 400
  const m = { left: 70, right: 20, top: 40, bottom: 55 }
  const plotW = width - m.left - m.right
  const plotH = height - m.top - m.bottom
  const all = c.series.flatMap((s) => s.points)
  const xTicks = niceTicks(Math.max(0, ...all.map((p) => p[0])))
  const yTicks = niceTicks(Math.max(0, ...all.map((p) => p[1])))
  const xMax = xTicks[xTicks.length - 1]!
  const yMax = yTicks[yTicks.length - 1]!
  const X = (x: number): number => m.left + (x / xMax) * plotW
  const Y = (y: number): number => m.top + plotH - (y / yMax) * plotH
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(c.title)}</text>`,
  ]
  for (const t of yTicks) {
    const y = px(Y(t))
    out.push(
      `<line x1="${m.left}" y1="${y}" x2="${m.left + plotW}" y2="${y}" stroke="#e0e0e0"/>`,
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`,
    )
  }
  for (const t of xTicks) {
    const x = px(X(t))
    out.push(
      `<line x1="${x}" y1="${m.top + plotH}" x2="${x}" y2="${m.top + plotH + 5}" stroke="#333333"/>`,
      `<text x="${x}" y="${m.top + plotH + 18}" text-anchor="middle">${fmt(t)}</text>`,
    )
  }
  out.push(
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + plotH}" stroke="#333333"/>`,
    `<line x1="${m.left}" y1="${m.top + plotH}" x2="${m.left + plotW}" y2="${m.top + plotH}" stroke="#333333"/>`,
    `<text x="${m.left + plotW / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(c.xLabel)}</text>`,
    `<text x="16" y="${m.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${m.top + plotH / 2})">${escapeXml(c.yLabel)}</text>`,
  )
  c.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!
    const pts = s.points.map(([x, y]) => `${px(X(x))},${px(Y(y))}`).join(' ')
    out.push(
      `<polyline class="series" data-name="${escapeXml(s.name)}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''} points="${pts}"/>`,
    )
    // bottom right: empty for rising (cumulative) curves
    const ly = m.top + plotH - 14 - (c.series.length - 1 - i) * 18
    const lx = m.left + plotW - 170
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${lx + 30}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`,
    )
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}
