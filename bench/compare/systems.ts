/**
 * Starting and stopping each system under comparison, on loopback, with its data under the run's
 * temp dir: a Gossamer single node, a 3-node Gossamer cluster (N=3, joined with `--join`), a
 * single etcd member, a 3-member etcd cluster, and redis-server with AOF `appendfsync everysec`.
 * Each start waits (bounded) until the system answers, and returns its HTTP URLs, the PIDs of its
 * server processes (for CPU accounting and stopping), and the exact command lines used.
 */
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { freePort, startServer } from '../lib.ts'
import { fetchWithin, type Proc, spawnLogged, stop, track, waitUntil } from './processes.ts'

/** A running system. */
export interface Deployment {
  /** HTTP base URLs, one per member (empty for Redis). */
  readonly urls: string[]
  /** Redis port (Redis only). */
  readonly port?: number
  /** Server processes: their CPU time is the "server CPU" of a run. */
  readonly pids: number[]
  /** The exact commands that started the servers. */
  readonly commands: string[]
  stop(): Promise<void>
}

const quote = (args: readonly string[]) =>
  args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ')

async function stopEach(procs: readonly Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => stop(p).catch(() => {})))
}

// --- Gossamer ---

function agentArgs(dir: string, name: string, extra: readonly string[]): string[] {
  return [
    'packages/gossamer/bin/gossamer.js',
    'agent',
    ...['--name', name, '--data-dir', join(dir, name), '--log-level', 'warn'],
    ...['--http-port', '0', '--gossip-port', '0', '--rpc-port', '0', '--advertise', '127.0.0.1'],
    ...['--gossip-preset', 'local'],
    ...extra,
  ]
}

async function startAgent(dir: string, name: string, extra: readonly string[]) {
  // Extra flags for Node itself (e.g. `--cpu-prof` from profile.ts), before the script.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const args = [...nodeArgs, ...agentArgs(dir, name, extra)]
  const server = await startServer(name, args, 60_000)
  const proc = track(name, server.child)
  return { server, proc, command: `node ${quote(args)}` }
}

/** One Gossamer node with its defaults: LMDB, `sync` durability (fsync before the reply). */
export async function startGossamerSingle(dir: string): Promise<Deployment> {
  const a = await startAgent(dir, 'single', [])
  return {
    urls: [a.server.http],
    pids: [a.proc.pid],
    commands: [a.command],
    stop: () => stopEach([a.proc]),
  }
}

/** Three Gossamer agents, N=3, the second and third joined to the first; waits until placed. */
export async function startGossamerCluster(dir: string): Promise<Deployment> {
  const procs: Proc[] = []
  try {
    const partitions = process.env.BENCH_GOSSAMER_PARTITIONS
    const shared = ['--replicas', '3', ...(partitions ? ['--partitions', partitions] : [])]
    const first = await startAgent(dir, 'g1', shared)
    procs.push(first.proc)
    const seed = String(first.server.info.gossip)
    if (first.server.info.gossip === undefined) throw new Error('agent has no gossip address')
    const rest = await Promise.all(
      ['g2', 'g3'].map((name) => startAgent(dir, name, [...shared, '--join', seed])),
    )
    procs.push(...rest.map((r) => r.proc))
    const all = [first, ...rest]
    const urls = all.map((a) => a.server.http)
    await waitUntil('gossamer cluster: 3 alive members', async () => {
      const body = (await (await fetchWithin(`${urls[0]}/v1/cluster/members`)).json()) as {
        members?: { state?: string; owner?: boolean }[]
      }
      return (body.members?.filter((m) => m.state === 'alive' && m.owner).length ?? 0) >= 3
    })
    // A joining node takes over its partitions one handoff at a time: on a fresh 4096-partition
    // cluster this took about a minute on the 2-core machine (see docs/performance.md).
    await waitUntil(
      'gossamer cluster: every partition on 3 owners, handoffs done',
      async () => {
        for (const url of urls) {
          const body = (await (await fetchWithin(`${url}/v1/cluster/partitions`)).json()) as {
            partitions?: { owners: unknown[]; handoff: string }[]
          }
          const parts = body.partitions ?? []
          if (parts.length === 0) return false
          if (
            !parts.every(
              (p) => p.owners.length >= 3 && (p.handoff === 'none' || p.handoff === 'done'),
            )
          )
            return false
          if ((await fetchWithin(`${url}/v1/ready`)).status !== 200) return false
        }
        return true
      },
      { timeoutMs: Number(process.env.BENCH_CLUSTER_READY_S ?? 300) * 1000, intervalMs: 1_000 },
    )
    return {
      urls,
      pids: procs.map((p) => p.pid),
      commands: all.map((a) => a.command),
      stop: () => stopEach(procs),
    }
  } catch (error) {
    await stopEach(procs)
    throw error
  }
}

// --- etcd ---

/** `size` etcd members forming one cluster (3.4: JSON gateway under /v3/). */
export async function startEtcd(dir: string, size: number): Promise<Deployment> {
  const members = []
  for (let i = 1; i <= size; i++) {
    members.push({ name: `e${i}`, client: await freePort(), peer: await freePort() })
  }
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',')
  const procs: Proc[] = []
  const commands: string[] = []
  try {
    for (const m of members) {
      const client = `http://127.0.0.1:${m.client}`
      const peer = `http://127.0.0.1:${m.peer}`
      const args = [
        ...['--name', m.name, '--data-dir', join(dir, m.name)],
        ...['--listen-client-urls', client, '--advertise-client-urls', client],
        ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer],
        ...['--initial-cluster', initialCluster, '--initial-cluster-state', 'new'],
        ...['--initial-cluster-token', `bench-${size}`, '--logger', 'zap', '--log-level', 'warn'],
      ]
      procs.push(spawnLogged(m.name, 'etcd', args, join(dir, `${m.name}.log`)))
      commands.push(`etcd ${quote(args)}`)
    }
    const urls = members.map((m) => `http://127.0.0.1:${m.client}`)
    for (const url of urls) {
      await waitUntil(`etcd ${url}`, async () => {
        const body = (await (await fetchWithin(`${url}/health`)).json()) as { health?: string }
        return body.health === 'true'
      })
    }
    return { urls, pids: procs.map((p) => p.pid), commands, stop: () => stopEach(procs) }
  } catch (error) {
    await stopEach(procs)
    throw error
  }
}

// --- Redis ---

/** redis-server with AOF on and `appendfsync everysec`, no RDB snapshots, on a free port. */
export async function startRedis(dir: string): Promise<Deployment> {
  const port = await freePort()
  const args = [
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
    ...['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', ''],
    ...['--daemonize', 'no', '--protected-mode', 'yes', '--logfile', join(dir, 'redis.log')],
  ]
  const proc = spawnLogged('redis', 'redis-server', args, join(dir, 'redis.stdout.log'))
  try {
    await waitUntil(`redis :${port}`, async () => {
      return new Promise<boolean>((resolve) => {
        const socket = createConnection({ host: '127.0.0.1', port }, () => {
          socket.write('PING\r\n')
        })
        socket.setTimeout(1_000, () => {
          socket.destroy()
          resolve(false)
        })
        socket.once('data', (data) => {
          socket.destroy()
          resolve(data.toString().startsWith('+PONG'))
        })
        socket.once('error', () => resolve(false))
      })
    })
  } catch (error) {
    await stop(proc)
    throw error
  }
  return {
    urls: [],
    port,
    pids: [proc.pid],
    commands: [`redis-server ${quote(args)}`],
    stop: () => stop(proc),
  }
}
