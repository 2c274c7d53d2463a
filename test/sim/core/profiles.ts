/**
 * Fault profiles: the mix of faults, core options and workload a seed runs with. The `mixed`
 * profile is the default for the bulk seeds; the others concentrate on one scenario (a leader
 * crashing right after votes, partitions around back-to-back membership changes, a stale leader,
 * reads right after a transfer...) so a planted bug shows up in few seeds. Each seed samples
 * concrete numbers from a profile's ranges.
 */
import type { Prng } from '../prng.js';

export const BUG_NAMES = [
  'commitPreviousTermByCount',
  'noNoopAtTermStart',
  'voteNotPersisted',
  'readIndexWithoutQuorum',
  'unsafeMembershipChange',
  'sendBeforePersist',
] as const;
export type BugName = (typeof BUG_NAMES)[number];

export const PROFILE_NAMES = ['mixed', 'calm', 'voteCrash', 'figure8', 'membership', 'staleLeader', 'leaderChurn'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** The profile a bug test uses unless told otherwise (a scenario where the bug can matter). */
export const PROFILE_FOR_BUG: Readonly<Record<BugName, ProfileName>> = {
  commitPreviousTermByCount: 'figure8',
  noNoopAtTermStart: 'leaderChurn',
  voteNotPersisted: 'voteCrash',
  readIndexWithoutQuorum: 'staleLeader',
  unsafeMembershipChange: 'membership',
  sendBeforePersist: 'voteCrash',
};

type Range = readonly [number, number];

export interface Profile {
  readonly name: ProfileName;
  /** Ticks of the fault phase unless the caller says otherwise. @default 400 */
  readonly steps?: number;
  /** Forces the cluster size (else the seed or the caller decides). */
  readonly nodes?: 3 | 5;
  readonly network: { readonly dropProb: Range; readonly dupProb: Range; readonly delayTicksMax: Range; readonly spikeProb: Range };
  readonly partition: {
    readonly perTickProb: number;
    readonly durationTicks: Range;
    /** Of the partitions: share that are one-way link blocks. */
    readonly oneWayShare: number;
    /** Of the symmetric partitions: share that cut the leader off with a minority. */
    readonly isolateLeaderShare: number;
  };
  readonly crash: {
    readonly perTickProb: number;
    readonly downTicks: Range;
    /** Probability that a crash hits the current leader rather than a random node. */
    readonly leaderBias: number;
    /** Nodes down at once, as a share of the live nodes (rounded down, at least 1). */
    readonly downShareMax: number;
    /** Only ever crash the leader (no crash while there is none). @default false */
    readonly leaderOnly?: boolean;
  };
  /** Crash between the two IO phases of any Ready that sends messages. */
  readonly midReadyCrashProb: number;
  /** Crash between the two IO phases of a Ready that grants a vote. */
  readonly voteCrashProb: number;
  /** Crash a leader between the two IO phases of a Ready that appends entries. */
  readonly leaderAppendCrashProb: number;
  /** Crash a node between the two IO phases of the Ready that makes it leader. */
  readonly newLeaderCrashProb: number;
  readonly pause: { readonly perTickProb: number; readonly ticks: Range; readonly leaderBias: number };
  readonly membership: {
    readonly perTickProb: number;
    /** Conf changes proposed back to back in one burst (a correct core refuses all but the first). */
    readonly burstMax: number;
    readonly votersMin: number;
    readonly membersMax: number;
    /** Probability that a removal targets the leader itself. */
    readonly removeLeaderShare: number;
    /** Of the additions: share that add a voter directly (no learner stage). */
    readonly addVoterShare: number;
    /** A removed node keeps running this long after its removal is applied, then stops for good. */
    readonly retireDelayTicks: Range;
    /** Probability that a partition follows a burst within a few ticks (changes under partitions). */
    readonly partitionAfterBurstProb: number;
  };
  readonly transferPerTickProb: number;
  readonly compactEveryEntries: Range;
  readonly raft: {
    readonly electionTimeoutTicks: Range;
    readonly heartbeatIntervalTicks: Range;
    readonly preVoteProb: number;
    readonly checkQuorumProb: number;
    /** Bytes per append message; a tiny value sends one entry per message. */
    readonly appendBatchBytesMax: Range;
    readonly inflightMessagesMax: Range;
  };
  readonly workload: {
    readonly clients: Range;
    readonly keys: Range;
    readonly readShare: number;
    readonly deleteShare: number;
    readonly thinkTicks: Range;
    /** Operation timeout in election timeouts. */
    readonly timeoutElections: number;
  };
}

const MIXED: Profile = {
  name: 'mixed',
  network: { dropProb: [0, 0.08], dupProb: [0, 0.04], delayTicksMax: [1, 4], spikeProb: [0, 0.02] },
  partition: { perTickProb: 0.01, durationTicks: [10, 80], oneWayShare: 0.3, isolateLeaderShare: 0.4 },
  crash: { perTickProb: 0.006, downTicks: [5, 60], leaderBias: 0.4, downShareMax: 0.5 },
  midReadyCrashProb: 0.0005,
  voteCrashProb: 0.02,
  leaderAppendCrashProb: 0.002,
  newLeaderCrashProb: 0.02,
  pause: { perTickProb: 0.003, ticks: [5, 60], leaderBias: 0.5 },
  membership: {
    perTickProb: 0.006,
    burstMax: 2,
    votersMin: 3,
    membersMax: 6,
    removeLeaderShare: 0.3,
    addVoterShare: 0,
    retireDelayTicks: [0, 60],
    partitionAfterBurstProb: 0.1,
  },
  transferPerTickProb: 0.004,
  compactEveryEntries: [3, 40],
  raft: {
    electionTimeoutTicks: [10, 16],
    heartbeatIntervalTicks: [1, 3],
    preVoteProb: 0.8,
    checkQuorumProb: 0.8,
    appendBatchBytesMax: [1, 4096],
    inflightMessagesMax: [1, 64],
  },
  workload: { clients: [2, 5], keys: [1, 4], readShare: 0.4, deleteShare: 0.15, thinkTicks: [0, 6], timeoutElections: 4 },
};

const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  mixed: MIXED,
  calm: {
    ...MIXED,
    name: 'calm',
    network: { dropProb: [0, 0], dupProb: [0, 0], delayTicksMax: [1, 2], spikeProb: [0, 0] },
    partition: { ...MIXED.partition, perTickProb: 0 },
    crash: { ...MIXED.crash, perTickProb: 0 },
    midReadyCrashProb: 0,
    voteCrashProb: 0,
    leaderAppendCrashProb: 0,
    newLeaderCrashProb: 0,
    pause: { ...MIXED.pause, perTickProb: 0 },
    membership: { ...MIXED.membership, perTickProb: 0 },
    transferPerTickProb: 0,
  },
  voteCrash: {
    ...MIXED,
    name: 'voteCrash',
    crash: { ...MIXED.crash, perTickProb: 0.01, leaderBias: 0.8, downTicks: [1, 20] },
    voteCrashProb: 0.5,
    midReadyCrashProb: 0.002,
    membership: { ...MIXED.membership, perTickProb: 0.002 },
  },
  figure8: {
    ...MIXED,
    name: 'figure8',
    nodes: 3,
    network: { dropProb: [0.05, 0.2], dupProb: [0, 0.02], delayTicksMax: [1, 5], spikeProb: [0, 0.05] },
    // Leaders die (often right after winning) and get cut off while clients pile up entries
    // that trickle out one per message: logs diverge across terms, as in the paper's Figure 8.
    crash: { perTickProb: 0.03, downTicks: [1, 10], leaderBias: 1, downShareMax: 0.5, leaderOnly: true },
    newLeaderCrashProb: 0.3,
    partition: { perTickProb: 0.04, durationTicks: [10, 40], oneWayShare: 0, isolateLeaderShare: 1 },
    // The interleaving takes several leader changes in a row: give it time.
    steps: 1500,
    membership: { ...MIXED.membership, perTickProb: 0 },
    midReadyCrashProb: 0.002,
    raft: { ...MIXED.raft, checkQuorumProb: 0, appendBatchBytesMax: [1, 1], inflightMessagesMax: [1, 2] },
    workload: { ...MIXED.workload, clients: [4, 6], readShare: 0.2, thinkTicks: [0, 2] },
  },
  membership: {
    ...MIXED,
    name: 'membership',
    nodes: 5,
    // Partitions come right after bursts of changes (changes under partitions), not on their own.
    partition: { perTickProb: 0, durationTicks: [10, 60], oneWayShare: 0.1, isolateLeaderShare: 0.5 },
    crash: { ...MIXED.crash, perTickProb: 0.002 },
    membership: {
      perTickProb: 0.1,
      burstMax: 3,
      votersMin: 2,
      membersMax: 7,
      removeLeaderShare: 0,
      addVoterShare: 0,
      retireDelayTicks: [20, 150],
      partitionAfterBurstProb: 1,
    },
    // Pre-vote always: without it, two-voter configurations where one voter has a stale
    // configuration can duel for many election timeouts (see FINDINGS.md, finding 3).
    raft: { ...MIXED.raft, preVoteProb: 1 },
    workload: { ...MIXED.workload, clients: [3, 5], keys: [1, 2], readShare: 0.3 },
  },
  staleLeader: {
    ...MIXED,
    name: 'staleLeader',
    network: { dropProb: [0, 0.02], dupProb: [0, 0.01], delayTicksMax: [1, 2], spikeProb: [0, 0] },
    partition: { perTickProb: 0.02, durationTicks: [30, 120], oneWayShare: 0, isolateLeaderShare: 1 },
    crash: { ...MIXED.crash, perTickProb: 0.001 },
    pause: { perTickProb: 0.01, ticks: [20, 80], leaderBias: 0.9 },
    membership: { ...MIXED.membership, perTickProb: 0 },
    transferPerTickProb: 0,
    workload: { ...MIXED.workload, clients: [4, 6], keys: [1, 2], readShare: 0.6, thinkTicks: [0, 2] },
  },
  leaderChurn: {
    ...MIXED,
    name: 'leaderChurn',
    network: { dropProb: [0, 0.02], dupProb: [0, 0.01], delayTicksMax: [1, 3], spikeProb: [0, 0.01] },
    partition: { ...MIXED.partition, perTickProb: 0.005 },
    crash: { ...MIXED.crash, perTickProb: 0.01, leaderBias: 0.9, downTicks: [5, 30] },
    membership: { ...MIXED.membership, perTickProb: 0 },
    transferPerTickProb: 0.03,
    workload: { ...MIXED.workload, clients: [4, 6], keys: [1, 2], readShare: 0.5, thinkTicks: [0, 1] },
  },
};

export function profileNamed(name: string): Profile {
  const p = (PROFILES as Record<string, Profile | undefined>)[name];
  if (p === undefined) throw new RangeError(`unknown profile '${name}' (known: ${PROFILE_NAMES.join(', ')})`);
  return p;
}

export function isBugName(name: string): name is BugName {
  return (BUG_NAMES as readonly string[]).includes(name);
}

/** The concrete numbers one seed runs with. */
export interface SeedPlan {
  readonly profile: Profile;
  readonly network: { dropProb: number; dupProb: number; delayTicksMin: number; delayTicksMax: number; spikeProb: number };
  readonly compactEveryEntries: number;
  readonly raft: {
    electionTimeoutTicks: number;
    heartbeatIntervalTicks: number;
    preVote: boolean;
    checkQuorum: boolean;
    appendBatchBytesMax: number;
    inflightMessagesMax: number;
  };
  readonly workload: {
    clients: number;
    keys: number;
    readShare: number;
    deleteShare: number;
    thinkTicks: readonly [number, number];
    timeoutTicks: number;
  };
}

export function planSeed(profile: Profile, rng: Prng): SeedPlan {
  const real = (r: Range): number => r[0] + rng.float() * (r[1] - r[0]);
  const int = (r: Range): number => rng.int(r[0], r[1]);
  const electionTimeoutTicks = int(profile.raft.electionTimeoutTicks);
  return {
    profile,
    network: {
      dropProb: real(profile.network.dropProb),
      dupProb: real(profile.network.dupProb),
      delayTicksMin: 1,
      delayTicksMax: int(profile.network.delayTicksMax),
      spikeProb: real(profile.network.spikeProb),
    },
    compactEveryEntries: int(profile.compactEveryEntries),
    raft: {
      electionTimeoutTicks,
      heartbeatIntervalTicks: Math.min(int(profile.raft.heartbeatIntervalTicks), Math.floor(electionTimeoutTicks / 3)),
      preVote: rng.chance(profile.raft.preVoteProb),
      checkQuorum: rng.chance(profile.raft.checkQuorumProb),
      appendBatchBytesMax: rng.chance(0.5) ? int(profile.raft.appendBatchBytesMax) : profile.raft.appendBatchBytesMax[1],
      inflightMessagesMax: int(profile.raft.inflightMessagesMax),
    },
    workload: {
      clients: int(profile.workload.clients),
      keys: int(profile.workload.keys),
      readShare: profile.workload.readShare,
      deleteShare: profile.workload.deleteShare,
      thinkTicks: profile.workload.thinkTicks,
      timeoutTicks: profile.workload.timeoutElections * electionTimeoutTicks,
    },
  };
}
