/** The options of the client API services: one object, validated once, frozen. */
import type { Logger } from 'pino';
import { pino } from 'pino';
import { SESSION_STATE_MACHINE_DEFAULTS, TTL_MS_MAX, TTL_MS_MIN } from '../session/index.js';
import type { WatchSource } from '../watch/index.js';
import type { RequestCounter } from './requests.js';

export type HealthMode = 'leaderKnown' | 'started';

export interface SessionApiOptions {
  /** UTF-8 bytes of `data_json` accepted by Create and Update; keep it equal to the node's. @default 65_536 */
  readonly dataBytesMax?: number;
  /**
   * TTL given to a Create with ttl_ms 0, stamped here before proposing (the log always carries
   * explicit values). Keep it equal to the node's defaultTtlMs. @default 3_600_000 (1 hour)
   */
  readonly defaultTtlMs?: number;
  /** List page size when the request says 0. @default 100 */
  readonly listPageSizeDefault?: number;
  /** Largest page_size accepted; above it is INVALID_ARGUMENT. @default 1000 */
  readonly listPageSizeMax?: number;
  /** A List page stops early (with a next_page_token) once its sessions reach this many bytes. @default 2 MiB */
  readonly listResponseBytesMax?: number;
  /** Items of one Batch stream being processed or not yet flushed; beyond it an item fails RESOURCE_EXHAUSTED and reading pauses. @default 4096 */
  readonly batchInflightItemsMax?: number;
  /** A BatchResponse is cut once its results reach about this many bytes. @default 1 MiB */
  readonly batchResponseBytesMax?: number;
  /**
   * Bytes of results one Batch stream keeps for a client that has not read them (queued, or being
   * written while HTTP/2 flow control holds them). A read whose result would go past it is
   * answered RESOURCE_EXHAUSTED instead; past twice it (write results are kept) the stream ends
   * RESOURCE_EXHAUSTED. At least twice the largest result (max of dataBytesMax,
   * listResponseBytesMax, batchResponseBytesMax).
   * @default 16 MiB, or four times the largest result if that is more
   */
  readonly batchUnsentBytesMax?: number;
  /** Where session.proto (and raft.proto) live. @default the proto/ folder of this package */
  readonly protoDir?: string;
  /** Proto files exposed through server reflection (besides grpc.health.v1), relative to protoDir. @default ['session.proto', 'raft.proto' if present] */
  readonly reflectionProtoFiles?: readonly string[];
  /**
   * grpc.health.v1 status: 'leaderKnown' = SERVING while this node knows a leader (checked
   * every healthPollIntervalMs), NOT_SERVING otherwise; 'started' = SERVING once registered.
   * @default 'leaderKnown'
   */
  readonly healthMode?: HealthMode;
  /** @default 1000 */
  readonly healthPollIntervalMs?: number;
  /** Used as given (bind { module: 'server' } yourself). @default pino at level 'info', child { module: 'server' } */
  readonly logger?: Logger;
  /** What serves Watch streams (the node's WatchHub). @default none: Watch answers UNIMPLEMENTED */
  readonly watch?: WatchSource;
  /** Told each Batch item answered (the calls themselves are counted by its interceptor). @default none */
  readonly requestCounter?: Pick<RequestCounter, 'countItem'>;
}

export interface ResolvedSessionApiOptions {
  readonly dataBytesMax: number;
  readonly defaultTtlMs: number;
  readonly listPageSizeDefault: number;
  readonly listPageSizeMax: number;
  readonly listResponseBytesMax: number;
  readonly batchInflightItemsMax: number;
  readonly batchResponseBytesMax: number;
  readonly batchUnsentBytesMax: number;
  readonly protoDir: string | undefined;
  readonly reflectionProtoFiles: readonly string[] | undefined;
  readonly healthMode: HealthMode;
  readonly healthPollIntervalMs: number;
  readonly logger: Logger;
  readonly watch: WatchSource | undefined;
  readonly requestCounter: Pick<RequestCounter, 'countItem'> | undefined;
}

const MiB = 1024 * 1024;

function ttlMs(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < TTL_MS_MIN || value > TTL_MS_MAX) {
    throw new RangeError(`${name} must be an integer in [${TTL_MS_MIN}, ${TTL_MS_MAX}], got ${value}`);
  }
  return value;
}

function positiveInteger(name: string, value: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer in [1, ${max}], got ${value}`);
  }
  return value;
}

export function resolveSessionApiOptions(options: SessionApiOptions = {}): ResolvedSessionApiOptions {
  const listPageSizeMax = positiveInteger('listPageSizeMax', options.listPageSizeMax ?? 1000, 100_000);
  const listPageSizeDefault = positiveInteger('listPageSizeDefault', options.listPageSizeDefault ?? 100, listPageSizeMax);
  const healthMode = options.healthMode ?? 'leaderKnown';
  if (healthMode !== 'leaderKnown' && healthMode !== 'started') {
    throw new RangeError(`healthMode must be 'leaderKnown' or 'started', got ${String(healthMode)}`);
  }
  const dataBytesMax = positiveInteger('dataBytesMax', options.dataBytesMax ?? SESSION_STATE_MACHINE_DEFAULTS.dataBytesMax, 16 * MiB);
  const listResponseBytesMax = positiveInteger('listResponseBytesMax', options.listResponseBytesMax ?? 2 * MiB);
  const batchResponseBytesMax = positiveInteger('batchResponseBytesMax', options.batchResponseBytesMax ?? MiB);
  return Object.freeze({
    dataBytesMax,
    defaultTtlMs: ttlMs('defaultTtlMs', options.defaultTtlMs ?? SESSION_STATE_MACHINE_DEFAULTS.defaultTtlMs),
    listPageSizeDefault,
    listPageSizeMax,
    listResponseBytesMax,
    batchInflightItemsMax: positiveInteger('batchInflightItemsMax', options.batchInflightItemsMax ?? 4096, 1_000_000),
    batchResponseBytesMax,
    batchUnsentBytesMax: unsentBytesMax(options.batchUnsentBytesMax, Math.max(dataBytesMax, listResponseBytesMax, batchResponseBytesMax)),
    protoDir: options.protoDir,
    reflectionProtoFiles: options.reflectionProtoFiles ? Object.freeze([...options.reflectionProtoFiles]) : undefined,
    healthMode,
    healthPollIntervalMs: positiveInteger('healthPollIntervalMs', options.healthPollIntervalMs ?? 1000),
    logger: options.logger ?? pino({ level: 'info' }).child({ module: 'server' }),
    watch: options.watch,
    requestCounter: options.requestCounter,
  });
}

/** batchUnsentBytesMax: room for at least two of the largest result, so one never ends a stream alone. */
function unsentBytesMax(given: number | undefined, resultBytesMax: number): number {
  if (given === undefined) return Math.max(16 * MiB, 4 * resultBytesMax);
  const value = positiveInteger('batchUnsentBytesMax', given);
  if (value < 2 * resultBytesMax) {
    throw new RangeError(
      `batchUnsentBytesMax must be at least twice the largest result (max of dataBytesMax, listResponseBytesMax, batchResponseBytesMax: ${resultBytesMax}), got ${value}`,
    );
  }
  return value;
}
