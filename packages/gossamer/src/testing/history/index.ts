/**
 * Client histories and their checker (issue 5): record what clients did against a cluster, then
 * judge it against the promise of architecture §4. Used by the multi-process reliability
 * scenarios (test/reliability) and available to the simulator.
 */
export * from './checker.ts'
export * from './history.ts'
