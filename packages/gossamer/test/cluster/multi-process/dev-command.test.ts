// Goal: `gossamer dev --nodes 3` gives a working local cluster in one command and leaves nothing
// behind. Method: spawn the real bin (256 partitions, so the joiners' streams finish quickly);
// wait (bounded) for its three node lines and the line saying every node is ready;
// write through one node and read through another; note the agent PIDs (children of the dev
// process, from /proc); send SIGINT to the dev process; it must exit 0 and every agent PID must
// be gone. The after hook kills the dev process and any agent left, by PID.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { after, describe, test } from 'node:test'
import { GOSSAMER_BIN, waitFor } from '../../helpers/cluster-harness.ts'

const DEADLINE_MS = 120_000

/** PIDs of the direct children of `parent` (Linux /proc). */
function childPids(parent: number): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === parent) pids.push(Number(entry))
    } catch {
      // the process ended while we looked
    }
  }
  return pids
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('gossamer dev', { timeout: 300_000 }, () => {
  let dev: ChildProcess | undefined
  let agents: number[] = []

  after(() => {
    for (const pid of [dev?.pid, ...agents]) {
      if (pid !== undefined && isRunning(pid)) process.kill(pid, 'SIGKILL')
    }
  })

  test('starts three joined nodes, serves writes across them and stops them all on SIGINT', async () => {
    dev = spawn(process.execPath, [GOSSAMER_BIN, 'dev', '--nodes', '3', '--partitions', '256'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    dev.stderr!.on('data', (chunk) => {
      stderr += chunk
    })
    const exited = new Promise<number | null>((resolve) =>
      dev!.once('exit', (code) => resolve(code)),
    )
    const https: string[] = []
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ready line in time\n${stderr}`)),
        DEADLINE_MS,
      )
      dev!.once('exit', (code) => reject(new Error(`gossamer dev exited with ${code}\n${stderr}`)))
      createInterface({ input: dev!.stdout! }).on('line', (line) => {
        const http = /http=(\S+)/.exec(line)?.[1]
        if (http !== undefined) https.push(http)
        if (line.startsWith('all 3 nodes ready')) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    assert.equal(https.length, 3)
    agents = childPids(dev.pid!)
    assert.equal(agents.length, 3, `agent processes: ${agents.join(',')}`)

    const put = await fetch(`${https[0]}/v1/kv/hello`, { method: 'PUT', body: 'world' })
    assert.ok(put.status < 300, `put answered ${put.status}`)
    const got = await fetch(`${https[1]}/v1/kv/hello`)
    assert.equal(got.status, 200)
    assert.equal(await got.text(), 'world')
    const members = (await (await fetch(`${https[2]}/v1/cluster/members`)).json()) as {
      members: { name: string; state: string }[]
    }
    assert.deepEqual(
      members.members
        .filter((m) => m.state === 'alive')
        .map((m) => m.name)
        .sort(),
      ['dev-1', 'dev-2', 'dev-3'],
    )

    process.kill(dev.pid!, 'SIGINT')
    assert.equal(await exited, 0, stderr)
    await waitFor('every agent process to be gone', () => agents.every((pid) => !isRunning(pid)), {
      deadlineMs: 5_000,
      intervalMs: 100,
    })
  })
})
