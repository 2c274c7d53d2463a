/**
 * Access and load control for every call to the node's port, as one grpc-js server
 * interceptor (runs before any handler, for every service):
 *
 * - Client token: with `clientToken`, every call outside the peer service must carry
 *   `authorization: Bearer <token>` (compared in constant time), else UNAUTHENTICATED and the
 *   handler never runs. The peer service authenticates its own calls (src/transport/security.ts).
 * - Overload: at most `requestsMax` unary calls in flight and `streamsMax` streaming calls open
 *   (peer calls excluded: the transport bounds them). One past a bound is answered
 *   RESOURCE_EXHAUSTED at once, before its handler runs; a slot frees when its call ends.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';

export const PEER_SERVICE_PREFIX = '/sessionraft.raft.v1.RaftTransport/';
export const AUTHORIZATION_METADATA_KEY = 'authorization';

export interface AccessOptions {
  /** Bearer token every client call must carry; none: no check. */
  readonly clientToken?: string;
  /** Unary calls in flight at once. @default 4096 */
  readonly requestsMax?: number;
  /** Streaming calls (Batch, Watch...) open at once. @default 1024 */
  readonly streamsMax?: number;
}

export const ACCESS_DEFAULTS = Object.freeze({ requestsMax: 4096, streamsMax: 1024 });

export interface AccessControl {
  readonly interceptor: grpc.ServerInterceptor;
  /** Calls holding a slot now. */
  inFlight(): { readonly requests: number; readonly streams: number };
  /** Calls refused so far, by reason. */
  refused(): { readonly unauthenticated: number; readonly overloaded: number };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Checks a token read from a file: 16+ printable ASCII bytes, no whitespace inside. */
export function checkClientToken(token: string): string {
  const trimmed = token.trim();
  if (trimmed.length < 16) throw new RangeError('the client token must have at least 16 characters');
  if (!/^[\x21-\x7e]+$/.test(trimmed)) throw new RangeError('the client token must be printable ASCII without spaces');
  return trimmed;
}

export function createAccessControl(options: AccessOptions = {}): AccessControl {
  const requestsMax = options.requestsMax ?? ACCESS_DEFAULTS.requestsMax;
  const streamsMax = options.streamsMax ?? ACCESS_DEFAULTS.streamsMax;
  for (const [name, value] of [['requestsMax', requestsMax], ['streamsMax', streamsMax]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  const expected = options.clientToken === undefined ? undefined : digest(`Bearer ${checkClientToken(options.clientToken)}`);
  let requests = 0;
  let streams = 0;
  let unauthenticated = 0;
  let overloaded = 0;

  const interceptor: grpc.ServerInterceptor = (method, call) => {
    if (method.path.startsWith(PEER_SERVICE_PREFIX)) return new grpc.ServerInterceptingCall(call);
    const streaming = method.requestStream || method.responseStream;
    let holding = false;
    const release = (): void => {
      if (!holding) return;
      holding = false;
      if (streaming) streams--;
      else requests--;
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            if (expected !== undefined) {
              const sent = metadata.get(AUTHORIZATION_METADATA_KEY)[0];
              if (typeof sent !== 'string' || !timingSafeEqual(digest(sent), expected)) {
                unauthenticated++;
                call.sendStatus({
                  code: grpc.status.UNAUTHENTICATED,
                  details: `${typeof sent === 'string' ? 'wrong' : 'missing'} client token: send 'authorization: Bearer <token>' metadata`,
                });
                return;
              }
            }
            const [count, limit, name] = streaming ? [streams, streamsMax, 'streamsMax'] : [requests, requestsMax, 'requestsMax'];
            if (count >= limit) {
              overloaded++;
              call.sendStatus({
                code: grpc.status.RESOURCE_EXHAUSTED,
                details: `${name} (${limit}) ${streaming ? 'streams open' : 'requests in flight'} on this node: back off and retry`,
              });
              return;
            }
            holding = true;
            if (streaming) streams++;
            else requests++;
            nextMetadata(metadata);
          },
          onCancel: () => release(),
        });
      },
      sendStatus: (status, nextStatus) => {
        release();
        nextStatus(status);
      },
    });
  };

  return {
    interceptor,
    inFlight: () => ({ requests, streams }),
    refused: () => ({ unauthenticated, overloaded }),
  };
}
