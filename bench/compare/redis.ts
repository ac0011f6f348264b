/**
 * Redis through its own load generator, `redis-benchmark` (the C client Redis ships), as the
 * single-node speed reference: `-c <connections> -d 100 -r <keys>` with `-t set` (PUT) or `-t get`
 * (GET). redis-benchmark takes a request count, not a duration, so the count of a timed run is the
 * warm-up's rate times the duration. The 90/10 mix runs two redis-benchmark processes at once — GET
 * on 90% of the connections for 90% of the requests, SET on the rest — and merges their latency
 * distributions by count. Keys are preloaded exactly (`key:%012d`, the names redis-benchmark's
 * `-r` generates) with `redis-cli --pipe`.
 */
import { spawn } from 'node:child_process'
import { cpuSeconds, type RunResult } from '../lib.ts'
import { runCommand } from './processes.ts'
import type { Operation } from './workload.ts'

/** One redis-benchmark result: rate, requests, and its latency distribution. */
export interface RedisBenchOutput {
  readonly opsPerSec: number
  readonly requests: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Cumulative distribution: [latency ms, cumulative count], ascending. */
  readonly cdf: readonly (readonly [number, number])[]
}

/** Parses redis-benchmark's default (non-CSV) report of one test. */
export function parseRedisBenchmark(output: string): RedisBenchOutput {
  const text = output.replaceAll('\r', '\n')
  const rate = /throughput summary: ([\d.]+) requests per second/.exec(text)
  const summary =
    /avg\s+min\s+p50\s+p95\s+p99\s+max\s*\n\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)/.exec(
      text,
    )
  const completed = /(\d+) requests completed/.exec(text)
  if (rate === null || summary === null || completed === null) {
    throw new Error(`unexpected redis-benchmark output: ${text.slice(-400)}`)
  }
  const section = text.split('Latency by percentile distribution:')[1]?.split('\n\n')[0] ?? ''
  const cdf: [number, number][] = []
  for (const m of section.matchAll(/<= ([\d.]+) milliseconds \(cumulative count (\d+)\)/g)) {
    cdf.push([Number(m[1]), Number(m[2])])
  }
  return {
    opsPerSec: Number(rate[1]),
    requests: Number(completed[1]),
    p50Ms: Number(summary[3]),
    p99Ms: Number(summary[5]),
    cdf,
  }
}

/**
 * The q-quantile (0..1) of several distributions merged by count: the smallest recorded latency
 * at which the merged cumulative count reaches q of the total. An upper bound at the resolution
 * redis-benchmark prints (its percentile lines halve the remaining tail each step).
 */
export function mergedQuantile(outputs: readonly RedisBenchOutput[], q: number): number {
  const total = outputs.reduce((sum, o) => sum + o.requests, 0)
  const points = [...new Set(outputs.flatMap((o) => o.cdf.map(([ms]) => ms)))].sort((a, b) => a - b)
  for (const ms of points) {
    let count = 0
    for (const o of outputs) {
      let below = 0
      for (const [at, c] of o.cdf) if (at <= ms) below = c
      count += below
    }
    if (count >= q * total) return ms
  }
  return points.at(-1) ?? Number.NaN
}

export interface RedisTarget {
  readonly port: number
  readonly pid: number
  readonly connections: number
  readonly keyCount: number
}

/** The redis-benchmark command line for one test. */
export function redisBenchArgs(
  target: RedisTarget,
  test: 'set' | 'get',
  requests: number,
  connections: number,
): string[] {
  return [
    ...['-h', '127.0.0.1', '-p', String(target.port), '-c', String(connections)],
    ...['-n', String(requests), '-d', '100', '-r', String(target.keyCount), '-t', test],
  ]
}

async function bench(args: string[]): Promise<RedisBenchOutput> {
  const { code, stdout, stderr } = await runCommand('redis-benchmark', args)
  if (code !== 0) throw new Error(`redis-benchmark exited ${code}: ${stderr.slice(-400)}`)
  return parseRedisBenchmark(stdout)
}

/** Runs one operation with `requests` requests in total; returns the harness's RunResult. */
export async function runRedis(
  target: RedisTarget,
  operation: Operation,
  requests: number,
  commands?: Set<string>,
): Promise<RunResult & { elapsedSec: number }> {
  const parts: { test: 'set' | 'get'; requests: number; connections: number }[] =
    operation === 'MIX'
      ? [
          {
            test: 'get',
            requests: Math.round(requests * 0.9),
            connections: Math.round(target.connections * 0.9),
          },
          {
            test: 'set',
            requests: Math.round(requests * 0.1),
            connections: target.connections - Math.round(target.connections * 0.9),
          },
        ]
      : [{ test: operation === 'PUT' ? 'set' : 'get', requests, connections: target.connections }]
  const argLists = parts.map((p) => redisBenchArgs(target, p.test, p.requests, p.connections))
  for (const args of argLists) commands?.add(`redis-benchmark ${args.join(' ')}`)
  const cpuBefore = cpuSeconds(target.pid)
  const started = process.hrtime.bigint()
  const outputs = await Promise.all(argLists.map(bench))
  const elapsedSec = Number(process.hrtime.bigint() - started) / 1e9
  const cpuAfter = cpuSeconds(target.pid)
  const single = outputs.length === 1 ? outputs[0] : undefined
  return {
    opsPerSec: outputs.reduce((sum, o) => sum + o.opsPerSec, 0),
    p50Ms: single?.p50Ms ?? mergedQuantile(outputs, 0.5),
    p99Ms: single?.p99Ms ?? mergedQuantile(outputs, 0.99),
    p999Ms: mergedQuantile(outputs, 0.999),
    errors: 0,
    non2xx: 0,
    serverCpuSec: cpuAfter - cpuBefore,
    elapsedSec,
  }
}

/** Loads keys `key:000000000000`… with 100-byte values through `redis-cli --pipe`. */
export async function preloadRedis(target: RedisTarget): Promise<void> {
  const value = 'v'.repeat(100)
  const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(target.port), '--pipe'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const closed = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  const chunk: string[] = []
  for (let i = 0; i < target.keyCount; i++) {
    const key = `key:${String(i).padStart(12, '0')}`
    chunk.push(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$100\r\n${value}\r\n`)
    if (chunk.length === 10_000 || i === target.keyCount - 1) {
      if (!child.stdin.write(chunk.join(''))) {
        await new Promise((resolve) => child.stdin.once('drain', resolve))
      }
      chunk.length = 0
    }
  }
  child.stdin.end()
  const code = await closed
  if (code !== 0 || !/errors: 0, replies: \d+/.test(out)) {
    throw new Error(`redis-cli --pipe failed (${code}): ${out.slice(-400)}`)
  }
}

/** DBSIZE of the Redis server (the preload check). */
export async function redisKeyCount(target: RedisTarget): Promise<number> {
  const { stdout } = await runCommand(
    'redis-cli',
    ['-h', '127.0.0.1', '-p', String(target.port), 'dbsize'],
    { timeoutMs: 10_000 },
  )
  return Number(stdout.trim())
}
