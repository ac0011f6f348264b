// Goal: the `gossamer` command works as a shell user expects. The agent prints one
// `listening` JSON line with its actual port, serves get/put/del/ls, shuts down with exit 0 on
// SIGTERM, and its data survives a restart. Method: spawn the real bin as child processes on
// port 0 with a temp dir; every child is killed by PID in `finally`/`after`.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../../bin/gossamer.js', import.meta.url))
const DEADLINE_MS = 30_000

interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs one CLI command to completion (bounded by a deadline). */
function run(args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`gossamer ${args.join(' ')} timed out`))
    }, DEADLINE_MS)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(options.stdin ?? '')
  })
}

interface Agent {
  readonly child: ChildProcess
  readonly http: string
  readonly listening: Record<string, unknown>
  stderr: string
}

/** Starts `gossamer agent` and waits (bounded) for its listening line. */
async function startAgent(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Agent> {
  const child = spawn(process.execPath, [BIN, 'agent', '--log-format', 'json', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const agent = { child, stderr: '' } as Agent
  child.stderr?.on('data', (chunk) => {
    agent.stderr += chunk
  })
  const lines = createInterface({ input: child.stdout! })
  const firstLine = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('agent did not start')), DEADLINE_MS)
    lines.once('line', (line) => {
      clearTimeout(timer)
      resolve(line)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`agent exited with ${code}: ${agent.stderr}`))
    })
  })
  const listening = JSON.parse(firstLine) as Record<string, unknown>
  return Object.assign(agent, { listening, http: String(listening['http']) })
}

/** Sends SIGTERM and resolves with the exit code (bounded). */
function stopAgent(agent: Agent): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (agent.child.exitCode !== null) return resolve(agent.child.exitCode)
    const timer = setTimeout(() => reject(new Error('agent did not stop')), DEADLINE_MS)
    agent.child.once('exit', (code) => {
      clearTimeout(timer)
      resolve(code)
    })
    agent.child.kill('SIGTERM')
  })
}

function killIfRunning(agent: Agent | undefined): void {
  if (agent?.child.pid !== undefined && agent.child.exitCode === null) {
    process.kill(agent.child.pid, 'SIGKILL')
  }
}

describe('gossamer CLI', () => {
  let dir: string
  let agent: Agent | undefined
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gossamer-cli-'))
    agent = await startAgent([
      '--http-port',
      '0',
      '--data-dir',
      join(dir, 'data'),
      '--name',
      'cli1',
    ])
  })
  after(async () => {
    killIfRunning(agent)
    await rm(dir, { recursive: true, force: true })
  })

  test('the agent prints one listening line with its name and actual HTTP, gossip and RPC addresses', () => {
    assert.deepEqual(Object.keys(agent!.listening), ['event', 'name', 'http', 'gossip', 'rpc'])
    assert.equal(agent!.listening['event'], 'listening')
    assert.equal(agent!.listening['name'], 'cli1')
    assert.match(agent!.http, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/)
    assert.match(String(agent!.listening['gossip']), /^127\.0\.0\.1:[1-9]\d*$/)
    assert.match(String(agent!.listening['rpc']), /^127\.0\.0\.1:[1-9]\d*$/)
  })

  test('put then get prints the value; put reads stdin when no value is given', async () => {
    const addr = ['--addr', agent!.http]
    const put = await run(['put', 'greeting/en', 'hello world', ...addr])
    assert.equal(put.code, 0, put.stderr)
    assert.match(put.stdout, /^\d+-\d+-cli1\n$/)
    const piped = await run(['put', 'piped', ...addr], { stdin: 'from stdin' })
    assert.equal(piped.code, 0, piped.stderr)
    const [get, getPiped] = await Promise.all([
      run(['get', 'greeting/en', ...addr]),
      run(['get', 'piped'], { env: { GOSSAMER_ADDR: agent!.http } }),
    ])
    assert.deepEqual([get.code, get.stdout], [0, 'hello world'])
    assert.deepEqual([getPiped.code, getPiped.stdout], [0, 'from stdin'])
  })

  test('get of a missing key exits 1 and says "not found" on stderr', async () => {
    const get = await run(['get', 'missing', '--addr', agent!.http])
    assert.equal(get.code, 1)
    assert.equal(get.stdout, '')
    assert.match(get.stderr, /not found/)
  })

  test('ls lists keys in order, optionally by prefix', async () => {
    const addr = ['--addr', agent!.http]
    await run(['put', 'ls/b', '2', ...addr])
    await run(['put', 'ls/a', '1', ...addr])
    const [all, some] = await Promise.all([run(['ls', ...addr]), run(['ls', 'ls/', ...addr])])
    assert.equal(all.code, 0, all.stderr)
    const keys = all.stdout.trim().split('\n')
    assert.deepEqual(keys, [...keys].sort())
    assert.ok(keys.includes('ls/a'))
    assert.equal(some.stdout, 'ls/a\nls/b\n')
  })

  test('del deletes; deleting again exits 1 with "not found"', async () => {
    const addr = ['--addr', agent!.http]
    await run(['put', 'doomed', 'x', ...addr])
    const del = await run(['del', 'doomed', ...addr])
    assert.equal(del.code, 0, del.stderr)
    const again = await run(['del', 'doomed', ...addr])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /not found/)
  })

  test('an unreachable node exits 1 with a message; a bad flag value exits 2', async () => {
    const [unreachable, badConfig] = await Promise.all([
      run(['get', 'k', '--addr', 'http://127.0.0.1:1']),
      run(['agent', '--http-port', 'seventy', '--in-memory']),
    ])
    assert.equal(unreachable.code, 1)
    assert.match(unreachable.stderr, /cannot reach server/)
    assert.equal(badConfig.code, 2)
    assert.match(badConfig.stderr, /httpPort must be an integer/)
  })

  test('SIGTERM shuts the agent down with exit 0, and the data persists after restart', async () => {
    const first = agent!
    assert.equal(await stopAgent(first), 0)
    assert.match(first.stderr, /shutting down/)
    assert.match(first.stderr, /node stopped/)
    // Restart on the same data dir, configured through the environment this time.
    agent = await startAgent([], {
      GOSSAMER_HTTP_PORT: '0',
      GOSSAMER_DATA_DIR: join(dir, 'data'),
      GOSSAMER_NAME: 'cli1',
    })
    const get = await run(['get', 'greeting/en', '--addr', agent.http])
    assert.deepEqual([get.code, get.stdout], [0, 'hello world'])
    assert.equal(await stopAgent(agent), 0)
  })
})
