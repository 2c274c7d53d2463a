/**
 * Client API calls answered, by method and gRPC status code (sessionraft_requests_total): one
 * grpc-js server interceptor sees the final status of every unary call and stream (Watch,
 * Backup, Batch itself), and the Batch stream reports each item it answers (countItem).
 *
 * Placed first in the server's interceptor list, it is the innermost: it also sees the statuses
 * that later interceptors send before any handler runs (UNAUTHENTICATED, RESOURCE_EXHAUSTED from
 * access.ts). Peer calls are not counted here (the transport counts its own).
 */
import * as grpc from '@grpc/grpc-js';
import { PEER_SERVICE_PREFIX } from './access.js';

/** Distinct method labels kept, at most; calls to further (unknown) methods count as `other`. */
export const REQUEST_METHODS_MAX = 128;

export interface RequestCount {
  /** `Service/Method` without the package (`SessionService/Get`, `Health/Check`); Batch items `SessionService/Batch/<Operation>`. */
  readonly method: string;
  /** The status code's name: OK, NOT_FOUND, UNAVAILABLE... */
  readonly code: string;
  readonly count: number;
}

export interface RequestCounter {
  readonly interceptor: grpc.ServerInterceptor;
  /** One item of a Batch stream answered with `code`; `operation` as in the BatchItem (create, get...). */
  countItem(operation: string | undefined, code: grpc.status): void;
  /** Everything counted so far. */
  counts(): RequestCount[];
}

/** '/sessionraft.v1.SessionService/Get' → 'SessionService/Get'. */
export function methodLabel(path: string): string {
  const [service = '', method = ''] = path.replace(/^\//, '').split('/');
  return `${service.slice(service.lastIndexOf('.') + 1)}/${method}`;
}

function codeName(code: grpc.status): string {
  return grpc.status[code] ?? String(code);
}

export function createRequestCounter(): RequestCounter {
  /** method → code name → count */
  const byMethod = new Map<string, Map<string, number>>();
  const add = (method: string, code: grpc.status): void => {
    let codes = byMethod.get(method);
    if (codes === undefined) {
      if (byMethod.size >= REQUEST_METHODS_MAX) return add('other', code);
      codes = new Map();
      byMethod.set(method, codes);
    }
    const name = codeName(code);
    codes.set(name, (codes.get(name) ?? 0) + 1);
  };

  const interceptor: grpc.ServerInterceptor = (descriptor, call) => {
    if (descriptor.path.startsWith(PEER_SERVICE_PREFIX)) return new grpc.ServerInterceptingCall(call);
    const method = methodLabel(descriptor.path);
    let counted = false;
    const count = (code: grpc.status): void => {
      if (counted) return;
      counted = true;
      add(method, code);
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({ onCancel: () => count(grpc.status.CANCELLED) }),
      sendStatus: (status, next) => {
        count(status.code);
        next(status);
      },
    });
  };

  return {
    interceptor,
    countItem: (operation, code) => add(`SessionService/Batch/${operation === undefined ? 'none' : operation[0]!.toUpperCase() + operation.slice(1)}`, code),
    counts: () => [...byMethod].flatMap(([method, codes]) => [...codes].map(([code, count]) => ({ method, code, count }))),
  };
}
