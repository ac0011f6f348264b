/**
 * The comparison report: a Markdown table (median ops/s with min–max, median p50/p99/p99.9,
 * median server CPU in cores, error count) and an SVG chart of throughput and p99 per system and
 * operation, written by hand (no charting dependency): one row per measured line, two bar panels.
 */
import { median, type RunResult } from '../lib.ts'
import { OPERATION_LABEL, type Operation } from './workload.ts'

/** A measured line: one system, one setting, one operation, its repeated runs. */
export interface Row {
  readonly system: string
  readonly setting: string
  readonly operation: Operation
  readonly loadGenerator: 'autocannon' | 'redis-benchmark'
  readonly runs: (RunResult & { elapsedSec: number })[]
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2))

/** Summary numbers of a row (medians over its runs). */
export function summarize(row: Row) {
  const ops = row.runs.map((r) => r.opsPerSec)
  return {
    ops: median(ops),
    opsMin: Math.min(...ops),
    opsMax: Math.max(...ops),
    p50: median(row.runs.map((r) => r.p50Ms)),
    p99: median(row.runs.map((r) => r.p99Ms)),
    p999: median(row.runs.map((r) => r.p999Ms)),
    cpuCores: median(row.runs.map((r) => r.serverCpuSec / r.elapsedSec)),
    errors: row.runs.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
  }
}

/** The Markdown table of all rows. */
export function markdownTable(rows: readonly Row[]): string {
  const lines = [
    '| system | consistency / durability | operation | ops/s median (min–max) | p50 ms | p99 ms | p99.9 ms | server CPU (cores) | errors | load generator |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const row of rows) {
    const s = summarize(row)
    lines.push(
      `| ${row.system} | ${row.setting} | ${OPERATION_LABEL[row.operation]} | ${s.ops.toFixed(0)} (${s.opsMin.toFixed(0)}–${s.opsMax.toFixed(0)}) | ${fmt(s.p50)} | ${fmt(s.p99)} | ${fmt(s.p999)} | ${s.cpuCores.toFixed(2)} | ${s.errors} | ${row.loadGenerator} |`,
    )
  }
  return lines.join('\n')
}

const COLORS: Record<string, string> = {
  'gossamer 1 node': '#2b6cb0',
  'gossamer 3 nodes': '#3182ce',
  'etcd 1 member': '#c05621',
  'etcd 3 members': '#dd6b20',
  redis: '#718096',
}

const escapeXml = (s: string) =>
  s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')

/** A "nice" axis maximum at or above `value` (1, 2 or 5 times a power of ten). */
function niceMax(value: number): number {
  if (!(value > 0)) return 1
  const power = 10 ** Math.floor(Math.log10(value))
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power
  return 10 * power
}

/**
 * An SVG with two horizontal bar panels sharing one label column: throughput (median, with a
 * min–max whisker) and p99 latency (median), one bar per row, rows grouped by operation.
 */
export function svgChart(rows: readonly Row[], title: string): string {
  const ordered = (['PUT', 'GET', 'MIX'] as const).flatMap((op) =>
    rows.filter((r) => r.operation === op),
  )
  const labelW = 440
  const panelW = 300
  const gap = 60
  const rowH = 22
  const top = 70
  const width = labelW + 2 * panelW + 2 * gap + 20
  const height = top + ordered.length * rowH + 60
  const sums = ordered.map(summarize)
  // Redis (another load generator, no HTTP) would flatten every other bar: the axis is scaled
  // to the HTTP systems and longer bars are cut at its end, marked » with their value.
  const httpSums = sums.filter((_, i) => ordered[i]!.loadGenerator === 'autocannon')
  const opsMax = niceMax(Math.max(...(httpSums.length > 0 ? httpSums : sums).map((s) => s.opsMax)))
  const clip = (w: number) => Math.min(panelW, Math.max(0, w))
  let clipped = false
  const p99Max = niceMax(Math.max(...sums.map((s) => s.p99)))
  const x1 = labelW
  const x2 = labelW + panelW + gap
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${x1}" y="${top - 22}" font-weight="bold">throughput, ops/s (median, whisker min–max)</text>`,
    `<text x="${x2}" y="${top - 22}" font-weight="bold">p99 latency, ms (median)</text>`,
  ]
  for (const [x, max] of [
    [x1, opsMax],
    [x2, p99Max],
  ] as const) {
    for (let t = 0; t <= 4; t++) {
      const gx = x + (panelW * t) / 4
      out.push(
        `<line x1="${gx}" y1="${top - 12}" x2="${gx}" y2="${top + ordered.length * rowH}" stroke="#e2e8f0"/>`,
        `<text x="${gx}" y="${top - 4}" text-anchor="middle" font-size="10" fill="#4a5568">${Number(((max * t) / 4).toPrecision(3))}</text>`,
      )
    }
  }
  ordered.forEach((row, i) => {
    const s = sums[i]!
    const y = top + i * rowH
    const color = COLORS[row.system] ?? '#4a5568'
    const label = `${row.system} · ${row.setting} · ${row.operation === 'MIX' ? 'MIX 90/10' : row.operation}`
    const opsW = clip((panelW * s.ops) / opsMax)
    const cut = (panelW * s.ops) / opsMax > panelW
    clipped ||= cut
    const p99W = (panelW * s.p99) / p99Max
    const mid = y + rowH / 2
    out.push(
      `<text x="${labelW - 8}" y="${mid + 4}" text-anchor="end">${escapeXml(label)}</text>`,
      `<rect x="${x1}" y="${y + 3}" width="${opsW.toFixed(1)}" height="${rowH - 6}" fill="${color}"/>`,
      `<line x1="${(x1 + clip((panelW * s.opsMin) / opsMax)).toFixed(1)}" y1="${mid}" x2="${(x1 + clip((panelW * s.opsMax) / opsMax)).toFixed(1)}" y2="${mid}" stroke="black"/>`,
      `<text x="${(x1 + Math.max(opsW, clip((panelW * s.opsMax) / opsMax)) + 4).toFixed(1)}" y="${mid + 4}" font-size="10">${cut ? '» ' : ''}${s.ops.toFixed(0)}</text>`,
      `<rect x="${x2}" y="${y + 3}" width="${p99W.toFixed(1)}" height="${rowH - 6}" fill="${color}" opacity="0.75"/>`,
      `<text x="${(x2 + p99W + 4).toFixed(1)}" y="${mid + 4}" font-size="10">${fmt(s.p99)}</text>`,
    )
    const next = ordered[i + 1]
    if (next !== undefined && next.operation !== row.operation) {
      out.push(
        `<line x1="10" y1="${y + rowH}" x2="${width - 10}" y2="${y + rowH}" stroke="#a0aec0" stroke-dasharray="4 3"/>`,
      )
    }
  })
  if (clipped) {
    out.push(
      `<text x="10" y="${height - 32}" font-size="10" fill="#4a5568">» bar cut at the end of the axis (scaled to the HTTP systems); the number is the median.</text>`,
    )
  }
  out.push(
    `<text x="10" y="${height - 18}" font-size="10" fill="#4a5568">Same machine, same run. HTTP systems driven by autocannon; Redis by redis-benchmark (a C client: its numbers are a speed reference, not a like-for-like comparison).</text>`,
    '</svg>',
  )
  return `${out.join('\n')}\n`
}
