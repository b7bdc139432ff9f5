/**
 * concord-store: an embedded replicated data store with a choice of consistency.
 * This is the package's one public entry point.
 */
export { openStore, type StoreOptions } from "./open-store.js";
// One mode's opener alone: an app importing only this one carries only that mode's code in its
// bundle (the package has no side effects), while `openStore` brings all three.
export { openEventualStore } from "./eventual/eventual-store.js";
export { openPrimaryStore } from "./primary/primary-client.js";
export { openStrongStore } from "./strong/strong-client.js";
export type {
  AckLevel,
  Change,
  ChangeEvent,
  ChangeListener,
  Mode,
  RangeOptions,
  Store,
  StoreStatus,
  Transaction,
  WriteAck,
  WriteOptions,
} from "./store.js";
export type { DurableUpdate, EventualOptions, EventualStatus, EventualStore } from "./eventual/eventual-store.js";
export type {
  PrimaryDurability,
  PrimaryNodes,
  PrimaryNodeStatus,
  PrimaryOptions,
  PrimaryReadInfo,
  PrimaryStatus,
  PrimaryStore,
  PrimaryWriteAck,
  PrimaryWriteOptions,
} from "./primary/primary-client.js";
export type {
  Condition,
  LogPosition,
  StrongNodeStatus,
  StrongOptions,
  StrongStatus,
  StrongStore,
  StrongTransactOptions,
  StrongWriteAck,
} from "./strong/strong-client.js";
export type { NodeReadInfo } from "./client/node-client.js";
export type { TransportSyncOptions } from "./eventual/sync-driver.js";
export type { SyncOptions, UrlSyncOptions } from "./eventual/sync-options.js";
export type { ServerStatus } from "./eventual/server-acks.js";
export type { Json } from "./json.js";
export { ConcordError, InvariantError, isConcordError, type ErrorCode } from "./errors.js";

// Persistence
export type { DocStorage, LogStats, Persistence, StoredLog } from "./storage/storage.js";
export type { FileSystem } from "./storage/fs.js";
export { fileStorage, type FileStorageOptions, type FsyncPolicy } from "./storage/file-storage.js";
export { indexedDbStorage, type IndexedDbStorageOptions } from "./storage/indexeddb-storage.js";
export { memoryStorage, type MemoryStorageOptions } from "./storage/memory-storage.js";

// Sagas: multi-step operations across documents (of any mode), each step with a compensation.
export { SagaCoordinator, type SagaCoordinatorOptions, type SagaStep, type StepContext } from "./saga/saga-coordinator.js";
export type { SagaOutcome, SagaState } from "./saga/saga-log.js";

// Transports
export type { Transport, TransportEvents } from "./net/transport.js";
export { MemoryNetwork } from "./net/memory-network.js";
export { asDocId, asPeerId, type DocId, type PeerId } from "./ids.js";

// Time, randomness and the deterministic simulator (for tests and the lab)
export { systemClock, type CancelTimer, type Clock } from "./clock.js";
export { seededRng, type Rng } from "./rng.js";
export { VirtualClock, type VirtualClockOptions } from "./sim/virtual-clock.js";
export { SimNetwork, type NetworkFaults, type SimNetworkOptions } from "./sim/sim-network.js";
export { SimDisk, type SimDiskOptions } from "./sim/sim-disk.js";
