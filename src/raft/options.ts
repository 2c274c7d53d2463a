/** Defaults and validation of RaftOptions: validated once, frozen. */
import type { PlantedBugs, RaftOptions } from './api.js';
import type { NodeId } from './types.js';

export interface ResolvedRaftOptions {
  readonly id: NodeId;
  readonly electionTimeoutTicks: number;
  readonly heartbeatIntervalTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly inflightMessagesMax: number;
  readonly inflightBytesMax: number;
  readonly appendBatchBytesMax: number;
  readonly uncommittedEntriesMax: number;
  readonly pendingReadsMax: number;
  readonly readIndexRetryTicks: number;
  readonly random: () => number;
  readonly plantedBugs: Required<PlantedBugs>;
}

export const RAFT_DEFAULTS = Object.freeze({
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 1,
  preVote: true,
  checkQuorum: true,
  inflightMessagesMax: 256,
  inflightBytesMax: 8 * 1024 * 1024,
  appendBatchBytesMax: 1024 * 1024,
  uncommittedEntriesMax: 10_000,
  pendingReadsMax: 10_000,
});

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`raft option ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

export function resolveRaftOptions(options: RaftOptions): ResolvedRaftOptions {
  positiveInteger('id', options.id);
  if (typeof options.random !== 'function') {
    throw new RangeError('raft option random must be a function returning numbers in [0, 1)');
  }
  const d = RAFT_DEFAULTS;
  const resolved: ResolvedRaftOptions = {
    id: options.id,
    electionTimeoutTicks: positiveInteger('electionTimeoutTicks', options.electionTimeoutTicks ?? d.electionTimeoutTicks),
    heartbeatIntervalTicks: positiveInteger(
      'heartbeatIntervalTicks',
      options.heartbeatIntervalTicks ?? d.heartbeatIntervalTicks,
    ),
    preVote: options.preVote ?? d.preVote,
    checkQuorum: options.checkQuorum ?? d.checkQuorum,
    inflightMessagesMax: positiveInteger('inflightMessagesMax', options.inflightMessagesMax ?? d.inflightMessagesMax),
    inflightBytesMax: positiveInteger('inflightBytesMax', options.inflightBytesMax ?? d.inflightBytesMax),
    appendBatchBytesMax: positiveInteger('appendBatchBytesMax', options.appendBatchBytesMax ?? d.appendBatchBytesMax),
    uncommittedEntriesMax: positiveInteger(
      'uncommittedEntriesMax',
      options.uncommittedEntriesMax ?? d.uncommittedEntriesMax,
    ),
    pendingReadsMax: positiveInteger('pendingReadsMax', options.pendingReadsMax ?? d.pendingReadsMax),
    readIndexRetryTicks: positiveInteger(
      'readIndexRetryTicks',
      options.readIndexRetryTicks ?? Math.ceil((options.electionTimeoutTicks ?? d.electionTimeoutTicks) / 2),
    ),
    random: options.random,
    plantedBugs: Object.freeze({
      commitPreviousTermByCount: options.plantedBugs?.commitPreviousTermByCount ?? false,
      noNoopAtTermStart: options.plantedBugs?.noNoopAtTermStart ?? false,
      voteNotPersisted: options.plantedBugs?.voteNotPersisted ?? false,
      readIndexWithoutQuorum: options.plantedBugs?.readIndexWithoutQuorum ?? false,
      unsafeMembershipChange: options.plantedBugs?.unsafeMembershipChange ?? false,
    }),
  };
  if (resolved.heartbeatIntervalTicks >= resolved.electionTimeoutTicks) {
    throw new RangeError(
      `raft option heartbeatIntervalTicks (${resolved.heartbeatIntervalTicks}) must be below electionTimeoutTicks (${resolved.electionTimeoutTicks})`,
    );
  }
  return Object.freeze(resolved);
}
