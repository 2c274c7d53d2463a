/**
 * Wiring: SessionService and AdminService implementations over a SessionBackend, plus
 * grpc.health.v1 and server reflection.
 *
 * Writes that reach a follower are NOT forwarded to the leader: the backend throws
 * NotLeaderError and the call fails UNAVAILABLE with `x-leader-id` / `x-leader-address`
 * trailing metadata. Forwarding would double the hops and the CPU of every write on the hot
 * path; the SDK learns the leader from the metadata once and then goes there directly.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from 'grpc-health-check';
import type { Logger } from 'pino';
import type { CallOptions, MemberChange, SessionBackend } from './backend.js';
import type { NodeId } from '../raft/index.js';
import { backupHandler } from './backup.js';
import { BatchStream, remainingMs } from './batch.js';
import { ApiError, toApiError, toServiceError } from './errors.js';
import { malformedReason, withSafeDecoding } from './decode.js';
import { createHandlers, type Handler } from './handlers.js';
import { statusToWire } from './mapping.js';
import { resolveSessionApiOptions, type ResolvedSessionApiOptions, type SessionApiOptions } from './options.js';
import { findProtoDir, loadProtos, RAFT_PROTO_FILE, serviceDefinition, SESSION_PROTO_FILE } from '../proto/index.js';
import { serveWatch } from './watch.js';
import type { Operation, WireBatchRequest, WireBatchResponse, WireRequests, WireResponses, WireWatchRequest, WireWatchResponse } from './wire.js';

export const SESSION_SERVICE_NAME = 'sessionraft.v1.SessionService';
export const ADMIN_SERVICE_NAME = 'sessionraft.v1.AdminService';

/** The receive limit set on the server: larger messages fail RESOURCE_EXHAUSTED in grpc itself. */
export const MESSAGE_BYTES_MAX_DEFAULT = 4 * 1024 * 1024;

/** grpc.Server options for the client API. @param messageBytesMax @default 4 MiB */
export function grpcServerOptions(messageBytesMax = MESSAGE_BYTES_MAX_DEFAULT): grpc.ServerOptions {
  if (!Number.isSafeInteger(messageBytesMax) || messageBytesMax < 64 * 1024) {
    throw new RangeError(`messageBytesMax must be an integer >= 65536, got ${messageBytesMax}`);
  }
  return { 'grpc.max_receive_message_length': messageBytesMax };
}

export interface SessionServices {
  readonly sessionService: grpc.ServiceDefinition;
  readonly sessionImplementation: grpc.UntypedServiceImplementation;
  readonly adminService: grpc.ServiceDefinition;
  readonly adminImplementation: grpc.UntypedServiceImplementation;
  readonly options: ResolvedSessionApiOptions;
}

const METHOD_NAMES: Readonly<Record<Operation, string>> = Object.freeze({
  create: 'Create',
  get: 'Get',
  update: 'Update',
  touch: 'Touch',
  delete: 'Delete',
  list: 'List',
  deleteByClient: 'DeleteByClient',
  count: 'Count',
});

type UnaryHandler<Req, Res> = (request: Req, options: { signal: AbortSignal; deadlineMs: number | undefined }) => Promise<Res>;

function unary<Req, Res>(handler: UnaryHandler<Req, Res>, logger: Logger): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const controller = new AbortController();
    const onCancelled = (): void => controller.abort(new DOMException('the call was cancelled', 'AbortError'));
    call.once('cancelled', onCancelled);
    let pending: Promise<Res>;
    const malformed = malformedReason(call.request);
    try {
      if (malformed !== undefined) throw new ApiError(grpc.status.INVALID_ARGUMENT, malformed);
      pending = handler(call.request, { signal: controller.signal, deadlineMs: remainingMs(call.getDeadline(), Date.now()) });
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(toServiceError(toApiError(error, controller.signal, logger))),
      )
      .finally(() => call.off('cancelled', onCancelled));
  };
}

/** Service definitions and implementations; register them yourself or use registerSessionServices. */
export function createSessionServices(backend: SessionBackend, input: SessionApiOptions = {}): SessionServices {
  const options = resolveSessionApiOptions(input);
  const protoDir = options.protoDir ?? findProtoDir();
  const definition = loadProtos([SESSION_PROTO_FILE], protoDir);
  const protoFile = path.join(protoDir, SESSION_PROTO_FILE);
  const handlers = createHandlers(backend, options);
  const logger = options.logger;
  const sessionImplementation: grpc.UntypedServiceImplementation = {};
  for (const [operation, method] of Object.entries(METHOD_NAMES) as Array<[Operation, string]>) {
    sessionImplementation[method] = unary(handlers[operation] as Handler<Operation>, logger);
  }
  sessionImplementation.Batch = ((call: grpc.ServerDuplexStream<WireBatchRequest, WireBatchResponse>) => {
    new BatchStream(call, handlers, options, logger, (operation, code) => options.requestCounter?.countItem(operation, code));
  }) as grpc.handleBidiStreamingCall<WireBatchRequest, WireBatchResponse>;
  sessionImplementation.Watch = ((call: grpc.ServerWritableStream<WireWatchRequest, WireWatchResponse>) =>
    serveWatch(call, options.watch, logger)) as grpc.handleServerStreamingCall<WireWatchRequest, WireWatchResponse>;
  const adminImplementation: grpc.UntypedServiceImplementation = {
    Status: ((call, callback) => {
      try {
        const malformed = malformedReason(call.request);
        if (malformed !== undefined) throw new ApiError(grpc.status.INVALID_ARGUMENT, malformed);
        callback(null, statusToWire(backend.status()));
      } catch (error) {
        callback(toServiceError(toApiError(error, undefined, logger)));
      }
    }) as grpc.handleUnaryCall<unknown, unknown>,
    ...membershipImplementation(backend, logger),
    Backup: backupHandler(backend, logger),
  };
  return {
    sessionService: withSafeDecoding(serviceDefinition(definition, SESSION_SERVICE_NAME) as grpc.ServiceDefinition, protoFile, SESSION_SERVICE_NAME),
    sessionImplementation,
    adminService: withSafeDecoding(serviceDefinition(definition, ADMIN_SERVICE_NAME) as grpc.ServiceDefinition, protoFile, ADMIN_SERVICE_NAME),
    adminImplementation,
    options,
  };
}

interface WireMemberRequest {
  readonly id: number;
  readonly address?: string;
  readonly learner?: boolean;
}

/** AddMember, RemoveMember, PromoteMember, UpdateMember and TransferLeadership over the backend. */
function membershipImplementation(backend: SessionBackend, logger: Logger): grpc.UntypedServiceImplementation {
  const change =
    (toChange: (request: WireMemberRequest) => MemberChange): UnaryHandler<WireMemberRequest, unknown> =>
    async (request, options) => {
      const index = await backend.changeMembership(toChange(request), callOptions(options));
      const status = statusToWire(backend.status());
      return { index, clusterId: status.clusterId, members: status.members };
    };
  const id = (request: WireMemberRequest): NodeId => request.id as NodeId;
  const handlers: Record<string, UnaryHandler<WireMemberRequest, unknown>> = {
    AddMember: change((r) => ({ type: 'add', id: id(r), address: r.address ?? '', learner: r.learner === true })),
    RemoveMember: change((r) => ({ type: 'remove', id: id(r) })),
    PromoteMember: change((r) => ({ type: 'promote', id: id(r) })),
    UpdateMember: change((r) => ({ type: 'setAddress', id: id(r), address: r.address ?? '' })),
    TransferLeadership: async (request, options) => {
      await backend.transferLeadership(id(request), callOptions(options));
      return { leaderId: request.id };
    },
  };
  return Object.fromEntries(Object.entries(handlers).map(([method, handler]) => [method, unary(handler, logger) as grpc.UntypedHandleCall]));
}

function callOptions(options: { signal: AbortSignal; deadlineMs: number | undefined }): CallOptions {
  return { signal: options.signal, ...(options.deadlineMs !== undefined ? { deadlineMs: options.deadlineMs } : {}) };
}

export interface RegisteredSessionServices {
  readonly health: HealthImplementation;
  /** Stops the health poller; the grpc.Server itself is the caller's to shut down. */
  close(): void;
}

function servingStatus(backend: SessionBackend): ServingStatus {
  try {
    return backend.status().raft.leader !== 0 ? 'SERVING' : 'NOT_SERVING';
  } catch {
    return 'NOT_SERVING';
  }
}

function registerHealth(server: grpc.Server, backend: SessionBackend, options: ResolvedSessionApiOptions): RegisteredSessionServices {
  const initial: ServingStatus = options.healthMode === 'started' ? 'SERVING' : servingStatus(backend);
  const health = new HealthImplementation({ '': initial, [SESSION_SERVICE_NAME]: initial, [ADMIN_SERVICE_NAME]: 'SERVING' });
  health.addToServer(server);
  let timer: NodeJS.Timeout | undefined;
  if (options.healthMode === 'leaderKnown') {
    let last = initial;
    timer = setInterval(() => {
      const next = servingStatus(backend);
      if (next === last) return;
      last = next;
      health.setStatus('', next);
      health.setStatus(SESSION_SERVICE_NAME, next);
    }, options.healthPollIntervalMs);
    timer.unref();
  }
  return { health, close: () => clearInterval(timer) };
}

/** session.proto, and raft.proto when it exists beside it. */
function defaultReflectionFiles(protoDir: string): string[] {
  const files = [SESSION_PROTO_FILE];
  if (existsSync(path.join(protoDir, RAFT_PROTO_FILE))) files.push(RAFT_PROTO_FILE);
  return files;
}

/**
 * Adds SessionService, AdminService, grpc.health.v1.Health and server reflection (v1 and
 * v1alpha, covering options.reflectionProtoFiles and the health proto) to `server`.
 */
export function registerSessionServices(
  server: grpc.Server,
  backend: SessionBackend,
  input: SessionApiOptions = {},
): RegisteredSessionServices {
  const services = createSessionServices(backend, input);
  const options = services.options;
  server.addService(services.sessionService, services.sessionImplementation);
  server.addService(services.adminService, services.adminImplementation);
  const protoDir = options.protoDir ?? findProtoDir();
  const files = [...(options.reflectionProtoFiles ?? defaultReflectionFiles(protoDir)), healthProtoPath];
  new ReflectionService(loadProtos(files, protoDir)).addToServer(server);
  return registerHealth(server, backend, options);
}
