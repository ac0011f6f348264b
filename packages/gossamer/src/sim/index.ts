/**
 * The deterministic whole-cluster simulator (issue 5; docs/simulation.md): production cores on
 * virtual time with a seeded fault schedule, checked against the §4 promise.
 */
export { ClusterSim, runSimulation, type SimFailure, type SimResult } from './cluster-sim.ts'
export {
  FAILURE_KINDS,
  FAULT_KINDS,
  type FaultKind,
  MEMBERSHIP_KINDS,
  parseDurationMs,
  resolveSimOptions,
  SIM_DEFAULTS,
  type SimOptions,
  swarmOptions,
} from './options.ts'
