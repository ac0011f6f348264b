// Goal: the whole-cluster simulator is deterministic, a fixed set of seeds (plus one derived
// from the commit) passes with zero violations, and the checks can fail: an injected bug and a
// known past runtime bug (no persisted ownership set) are caught. Joins and leaves move
// partitions (rebalancing with the production cores), some puts carry TTLs and some are
// conditional, and the bugs the simulator found in them stay fixed (regression seeds).
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { describe, it } from 'node:test'
import {
  FAILURE_KINDS,
  type FaultKind,
  resolveSimOptions,
  runSimulation,
  type SimOptions,
  type SimResult,
  swarmOptions,
} from '../../src/sim/index.ts'
import { formatViolations } from '../../src/testing/history/checker.ts'

/** Seeds every CI run checks; small clusters and short phases keep the suite to seconds. */
const FIXED_SEEDS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']

function explain(result: SimResult): string {
  const failures = result.failures.map((f) => `[${f.kind}] ${f.message}`).join('\n')
  return `seed ${result.options.seed}: ${formatViolations(result.violations)}\n${failures}\nreproduce: npm run sim -- --seed ${result.options.seed} --duration ${result.options.durationMs}ms`
}

function commitSeed(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', timeout: 5_000 }).trim()
  } catch {
    return 'no-git-fallback-seed'
  }
}

describe('whole-cluster simulation', () => {
  it('two runs of one seed produce identical event transcripts', () => {
    const options = resolveSimOptions({ seed: 'determinism', durationMs: 5_000 })
    const first = runSimulation(options)
    const second = runSimulation(options)
    assert.ok(first.log.length > 100, 'the transcript is not trivially short')
    assert.equal(first.logHash, second.logHash)
    assert.deepEqual(first.log, second.log)
    const other = runSimulation({ ...options, seed: 'determinism-2' })
    assert.notEqual(other.logHash, first.logHash, 'another seed gives another run')
  })

  for (const seed of FIXED_SEEDS) {
    it(`seed ${seed} passes with zero violations and converges after healing`, () => {
      const result = runSimulation(resolveSimOptions({ seed, durationMs: 8_000 }), {
        isLogging: false,
      })
      assert.ok(result.ok, explain(result))
      assert.ok(
        result.convergeMs !== undefined && result.convergeMs <= result.options.convergeBoundMs,
      )
      assert.ok(result.checked.acknowledgedWrites > 0, 'the workload acknowledged writes')
      assert.ok(result.checked.strongReads > 0, 'the checker judged strong reads')
    })
  }

  it('a seed derived from the commit passes in swarm mode', () => {
    const seed = commitSeed()
    // Reconnect on: without it a swarm seed may hit the known membership split (see the
    // regression test below) — a liveness gap of the runtime, reported, not yet fixed there.
    const options = swarmOptions(seed, { durationMs: 10_000 })
    const result = runSimulation(options, { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
  })

  it('replicas that acknowledge before persisting lose acknowledged writes in a power loss', () => {
    const options = (seed: string, ackBeforePersist: boolean) =>
      resolveSimOptions({
        seed,
        durationMs: 10_000,
        ackBeforePersist,
        faults: ['power-loss'],
        diskLatencyMeanMs: 60,
        faultGapMeanMs: 1_500,
      })
    const kinds = new Set<string>()
    // Seeds 1, 5, 6. (Seed 2 was here until replica puts for partitions a node does not hold
    // were refused: a node restarted by a power loss now refuses puts until it has joined and
    // applied a placement, so on seed 2 most writes end unknown and none of the few acknowledged
    // ones happens to hit an un-persisted ack. With the bug switch off, all three stay clean too.)
    for (const seed of ['1', '5', '6']) {
      const result = runSimulation(options(seed, true), { isLogging: false })
      assert.ok(result.violations.length > 0, `seed ${seed}: the bug went unnoticed`)
      for (const v of result.violations) kinds.add(v.kind)
    }
    assert.ok(kinds.has('lost-write'), `a lost write was reported (saw ${[...kinds].join(', ')})`)
    // Control: the same runs with replicas that persist before acknowledging are clean.
    const control = runSimulation(options('1', false), { isLogging: false })
    assert.ok(control.ok, explain(control))
  })

  it('without the persisted ownership set a node restarted in a minority serves stale reads (regression seed)', () => {
    // Found by this simulator: seed 3 restarts every node during a split; a minority node
    // joined only the minority, computed a placement from a partial ownership set, and
    // answered quorum reads from the wrong replicas. The runtime now persists the set.
    // (Since joins and leaves exist, the scenario needs the failure kinds only: the default
    // mix also draws membership changes, which move this seed's schedule elsewhere.)
    const options = resolveSimOptions({ seed: '3', durationMs: 40_000, faults: FAILURE_KINDS })
    const broken = runSimulation({ ...options, persistOwnership: false }, { isLogging: false })
    assert.ok(
      broken.violations.some((v) => v.kind === 'stale-read'),
      'stale reads without the persisted set',
    )
    const fixed = runSimulation(options, { isLogging: false })
    assert.ok(fixed.ok, explain(fixed))
  })

  it('a partition in which both sides declare each other dead splits membership for good without reconnects (regression seed)', () => {
    // Found by this simulator: swarm seed 1086 (3 nodes) makes n1 deaf for ~10 s; n2 and n3
    // declare n1 dead, n1 declares them dead, and every dead broadcast is spent before the
    // heal. memberlist gossips and pushes/pulls only with live members, so nobody ever contacts
    // the other side again. Serf solves this by periodically reconnecting to failed members;
    // the runtime now does too (reconnectIntervalMs, on by default in the simulator as well).
    // Since rebalancing and the new workload draws changed every run, 1086 no longer hits it;
    // split-8 (3 nodes, asymmetric and isolate faults) does: n1 and {n2, n3} reap each other.
    const options = resolveSimOptions({
      seed: 'split-8',
      nodeCount: 3,
      faults: ['asymmetric', 'isolate'],
      faultGapMeanMs: 6_000,
      durationMs: 20_000,
      spareNodeCount: 0,
    })
    const stuck = runSimulation({ ...options, reconnectIntervalMs: 0 }, { isLogging: false })
    assert.equal(stuck.convergeMs, undefined, 'the membership stays split')
    assert.ok(stuck.failures.some((f) => f.kind === 'not-converged'))
    const healed = runSimulation({ ...options, reconnectIntervalMs: 10_000 }, { isLogging: false })
    assert.ok(healed.ok, explain(healed))
  })
})

/** A run of 8 s of faults with `overrides`, checked for zero violations. */
function cleanRun(seed: string, overrides: Partial<SimOptions>): SimResult {
  const result = runSimulation(resolveSimOptions({ seed, durationMs: 8_000, ...overrides }), {
    isLogging: false,
  })
  assert.ok(result.ok, explain(result))
  return result
}

const isConditional = (op: SimResult['operations'][number]) =>
  op.ifMatch !== undefined || op.ifNoneMatch === true

describe('whole-cluster simulation: membership changes, TTLs, conditional writes', () => {
  it('nodes join mid-run, partitions move to them, and every check holds under the final placement', () => {
    const faults: FaultKind[] = ['join', 'isolate', 'crash']
    const result = cleanRun('join-3', { faults, faultGapMeanMs: 1_500, spareNodeCount: 2 })
    assert.ok((result.faults.join ?? 0) >= 1, 'a join happened')
    assert.ok(result.finalOwners.includes('n6'), `n6 owns data: ${result.finalOwners.join(',')}`)
    assert.ok(result.rebalance.handoffRecords > 0, 'records were streamed to the new owners')
    assert.ok(result.rebalance.partitionsDropped > 0, 'old replicas dropped what they handed off')
  })

  it('members leave gracefully (hand-off, removal, stop) while others join', () => {
    const faults: FaultKind[] = ['join', 'leave', 'lossy']
    const result = cleanRun('leave-3', { faults, faultGapMeanMs: 1_500 })
    assert.ok((result.faults.leave ?? 0) >= 1, 'a leave happened')
    const initial = ['n1', 'n2', 'n3', 'n4', 'n5']
    assert.ok(
      initial.some((name) => !result.finalOwners.includes(name)),
      `a node left: ${result.finalOwners.join(',')}`,
    )
    assert.ok(result.rebalance.handoffRecords > 0)
  })

  it('puts with TTLs: expired keys are not lost writes, and no read returns an expired value', () => {
    const result = cleanRun('ttl-1', { ttlFraction: 0.5, ttlMinMs: 50, ttlMaxMs: 1_500 })
    const ttlPuts = result.operations.filter((op) => op.expiresAtMs !== undefined)
    assert.ok(ttlPuts.filter((op) => op.outcome === 'ok').length >= 50, 'TTL puts acknowledged')
  })

  it('conditional puts: acknowledged ones obey the no-loss rules, 412s never appear', () => {
    const result = cleanRun('cond-2', { conditionalFraction: 0.5 })
    const conditional = result.operations.filter(isConditional)
    assert.ok(conditional.filter((op) => op.outcome === 'ok').length > 10, 'some conditions held')
    assert.ok(conditional.filter((op) => op.outcome === 'failed').length > 10, 'some got 412')
  })

  // Seeds on which this simulator found production bugs, now fixed (default options, 8 s):
  // 8 — the driver retried a failed quorum read on the previous placement's replicas, which
  //     had dropped the partition: "not found" for an acknowledged write (replication-driver.ts);
  // 21 — a node that had joined (partitions received) left at once: a stale 'received'
  //     inbound entry hid its hand-offs from outboundPending (rebalance.ts; the direct
  //     regression test is in test/replication/rebalance.test.ts: this run showed it only
  //     as a hint left for the departed node: hints for departed nodes are now re-targeted to
  //     the keys' current replicas, and convergence waits for every hint again);
  // 37 — a replica replied 'applied' to an If-None-Match put that its engine then refused
  //     (an older write had committed in between): an acknowledged put stored nowhere
  //     (replica.ts putReplyAfterWrite).
  // 80 — a join: the new replica streamed the partition from ONE old replica, which had missed
  //     a write acknowledged by the two others; once it reported the hand-off done one of those
  //     dropped its copy, and a read quorum {new replica, the old one that missed it} answered
  //     stale. Receivers now stream from a read quorum of the old replicas, and while still
  //     streaming answer gets with the newest of their copy and a read quorum of the old
  //     replicas' (rebalance.ts, replica.ts routeGet; test/replication/rebalance.test.ts);
  // 61 — a leave (a TTL put was only the victim, not the cause): a node that had not yet applied
  //     the placement that made it a replica answered 'no record' to a get, and with a replica
  //     that had missed the write formed a read quorum (replica.ts routeGet: a node that does
  //     not hold a partition refuses gets for it; test/replication/replica-get-route.test.ts).
  for (const seed of ['8', '21', '37', '80', '61']) {
    it(`regression seed ${seed} passes`, () => {
      cleanRun(seed, {})
    })
  }

  // cond-3 (and swarm seeds 2035, 2042) — the coordinator answered a conditional put 412 as
  //     soon as W was out of reach, while a replica whose condition held could still apply it;
  //     LWW then spread it: a "definitely failed" put became visible (phantom). A 412 now means
  //     every put sent was answered "not applied", and a conditional write stores no hint
  //     unless it happened or may have (coordinator.ts; test/replication/coordinator.test.ts).
  it('a conditional put is answered 412 only when no replica applied it (regression seed cond-3)', () => {
    const result = cleanRun('cond-3', { conditionalFraction: 0.5 })
    const conditional = result.operations.filter(isConditional)
    assert.ok(conditional.filter((op) => op.outcome === 'failed').length > 10, 'some got 412')
  })
  for (const seed of ['2035', '2042']) {
    it(`conditional puts: regression swarm seed ${seed} passes`, () => {
      const result = runSimulation(swarmOptions(seed), { isLogging: false })
      assert.ok(result.ok, `${explain(result)} --swarm`)
    })
  }

  // 2050 (swarm; 1007 on some code versions) — a put acknowledged by a node that was not a
  //     replica in its own view: n2 left, n4 still had the old placement and acked a put from n1
  //     (new placement) for a partition it did not hold; n1 crashed, and a quorum read n4 then
  //     coordinated under the old placement got the older value from n3 and the departing n2.
  //     A node now refuses a replica put for a partition it does not hold in its applied
  //     placement, by routeGet's rule (replica.ts partitionRefusal/handlePut; the coordinator
  //     counts the refusal as a failed replica; test/replication/replica-put-holding.test.ts).
  it('a node refuses replica puts for partitions it does not hold (regression swarm seed 2050)', () => {
    const result = runSimulation(swarmOptions('2050'), { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
    assert.ok((result.faults.leave ?? 0) >= 1, 'a node left')
  })

  // 2084, 2086 (swarm) — a transfer in progress was cancelled by the next plan, and the node
  //     then answered gets from its half-streamed copy as if it were complete. 2084: a joiner
  //     that left before its second pass answered as an old replica handing the partition off;
  //     2086: two nodes that stayed replicas across the next plan answered as plain replicas.
  //     Each formed a read quorum that missed an acknowledged write (2086: also a delete, so
  //     the deleted value reappeared). A transfer the plan keeps the node a replica for now
  //     keeps going, and one cut short leaves reads merging a read quorum of its sources until
  //     the partition is dropped (rebalance.ts applyPlan/readQuorumOf;
  //     test/replication/rebalance.test.ts).
  for (const seed of ['2084', '2086']) {
    it(`a transfer cut short by a new plan is never read as a complete copy (regression swarm seed ${seed})`, () => {
      const result = runSimulation(swarmOptions(seed), { isLogging: false })
      assert.ok(result.ok, `${explain(result)} --swarm`)
      assert.ok((result.faults.leave ?? 0) >= 1, 'a node left')
    })
  }

  // 4149, 4183 (swarm) — a coordinator that had not heard of a leave (ownership deltas spent
  //     during a partition) read from the leaving node, still handing the partition off, and
  //     from a replica that had missed a put the new replicas acknowledged: an older value
  //     (4183: also a deleted value back). A node handing a partition off now refuses
  //     coordinators' gets and puts and answers only receivers' forwarded gets (replica.ts
  //     partitionRefusal/routeGet; test/replication/replica-get-route.test.ts).
  for (const seed of ['4149', '4183']) {
    it(`an old replica handing a partition off answers no coordinator (regression swarm seed ${seed})`, () => {
      const result = runSimulation(swarmOptions(seed), { isLogging: false })
      assert.ok(result.ok, `${explain(result)} --swarm`)
      assert.ok((result.faults.leave ?? 0) >= 1, 'a node left')
    })
  }

  // 5054 (swarm) — a rejoined node on a slow disk marked a partition received when the last
  //     page arrived, before its pages were committed, and answered a quorum read from its
  //     engine ('no record'); with a replica that had been down for the put it returned an
  //     older value. A transfer now counts as received once every page is durable
  //     (rebalance.ts onPersisted; test/replication/rebalance.test.ts).
  it('a partition streamed in is read alone only once its pages are durable (regression swarm seed 5054)', () => {
    const result = runSimulation(swarmOptions('5054'), { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
    assert.ok((result.faults.join ?? 0) >= 1, 'a node joined')
  })

  // 5193 (swarm) — a graceful leave while the other owners had just crashed or were down: its
  //     removal reached no live node by gossip, it stopped, and the others restarted from their
  //     persisted sets with it still an owner, for good (no convergence). A leave now pushes
  //     its state to the other owners until one takes it, bounded by leaveTimeoutMs
  //     (ClusterRuntime.leave, SimNode.leave; test/cluster-runtime/ownership.test.ts).
  //     6011: a node crashed while pushing its removal; its restarted core numbered joins from
  //     the start again and the stale push claimed the boot join's completion (never joined).
  for (const seed of ['5193', '6011']) {
    it(`a leave waits until another owner holds its removal (regression swarm seed ${seed})`, () => {
      const result = runSimulation(swarmOptions(seed), { isLogging: false })
      assert.ok(result.ok, `${explain(result)} --swarm`)
      assert.ok((result.faults.leave ?? 0) >= 1, 'a node left')
    })
  }

  // 8093 (swarm) — three leavers rejoined as the new replicas of a partition. One streamed it
  //     from two of the others while they were still booting (no placement applied, the
  //     partition dropped when they left): their empty pages counted as two full passes, it
  //     reported done, and the only holders' copies were lost to the final placement (an
  //     acknowledged w=all put). A node that has not applied a placement now refuses
  //     handoff-requests (replica.ts handoffSourceRefusal; test/replication/handoff-source-refusal.test.ts).
  it('a node that has not joined serves no hand-off pages (regression swarm seed 8093)', () => {
    const result = runSimulation(swarmOptions('8093'), { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
    assert.ok((result.faults.leave ?? 0) >= 1, 'a node left')
  })

  // 10024 (swarm) — three owners in the leavers' views, N = 3: a quorum put acknowledged by n5
  //     and n4 (n1's copy timed out). n4 left: the new replicas {n1, n5} were old replicas, so
  //     nobody streamed and n4 dropped at once; n5 then left on a view that had not heard of
  //     n4's leave ({n1, n4} staying) and dropped at once too. When a replica set shrinks, the
  //     staying replicas now stream the partition as well and the leaver waits for them
  //     (rebalance.ts planRebalance; test/replication/rebalance.test.ts).
  it('a shrinking replica set streams to its staying replicas before the leaver drops (regression swarm seed 10024)', () => {
    const result = runSimulation(swarmOptions('10024'), { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
    assert.ok((result.faults.leave ?? 0) >= 1, 'a node left')
  })

  // 11132 (swarm, no skew) — a w=one put of k2 through n4 was stamped and acknowledged inside
  //     millisecond 19338 (…19338-0-n4); a w=all delete through n1, invoked after that
  //     acknowledgement but still in millisecond 19338, got …19338-0-n1: n1's HLC had seen
  //     nothing newer, and the node id broke the tie against it. Its replicas answered stale (an
  //     ack), and a later quorum read returned the deleted value. Coordinators now hold a write's
  //     acknowledgement until the wall clock has left the version's millisecond (commit wait:
  //     hlc/commit-wait.ts; test/hlc/commit-wait.test.ts).
  it('a write acknowledged inside one millisecond orders before a later write through another node (regression swarm seed 11132)', () => {
    const result = runSimulation(swarmOptions('11132'), { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
  })

  // 8025 (swarm) — n1 crashed as a member of {n1..n4}; while it was down n3 left, and
  //     {n1, n2, n4} made n1 a replica of k14's partition, whose acknowledged TTL put only the
  //     leavers n3 and n5 held. n1 restarted on its data and applied the placement with no plan
  //     (none for a member restarting with data), answered as a complete replica, took n2's
  //     older copy by anti-entropy, and {n2, n1} returned it where the expired record should
  //     have shadowed it. A member restarting on its data now plans from its persisted ownership
  //     set (rebalance.ts ownersBeforeStart; test/replication/restart-plan.test.ts).
  it('a member restarting on its data streams the partitions it gained while down (regression swarm seed 8025)', () => {
    const result = runSimulation(swarmOptions('8025'), { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
    assert.ok((result.faults.crash ?? 0) >= 1, 'a node crashed')
    assert.ok((result.faults.leave ?? 0) >= 1, 'a node left')
  })

  // 18135 (swarm) — while n6 was down, n3, n4 and n5 left, so writes and deletes of partitions
  //     0, 5 and 6 were acknowledged by the leavers n4 and n5 only. n6 restarted as the only
  //     member and applied its placement with no plan (none for the only owner), answering
  //     quorum reads alone from its copy from before the crash (a deleted k3 came back); nodes
  //     that rejoined then streamed from the owners only, each other (still receiving) and n6.
  //     The only owner left now plans from its persisted set like any member, a pass from a
  //     source whose copy may be incomplete is merged but not counted, and receivers stream
  //     from the leavers too (rebalance.ts, replica.ts handoffSourceIsPartial;
  //     test/replication/handoff-partial-sources.test.ts).
  it('hand-off sources follow where the data is (regression swarm seed 18135)', () => {
    const result = runSimulation(swarmOptions('18135'), { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
    assert.ok((result.faults.crash ?? 0) >= 1, 'a node crashed')
    assert.ok((result.faults.leave ?? 0) >= 1, 'a node left')
  })

  // 5442 (swarm) — a power loss at 19.9 s struck while n3, n5, n6 and n7 were leaving; k18's
  //     acknowledged put (partition 7) was durable on n1, n2 and n4, the replicas of {n1, n2,
  //     n4}. The leavers restarted and rejoined as new owners, each planning from "the owners
  //     minus itself", so their sources for partition 7 were each other and n5, which all
  //     answered partial pages without k18; with every candidate answered they settled for the
  //     union, said handoff-done, and n1, n2 and n4, which await exactly these receivers, dropped
  //     the partition. Receivers now ask the other owners too before settling (rebalance.ts
  //     applyPlan owners; test/replication/handoff-other-owners.test.ts).
  it('receivers whose guessed sources hold nothing stream from the owners that do (regression swarm seed 5442)', () => {
    const result = runSimulation(swarmOptions('5442'), { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
    assert.ok((result.faults['power-loss'] ?? 0) >= 1, 'every node lost power')
    assert.ok((result.faults.leave ?? 0) >= 1, 'a node left')
  })

  // 2139 (swarm) — exposed by the first version of the 5442 fix, which shifted its schedule: n5
  //     drained partition 1 to the new replicas with plain puts and left while n2 still waited
  //     for n5's pass as an old replica of its plan, forever (not converged). A receiver now
  //     waits for an old replica only while it is an owner (rebalance.ts tick isOwner;
  //     test/replication/handoff-other-owners.test.ts).
  it('a receiver does not wait for an old replica that left for good (regression swarm seed 2139)', () => {
    const result = runSimulation(swarmOptions('2139'), { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
    assert.ok((result.faults.leave ?? 0) >= 1, 'a node left')
  })

  // 8235 (swarm) — after a power loss, n2 and n4 (which had been leaving) rejoined, n5 left, and
  //     both placed partition 8 on {n2, n4, n3} while still streaming it in as new replicas; n1
  //     and n3, cut off by a split until just before, still placed it on {n5, n3, n1}. A quorum
  //     put of k2 through n4 (n3 unreachable from it) was acknowledged by n4 and n2, a quorum
  //     read through n3 was answered by n3 and n1 with an older value (stale read). A new
  //     replica still streaming the partition in now says so in its put-reply, and a write
  //     needs min(W, N − quorum + 1) acks from the other replicas (docs/simulation.md finding
  //     22; coordinator.ts, replica.ts isNewReplicaStreamingIn;
  //     test/replication/receiver-acks.test.ts).
  it('acks from replicas still receiving the partition do not make a quorum alone (regression swarm seed 8235)', () => {
    const result = runSimulation(swarmOptions('8235'), { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
    assert.ok((result.faults['power-loss'] ?? 0) >= 1, 'every node lost power')
    assert.ok((result.faults.leave ?? 0) >= 1, 'a node left')
  })

  // 5096 (swarm) — an If-None-Match put of k12 through n4: its first attempt failed with an
  //     unknown outcome (n4 rejected the condition, the put to n1 failed in the transport, n3
  //     refused it by the fence), and its copy for n1 went to the fallback n2 as a hint; the
  //     retry (refusalRetryDelayMs) found n4 and n3 rejecting the condition and n1 unreachable,
  //     and answered 412, while the hint was delivered and the value became the key's (phantom).
  //     A write coordinated again after an unknown outcome never answers 412 now
  //     (docs/simulation.md finding 24; coordinator.ts `earlierAttemptMayHaveApplied`;
  //     test/replication/refusal-retry.test.ts).
  it('a conditional put retried after an unknown outcome is never answered 412 (regression swarm seed 5096)', () => {
    const result = runSimulation(swarmOptions('5096'), { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
    assert.ok(result.history.failed > 0, 'some conditional puts failed')
  })

  it('hints held for a node that left the ownership set are re-targeted to the current replicas (swarm seed 1009)', () => {
    // Before, such hints were never delivered nor deleted, and convergence had to ignore them.
    // Now every hint must be delivered before the run counts as converged (checks.ts).
    const result = runSimulation(swarmOptions('1009'), { isLogging: false })
    assert.ok(result.ok, `${explain(result)} --swarm`)
    assert.ok((result.faults.leave ?? 0) >= 1, 'a node left')
    assert.ok(result.rebalance.hintsRetargeted > 0, 'hints for a departed node were re-targeted')
    assert.equal(result.rebalance.orphanHints, 0)
  })
})
