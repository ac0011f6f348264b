// Prints the rows the reliability scenarios appended to a results file (one JSON object per
// line, see packages/gossamer/test/reliability/support/scenario.ts) as the markdown table of
// docs/reliability.md. Usage: node --import tsx scripts/reliability-table.ts <results.jsonl>
import { readFileSync } from 'node:fs'

interface Row {
  scenario: string
  fault: string
  seed: number
  durationMs: number
  attempted: number
  acknowledged: number
  writesAcknowledged: number
  strongReadsChecked: number
  violations: number
  convergeMs: number
  converged: boolean
  command: string
  evidence?: string
}

const path = process.argv[2]
if (path === undefined) {
  console.error('usage: reliability-table.ts <results.jsonl>')
  process.exit(2)
}
let text = ''
try {
  text = readFileSync(path, 'utf8')
} catch {
  // no scenario ran
}
const rows = text
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as Row)
console.log(
  '| scenario | fault | duration | ops attempted / acknowledged (writes) | quorum reads checked | violations | converged after healing | command |',
)
console.log('|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  const converge = r.converged ? `${(r.convergeMs / 1000).toFixed(1)} s` : 'NO'
  console.log(
    `| ${r.scenario} | ${r.fault} (${r.evidence ?? '?'}) | ${(r.durationMs / 1000).toFixed(0)} s | ${r.attempted} / ${r.acknowledged} (${r.writesAcknowledged}) | ${r.strongReadsChecked} | ${r.violations} | ${converge} | \`${r.command}\` |`,
  )
}
if (rows.length === 0) console.log('| (no scenario ran) | | | | | | | |')
