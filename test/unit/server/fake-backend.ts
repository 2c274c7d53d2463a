/**
 * An in-memory SessionBackend for the API tests: sessions in a Map, every write and read
 * recorded, and switches to act as a follower, throw a given error, or hold calls back.
 */
import { NotLeaderError } from '../../../src/node/index.js';
import { logIndex, nodeId, term, type LogIndex, type NodeId } from '../../../src/raft/index.js';
import type {
  CallOptions,
  MemberChange,
  NodeStatus,
  ReadOptions,
  SessionBackend,
  WriteOptions,
  WriteOutcome,
} from '../../../src/server/backend.js';
import type { CommandResult, JsonValue, Session, SessionCommand, SessionQueries } from '../../../src/session/index.js';

type Data = { readonly [key: string]: JsonValue };

export interface RecordedWrite {
  readonly command: SessionCommand;
  readonly options: WriteOptions;
}

export class FakeBackend implements SessionBackend {
  readonly sessions = new Map<string, Session>();
  readonly writes: RecordedWrite[] = [];
  readonly reads: ReadOptions[] = [];
  readonly memberChanges: MemberChange[] = [];
  readonly transfers: NodeId[] = [];
  index = 0;
  /** When set, writes (and non-stale reads) fail NotLeader with this leader. */
  follower: { leaderId: number; leaderAddress: string } | undefined;
  /** When set, the next write or read throws it (then it is cleared). */
  failNext: Error | undefined;
  /** When set, writes and reads wait for it before doing anything (and honour the signal). */
  gate: Promise<void> | undefined;
  nodeId: NodeId = nodeId(1);
  members: NodeStatus['members'] = [{ id: nodeId(1), address: '127.0.0.1:1', voter: true, matchIndex: logIndex(0) }];

  /** Holds every call until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.gate = undefined;
      release();
    };
  }

  async write(command: SessionCommand, options: WriteOptions = {}): Promise<WriteOutcome> {
    this.writes.push({ command, options });
    await this.wait(options.signal);
    this.throwIfTold();
    if (this.follower) throw new NotLeaderError(nodeId(this.follower.leaderId), this.follower.leaderAddress || undefined);
    this.index++;
    const result = this.apply(command);
    // Like the node: an ASYNC write is answered after the leader's fsync, before apply, so its
    // result is not known yet.
    if (options.durability === 'async') return { index: logIndex(this.index), result: { ok: true }, durability: 'async' };
    return { index: logIndex(this.index), result, durability: 'sync' };
  }

  async read<T>(query: (view: SessionQueries, appliedIndex: LogIndex, readTimeMs: number) => T, options: ReadOptions = {}): Promise<T> {
    this.reads.push(options);
    await this.wait(options.signal);
    this.throwIfTold();
    if (this.follower && options.consistency !== 'stale') {
      throw new NotLeaderError(nodeId(this.follower.leaderId), this.follower.leaderAddress || undefined);
    }
    return query(this.view(), logIndex(this.index), Date.now());
  }

  status(): NodeStatus {
    const leader = this.follower ? this.follower.leaderId : this.nodeId;
    return {
      raft: {
        id: this.nodeId,
        role: this.follower ? 'follower' : 'leader',
        term: term(3),
        vote: this.nodeId,
        leader: nodeId(leader),
        commit: logIndex(this.index),
        applied: logIndex(this.index),
        firstIndex: logIndex(1),
        lastIndex: logIndex(this.index),
        confState: { voters: this.members.map((m) => m.id), learners: [] },
        peers: [],
        transferee: nodeId(0),
      },
      members: this.members,
      stateDigest: 'ab'.repeat(16),
      appliedIndex: logIndex(this.index),
      clusterId: 'test-cluster',
    };
  }

  async changeMembership(change: MemberChange, options: CallOptions = {}): Promise<LogIndex> {
    await this.wait(options.signal);
    this.throwIfTold();
    if (this.follower) throw new NotLeaderError(nodeId(this.follower.leaderId), this.follower.leaderAddress);
    this.memberChanges.push(change);
    return logIndex(++this.index);
  }

  async transferLeadership(target: NodeId, options: CallOptions = {}): Promise<void> {
    await this.wait(options.signal);
    this.throwIfTold();
    if (this.follower) throw new NotLeaderError(nodeId(this.follower.leaderId), this.follower.leaderAddress);
    this.transfers.push(target);
  }

  private async wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.gate === undefined) return;
    await new Promise<void>((resolve, reject) => {
      signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      void this.gate!.then(resolve);
    });
  }

  private throwIfTold(): void {
    const error = this.failNext;
    if (error === undefined) return;
    this.failNext = undefined;
    throw error;
  }

  private live(sessionId: string): Session | undefined {
    const session = this.sessions.get(sessionId);
    return session && session.expiresAtMs > Date.now() ? session : undefined;
  }

  private put(session: Omit<Session, 'expiresAtMs'>): Session {
    const lifetimeEnd = session.maxLifetimeMs > 0 ? session.createdAtMs + session.maxLifetimeMs : Infinity;
    const full = { ...session, expiresAtMs: Math.min(session.lastActivityMs + session.ttlMs, lifetimeEnd) };
    this.sessions.set(full.sessionId, full);
    return full;
  }

  private apply(command: SessionCommand): CommandResult {
    const now = Date.now();
    switch (command.type) {
      case 'create': {
        const { type: _type, ...fields } = command;
        return { ok: true, session: this.put({ ...fields, createdAtMs: now, updatedAtMs: now, lastActivityMs: now, version: 1 }) };
      }
      case 'update': {
        const current = this.live(command.sessionId);
        if (!current) return { ok: false, code: 'notFound', message: `session ${command.sessionId} not found` };
        if (command.expectedVersion !== 0 && command.expectedVersion !== current.version) {
          return { ok: false, code: 'versionMismatch', message: `session ${command.sessionId} is at version ${current.version}, not the expected ${command.expectedVersion}` };
        }
        const data: Record<string, JsonValue> = { ...current.data };
        for (const [key, value] of Object.entries(command.merge)) {
          if (value === null) delete data[key];
          else data[key] = value;
        }
        const ttlMs = command.ttlMs === 0 ? current.ttlMs : command.ttlMs;
        return { ok: true, session: this.put({ ...current, data: data as Data, ttlMs, version: current.version + 1, updatedAtMs: now, lastActivityMs: now }) };
      }
      case 'touch': {
        const current = this.live(command.sessionId);
        if (!current) return { ok: false, code: 'notFound', message: `session ${command.sessionId} not found` };
        return { ok: true, session: this.put({ ...current, version: current.version + 1, lastActivityMs: now }) };
      }
      case 'delete': {
        if (!this.live(command.sessionId)) return { ok: false, code: 'notFound', message: `session ${command.sessionId} not found` };
        this.sessions.delete(command.sessionId);
        return { ok: true, deleted: 1 };
      }
      case 'deleteByClient': {
        let deleted = 0;
        for (const session of [...this.sessions.values()]) {
          if (session.clientId !== command.clientId) continue;
          this.sessions.delete(session.sessionId);
          deleted++;
        }
        return { ok: true, deleted };
      }
      case 'expire':
        return { ok: false, code: 'invalid', message: 'expire is not sent by the API' };
    }
  }

  private view(): SessionQueries {
    const live = (nowMs: number): Session[] =>
      [...this.sessions.values()].filter((s) => s.expiresAtMs > nowMs).sort((a, b) => (a.sessionId < b.sessionId ? -1 : 1));
    return {
      get: (sessionId, nowMs) => {
        const session = this.sessions.get(sessionId);
        return session && session.expiresAtMs > nowMs ? session : undefined;
      },
      listByClient: (clientId, nowMs, afterSessionId, limit) =>
        live(nowMs)
          .filter((s) => s.clientId === clientId && s.sessionId > afterSessionId)
          .slice(0, limit),
      count: (nowMs, clientId) => live(nowMs).filter((s) => clientId === undefined || s.clientId === clientId).length,
    };
  }
}
