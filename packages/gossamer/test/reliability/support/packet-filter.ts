/**
 * Real packet drops for the network-fault scenarios: nftables rules on the loopback of a
 * *private* network namespace (scripts/reliability.sh runs the suite under `unshare --net`), so
 * nothing outside this test is touched and everything vanishes with the namespace even if the
 * test dies. Each node binds its own 127.0.0.N address (and the agent makes its outgoing TCP
 * connections originate from its bind address), so a rule `ip saddr A ip daddr B drop` cuts
 * exactly the packets from node A to node B — UDP gossip, TCP gossip streams and RPC alike.
 *
 * Rules sit on the input hook: a dropped packet has left its sender normally and simply never
 * arrives, as on a real network (dropping on output would hand the sender an EPERM instead).
 * Random loss uses `numgen random`; added delay needs `tc netem`, which this machine's kernel
 * lacks (CONFIG_NET_SCH_NETEM is not set), so {@link PacketFilter.addDelay} reports whether it
 * worked.
 */
import { spawnSync } from 'node:child_process'

const TABLE = 'gossamer_reliability'

/** Why the network scenarios cannot run here, or undefined when they can. */
export function packetFilterUnavailable(): string | undefined {
  if (process.env.GOSSAMER_RELIABILITY_NETNS !== '1') {
    return 'not in a private network namespace (run `npm run reliability`, which uses unshare --net as root)'
  }
  const links = run('ip', ['-o', 'link', 'show'])
  if (links.status !== 0) return `ip link failed: ${links.stderr}`
  const count = links.stdout.trim().split('\n').length
  if (count !== 1) return `expected only lo in the private namespace, found ${count} links`
  const nft = run('nft', ['list', 'tables'])
  if (nft.status !== 0) return `nft unavailable (apt-get install nftables): ${nft.stderr.trim()}`
  return undefined
}

/** The nftables table of one scenario; {@link PacketFilter.close} removes it. */
export class PacketFilter {
  #delayed = false
  #dropped = 0

  /** Creates an empty table with an input chain. */
  static open(): PacketFilter {
    nft(`table inet ${TABLE} {}\ndelete table inet ${TABLE}\n`)
    nft(
      `table inet ${TABLE} {\n  chain input { type filter hook input priority 0; policy accept; }\n}\n`,
    )
    return new PacketFilter()
  }

  /** Drops every packet from an address in `from` to an address in `to` (one direction). */
  dropBetween(from: readonly string[], to: readonly string[]): void {
    if (from.length === 0 || to.length === 0) return
    nft(
      `add rule inet ${TABLE} input ip saddr { ${from.join(', ')} } ip daddr { ${to.join(', ')} } counter drop\n`,
    )
  }

  /** Drops packets in both directions between the two groups. */
  partition(groupA: readonly string[], groupB: readonly string[]): void {
    this.dropBetween(groupA, groupB)
    this.dropBetween(groupB, groupA)
  }

  /** Drops `percent`% of the packets between any two of `addresses`, at random. */
  randomLoss(addresses: readonly string[], percent: number): void {
    const set = `{ ${addresses.join(', ')} }`
    nft(
      `add rule inet ${TABLE} input ip saddr ${set} ip daddr ${set} numgen random mod 100 < ${percent} counter drop\n`,
    )
  }

  /** Adds `tc netem` delay on lo; false when the kernel has no netem. */
  addDelay(delayMs: number, jitterMs: number): boolean {
    const result = run('tc', [
      'qdisc',
      'add',
      'dev',
      'lo',
      'root',
      'netem',
      'delay',
      `${delayMs}ms`,
      `${jitterMs}ms`,
    ])
    this.#delayed = result.status === 0
    return this.#delayed
  }

  /** Removes every rule (the network heals); the table stays. */
  heal(): void {
    this.#dropped += countDropped(this.describe())
    nft(`flush chain inet ${TABLE} input\n`)
    if (this.#delayed) {
      run('tc', ['qdisc', 'del', 'dev', 'lo', 'root'])
      this.#delayed = false
    }
  }

  /** Packets the rules have dropped so far (proof that the fault happened). */
  get droppedPackets(): number {
    return this.#dropped + countDropped(this.describe())
  }

  /** The rules now in force, for logs. */
  describe(): string {
    return run('nft', ['list', 'table', 'inet', TABLE]).stdout
  }

  /** Heals and deletes the table. */
  close(): void {
    this.heal()
    nft(`delete table inet ${TABLE}\n`)
  }
}

function countDropped(listing: string): number {
  let total = 0
  for (const match of listing.matchAll(/counter packets (\d+)/g)) total += Number(match[1])
  return total
}

function nft(script: string): void {
  const result = spawnSync('nft', ['-f', '-'], { input: script, encoding: 'utf8', timeout: 10_000 })
  if (result.status !== 0)
    throw new Error(`nft failed (${result.status}): ${result.stderr}\n${script}`)
}

function run(command: string, args: readonly string[]) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 })
  return {
    status: result.error === undefined ? result.status : -1,
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? String(result.error?.message ?? ''),
  }
}

/**
 * The `skip` value of a network scenario: false when it can run; otherwise the reason, also
 * printed loudly when the reliability suite is on (so a skipped row is never silent).
 */
export function networkScenarioSkip(scenario: string): string | false {
  if (process.env.GOSSAMER_RELIABILITY !== '1') {
    return 'set GOSSAMER_RELIABILITY=1 to run (npm run reliability)'
  }
  const reason = packetFilterUnavailable()
  if (reason === undefined) return false
  process.stderr.write(`\n*** SKIPPING the ${scenario} scenario: ${reason} ***\n\n`)
  return reason
}
