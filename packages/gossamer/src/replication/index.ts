/**
 * Public surface of the replication layer (architecture §6): the sans-I/O cores and their
 * message shapes. See docs/replication.md for the mechanisms and guarantees.
 */
export {
  type AaeStep,
  ANTI_ENTROPY_DEFAULTS,
  AntiEntropy,
  type AntiEntropyConfig,
  AntiEntropySession,
  acceptPush,
  answerHashes,
  answerKeys,
  messageCost,
  type PartitionPeers,
  type RecordReader,
  type SessionState,
  type TreeBuilder,
} from './anti-entropy.ts'
export {
  type Consistency,
  parseConsistency,
  type ReplicaReport,
  type ReplicationErrorCode,
  type ReplicationFailure,
  requiredCount,
} from './consistency.ts'
export {
  type CoordinatorStep,
  ReadCoordinator,
  type ReadRequest,
  type ReadResult,
  type Targets,
  WriteCoordinator,
  type WriteRequest,
  type WriteResult,
} from './coordinator.ts'
export {
  bucketOf,
  DEFAULT_TREE_SHAPE,
  HashTree,
  isValidShape,
  type ScanReader,
  scanPartitionEntries,
  scanPartitionsEntries,
  TREE_LEAVES_MAX,
  treeEntry,
} from './hash-tree.ts'
export {
  HINTED_HANDOFF_DEFAULTS,
  type Hint,
  HintedHandoff,
  type HintedHandoffConfig,
  type HintStore,
  type HintWrite,
  hintStoreKey,
  MemoryHintStore,
} from './hinted-handoff.ts'
export type * from './messages.ts'
export {
  isStale,
  newestRecord,
  planReadRepair,
  type ReadReply,
  type RepairTarget,
} from './read-repair.ts'
export {
  answerHandoffRequest,
  type HandoffState,
  ownersBeforeStart,
  type PartitionMove,
  planRebalance,
  REBALANCE_DEFAULTS,
  Rebalance,
  type RebalanceConfig,
  type RebalancePlan,
  type RebalanceStep,
} from './rebalance.ts'
export {
  handleGet,
  handleHintDeliver,
  handlePut,
  type ReplicaReader,
  type ReplicaStep,
} from './replica.ts'
