/**
 * SessionService.Watch: one server stream per watcher, served by the node's WatchHub
 * (src/watch/). This file only adapts: it validates the request, turns the hub's batches into
 * WatchResponses, and the hub's errors into the stream's status (errors.ts).
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { SessionChangeType } from '../session/index.js';
import type { RingEvent, WatchBatch, WatchOutput, WatchSource, WatchSubscription } from '../watch/index.js';
import { malformedReason } from './decode.js';
import { ApiError, toApiError, toServiceError } from './errors.js';
import { sessionToWire } from './mapping.js';
import { validateWatch } from './validate.js';
import type { WireWatchEvent, WireWatchEventType, WireWatchRequest, WireWatchResponse } from './wire.js';

type WatchCall = ServerWritableStream<WireWatchRequest, WireWatchResponse>;

const EVENT_TYPES: Readonly<Record<SessionChangeType, WireWatchEventType>> = Object.freeze({
  created: 'WATCH_EVENT_TYPE_CREATED',
  updated: 'WATCH_EVENT_TYPE_UPDATED',
  touched: 'WATCH_EVENT_TYPE_TOUCHED',
  deleted: 'WATCH_EVENT_TYPE_DELETED',
  expired: 'WATCH_EVENT_TYPE_EXPIRED',
});

export function watchEventToWire(event: RingEvent): WireWatchEvent {
  const change = event.change;
  return {
    index: change.index,
    position: change.position,
    slot: change.slot,
    type: EVENT_TYPES[change.type],
    session: sessionToWire(change.session, event.dataJson),
  };
}

export function watchBatchToWire(batch: WatchBatch): WireWatchResponse {
  return { events: batch.events.map(watchEventToWire), progressIndex: batch.progressIndex };
}

/** Serves one Watch call until the client goes away or the hub ends it. */
export function serveWatch(call: WatchCall, source: WatchSource | undefined, logger: Logger): void {
  let ended = false;
  const end = (error: unknown): void => {
    if (ended) return;
    ended = true;
    call.emit('error', toServiceError(toApiError(error, undefined, logger)));
  };
  const output: WatchOutput = {
    write: (batch, done) => {
      if (ended) return;
      call.write(watchBatchToWire(batch), () => done());
    },
    fail: end,
  };
  let subscription: WatchSubscription | undefined;
  const cancel = (): void => {
    ended = true;
    subscription?.cancel();
  };
  call.once('cancelled', cancel);
  call.once('close', cancel);
  try {
    const malformed = malformedReason(call.request);
    if (malformed !== undefined) throw new ApiError(status.INVALID_ARGUMENT, malformed);
    if (source === undefined) throw new ApiError(status.UNIMPLEMENTED, 'this server serves no Watch');
    subscription = source.subscribe(validateWatch(call.request), output);
    if (ended) subscription.cancel();
  } catch (error) {
    end(error);
  }
}
