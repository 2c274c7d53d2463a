/** Changes and a recording WatchOutput for the watch tests. */
import type { LogIndex } from '../../../src/raft/index.js';
import type { Session, SessionChange, SessionChangeType } from '../../../src/session/index.js';
import type { WatchBatch, WatchOutput } from '../../../src/watch/index.js';

export function session(id: string, clientId = 'alice', data: Session['data'] = {}): Session {
  return Object.freeze({
    sessionId: id,
    clientId,
    transport: 'http',
    createdAtMs: 1,
    updatedAtMs: 1,
    lastActivityMs: 1,
    data,
    ttlMs: 60_000,
    maxLifetimeMs: 0,
    version: 1,
    expiresAtMs: 60_001,
  });
}

export function change(index: number, position: number, clientId = 'alice', type: SessionChangeType = 'created', data: Session['data'] = {}): SessionChange {
  const dataBytes = Buffer.byteLength(JSON.stringify(data));
  return Object.freeze({ index: index as LogIndex, position, slot: position, type, session: session(`s${index}-${position}`, clientId, data), dataBytes });
}

/** `count` changes per index for indexes from..to. */
export function changes(from: number, to: number, perIndex = 1, clientOf: (index: number, position: number) => string = () => 'alice'): SessionChange[] {
  const out: SessionChange[] = [];
  for (let index = from; index <= to; index++) for (let p = 0; p < perIndex; p++) out.push(change(index, p, clientOf(index, p)));
  return out;
}

/** A stream that records what is written; `autoAck` false holds every write until ack(). */
export class RecordingOutput implements WatchOutput {
  readonly batches: WatchBatch[] = [];
  failure: Error | undefined;
  private readonly held: (() => void)[] = [];

  constructor(private readonly autoAck = true) {}

  write(batch: WatchBatch, done: () => void): void {
    this.batches.push(batch);
    if (this.autoAck) done();
    else this.held.push(done);
  }

  fail(error: Error): void {
    if (this.failure !== undefined) throw new Error('failed twice');
    this.failure = error;
  }

  /** Lets the held writes complete (a reader caught up). */
  ack(): void {
    for (const done of this.held.splice(0)) done();
  }

  /** [index, position] of every event received, in order. */
  get positions(): [number, number][] {
    return this.batches.flatMap((b) => b.events.map((e) => [e.change.index, e.change.position] as [number, number]));
  }

  get lastProgress(): number {
    return this.batches[this.batches.length - 1]?.progressIndex ?? -1;
  }
}
