/**
 * The TypeScript counterpart of go-peer/main.go: one `Memberlist` node in its own process,
 * speaking the same flags and JSON line protocol (docs/interop.md) so the harness drives Go
 * and TS nodes alike in mixed clusters and multi-process tests.
 *
 * Run: node --import tsx packages/memberlist/test/interop/ts-peer.ts --name ts-a --port 0
 */

import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { type Delegates, type Member, Memberlist } from '../../src/index.ts'

type Fields = Record<string, unknown>

function emit(fields: Fields): void {
  process.stdout.write(`${JSON.stringify({ ...fields, t: Date.now() })}\n`)
}

const b64 = (data: Uint8Array): string => Buffer.from(data).toString('base64')

/** User broadcasts, each sent up to retransmitMult × ceil(log10(n + 1)) times (memberlist). */
class UserBroadcasts {
  #queue: { data: Uint8Array; sent: number }[] = []
  readonly #limit: () => number

  constructor(limit: () => number) {
    this.#limit = limit
  }

  add(data: Uint8Array): void {
    this.#queue.push({ data, sent: 0 })
  }

  take(overheadBytes: number, limitBytes: number): Uint8Array[] {
    const out: Uint8Array[] = []
    let used = 0
    for (const item of this.#queue) {
      const cost = overheadBytes + item.data.length
      if (used + cost > limitBytes) continue
      used += cost
      item.sent++
      out.push(item.data)
    }
    const limit = this.#limit()
    this.#queue = this.#queue.filter((item) => item.sent < limit)
    return out
  }
}

function parseFlags() {
  const { values } = parseArgs({
    options: {
      name: { type: 'string' },
      bind: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      join: { type: 'string', default: '' },
      key: { type: 'string', default: '' },
      preset: { type: 'string', default: 'local' },
      meta: { type: 'string', default: '' },
      'no-compression': { type: 'boolean', default: false },
      'watch-ms': { type: 'string', default: '50' },
    },
  })
  if (values.name === undefined || values.name === '') throw new Error('--name is required')
  const preset = values.preset
  if (preset !== 'local' && preset !== 'lan' && preset !== 'wan') {
    throw new Error(`unknown preset ${preset} (local|lan|wan)`)
  }
  return { ...values, name: values.name, preset: preset as 'local' | 'lan' | 'wan' }
}

function memberRow(m: Member): Fields {
  return {
    name: m.name,
    addr: m.address,
    state: m.state,
    incarnation: m.incarnation,
    meta: Buffer.from(m.meta).toString(),
  }
}

function nodeEvent(kind: string, m: Member): void {
  emit({
    event: kind,
    node: m.name,
    addr: m.address,
    state: m.state,
    incarnation: m.incarnation,
    meta: Buffer.from(m.meta).toString(),
    metaB64: b64(m.meta),
  })
}

/** Polls the table and reports every change, as the Go peer does. */
function watchStates(list: Memberlist, everyMs: number): NodeJS.Timeout {
  const last = new Map<string, string>()
  return setInterval(() => {
    const seen = new Set<string>()
    for (const m of list.allNodes()) {
      seen.add(m.name)
      const key = `${m.state}|${m.incarnation}|${m.address}`
      if (last.get(m.name) === key) continue
      last.set(m.name, key)
      emit({
        event: 'state',
        node: m.name,
        addr: m.address,
        state: m.state,
        incarnation: m.incarnation,
      })
    }
    for (const name of [...last.keys()]) {
      if (seen.has(name)) continue
      last.delete(name)
      emit({ event: 'state', node: name, state: 'reaped' })
    }
  }, everyMs)
}

interface PeerState {
  meta: Uint8Array
  localState: Uint8Array
}

async function handle(list: Memberlist, state: PeerState, broadcasts: UserBroadcasts, c: Fields) {
  const data = (): Uint8Array => Buffer.from(String(c['data'] ?? ''), 'base64')
  switch (c['cmd']) {
    case 'members':
      return {
        members: list.allNodes().map(memberRow),
        alive: list.members().map((m) => m.name),
        numMembers: list.numMembers(),
        estNumNodes: list.allNodes().length,
        health: list.healthScore(),
      }
    case 'join':
      return { contacted: await list.join(c['addrs'] as string[]) }
    case 'leave':
      await list.leave(Number(c['timeoutMs'] ?? 0))
      return {}
    case 'send':
      if (c['reliable'] === true) list.sendReliable(String(c['node']), data())
      else list.sendBestEffort(String(c['node']), data())
      return {}
    case 'broadcast':
      broadcasts.add(data())
      return {}
    case 'setLocalState':
      state.localState = data()
      return {}
    case 'updateMeta':
      if (typeof c['meta'] === 'string') state.meta = Buffer.from(c['meta'])
      await list.updateNode(Number(c['timeoutMs'] ?? 0))
      return {}
    case 'health':
      return { health: list.healthScore() }
    case 'metrics':
      return { metrics: { ...list.metrics } }
    default:
      throw new Error(`unknown command ${JSON.stringify(c['cmd'])}`)
  }
}

async function main(): Promise<void> {
  const flags = parseFlags()
  const state: PeerState = { meta: Buffer.from(flags.meta), localState: new Uint8Array(0) }
  let list: Memberlist | undefined
  const broadcasts = new UserBroadcasts(() => {
    const n = list?.numMembers() ?? 1
    return (list?.config.retransmitMult ?? 4) * Math.ceil(Math.log10(n + 1))
  })
  const delegates: Delegates = {
    nodeMeta: (limit) => state.meta.subarray(0, limit),
    notifyMsg: (payload) => emit({ event: 'message', data: b64(payload) }),
    getBroadcasts: (overhead, limit) => broadcasts.take(overhead, limit),
    localState: () => state.localState,
    mergeRemoteState: (remote, join) => emit({ event: 'remoteState', join, data: b64(remote) }),
  }
  list = await Memberlist.create(
    {
      name: flags.name,
      bindAddr: flags.bind,
      bindPort: Number(flags.port),
      preset: flags.preset,
      enableCompression: !flags['no-compression'],
      ...(flags.key === '' ? {} : { secretKey: Buffer.from(flags.key, 'base64') }),
      logger: {
        debug: (m) => process.stderr.write(`[DEBUG] ${m}\n`),
        warn: (m) => process.stderr.write(`[WARN] ${m}\n`),
      },
    },
    delegates,
  )
  const running = list
  running.on('join', (m) => nodeEvent('join', m))
  running.on('leave', (m) => nodeEvent('leave', m))
  running.on('update', (m) => nodeEvent('update', m))
  const c = running.config
  emit({
    event: 'listening',
    name: running.localNode.name,
    addr: running.localNode.address,
    pid: process.pid,
    config: {
      preset: flags.preset,
      probeIntervalMs: c.probeIntervalMs,
      probeTimeoutMs: c.probeTimeoutMs,
      suspicionMult: c.suspicionMult,
      suspicionMaxTimeoutMult: c.suspicionMaxTimeoutMult,
      indirectChecks: c.indirectChecks,
      retransmitMult: c.retransmitMult,
      gossipIntervalMs: c.gossipIntervalMs,
      gossipNodes: c.gossipNodes,
      gossipToTheDeadTimeMs: c.gossipToTheDeadTimeMs,
      pushPullIntervalMs: c.pushPullIntervalMs,
      tcpTimeoutMs: c.tcpTimeoutMs,
      awarenessMaxMultiplier: c.awarenessMaxMultiplier,
      protocolVersion: c.protocolVersion,
      enableCompression: !flags['no-compression'],
      encrypted: running.keyring.enabled,
    },
  })
  const watcher = watchStates(running, Number(flags['watch-ms']))
  const stop = async (code: number): Promise<never> => {
    clearInterval(watcher)
    await running.shutdown()
    process.exit(code)
  }
  process.on('SIGTERM', () => void stop(0))
  process.on('SIGINT', () => void stop(0))

  if (flags.join !== '') {
    try {
      emit({ event: 'joined', ok: true, contacted: await running.join(flags.join.split(',')) })
    } catch (error) {
      emit({ event: 'joined', ok: false, contacted: 0, error: (error as Error).message })
    }
  }

  // Commands run one at a time, in order, like the Go peer.
  const lines = createInterface({ input: process.stdin })
  for await (const line of lines) {
    if (line.trim() === '') continue
    let command: Fields
    try {
      command = JSON.parse(line) as Fields
    } catch (error) {
      emit({ event: 'error', error: `bad command: ${(error as Error).message}` })
      continue
    }
    const base = { event: 'reply', cmd: command['cmd'], id: command['id'] ?? 0 }
    if (command['cmd'] === 'shutdown') {
      clearInterval(watcher)
      await running.shutdown()
      emit({ ...base, ok: true })
      process.exit(0)
    }
    try {
      emit({ ...base, ok: true, ...(await handle(running, state, broadcasts, command)) })
    } catch (error) {
      emit({ ...base, ok: false, error: (error as Error).message })
    }
  }
  await stop(0) // stdin closed: the harness is gone
}

main().catch((error: unknown) => {
  emit({ event: 'fatal', error: error instanceof Error ? error.message : String(error) })
  process.exit(2)
})
