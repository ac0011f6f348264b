/**
 * Crash safety of the LMDB engine with `sync` durability: a writer process is killed with
 * SIGKILL in the middle of a stream of writes, and every write it acknowledged before dying must
 * be in the store, byte for byte, when the store is reopened. Method: the child prints a key only
 * after its write promise resolved; the parent counts those acknowledgements, kills the child by
 * PID after ACKS_BEFORE_KILL of them (more writes are in flight at that moment), then reopens and
 * checks. Real time is bounded by DEADLINE_MS; the child is killed in `finally` whatever happens.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { LmdbEngine } from '../../src/storage/lmdb-engine.ts'
import { crashValue } from './fixtures/crash-value.ts'

const ACKS_BEFORE_KILL = 200
const DEADLINE_MS = 60_000
const testDir = dirname(fileURLToPath(import.meta.url))
const packageDir = join(testDir, '..', '..')
const writerScript = join(testDir, 'fixtures', 'crash-writer.ts')

/** Reads `ack <key>` lines until `ackCountTarget` arrive, then SIGKILLs the child by PID. */
function collectAcksThenKill(child: ChildProcess, ackCountTarget: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const ackedKeys: string[] = []
    const timer = setTimeout(
      () => reject(new Error(`only ${ackedKeys.length} acks before the deadline`)),
      DEADLINE_MS,
    )
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (ackedKeys.length < ackCountTarget) {
        reject(new Error(`writer exited early (code ${code}, signal ${signal}): ${stderr}`))
      }
    })
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      if (!line.startsWith('ack ') || ackedKeys.length >= ackCountTarget) return
      ackedKeys.push(line.slice(4))
      if (ackedKeys.length === ackCountTarget) {
        // Kill while more writes are in flight; acks already read are the promise under test.
        process.kill(child.pid!, 'SIGKILL')
        clearTimeout(timer)
        resolve(ackedKeys)
      }
    })
  })
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

describe('storage: LmdbEngine crash safety', () => {
  it('keeps every acknowledged sync write after the writer is killed with SIGKILL mid-stream', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gossamer-crash-'))
    const child = spawn(process.execPath, ['--import', 'tsx', writerScript, dir, '100000'], {
      cwd: packageDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      const ackedKeys = await collectAcksThenKill(child, ACKS_BEFORE_KILL)
      await waitForExit(child)
      assert.equal(child.signalCode, 'SIGKILL')

      const engine = await LmdbEngine.open({ path: dir })
      try {
        for (const key of ackedKeys) {
          const index = Number(key.slice('crash-'.length))
          const record = engine.getRecord(key)
          assert.ok(record !== undefined, `acknowledged key ${key} is missing`)
          assert.deepEqual(record.value, crashValue(index), `value of ${key}`)
        }
        // The whole store must scan cleanly: every record decodes and passes its checksum.
        const page = engine.scan({ limit: 1_000_000, nowMs: 0, includeDead: true })
        assert.ok(page.entries.length >= ackedKeys.length)
        for (const { key, record } of page.entries) {
          assert.deepEqual(record.value, crashValue(Number(key.slice('crash-'.length))), key)
        }
        assert.equal(engine.stats().keyCount, page.entries.length)
      } finally {
        await engine.close()
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await waitForExit(child)
      await rm(dir, { recursive: true, force: true })
    }
  })
})
