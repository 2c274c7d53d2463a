/**
 * The node's operations HTTP server: GET /metrics (Prometheus text format), /healthz and /readyz.
 * It binds only the address it is given and reads everything from an OpsSource when asked.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { NodeStatus } from '../node/index.js';
import { formatListenAddress, type ListenAddress } from './address.js';
import { createNodeMetrics, type NodeMetrics } from './metrics.js';
import type { OpsSource } from './source.js';

export interface OpsServerOptions {
  readonly listen: ListenAddress;
  readonly source: OpsSource;
  /** How often the leader-change sampler reads the status (the node's tick). */
  readonly sampleIntervalMs: number;
  readonly logger?: Logger;
  /** Export prom-client's process and Node.js metrics too. @default true */
  readonly defaultMetrics?: boolean;
}

export interface OpsServer {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: ListenAddress;
  readonly metrics: NodeMetrics;
  /** Stops the sampler and the server, dropping open connections. Idempotent. */
  close(): Promise<void>;
}

export interface Readiness {
  readonly ready: boolean;
  readonly reason?: string;
}

/** Ready: the loop runs, a leader is known, and this node applied up to the commit it knows. */
export function readiness(alive: boolean, { raft, appliedIndex }: NodeStatus): Readiness {
  if (!alive) return { ready: false, reason: 'the node is not running' };
  if (raft.leader === 0) return { ready: false, reason: `no leader known (term ${raft.term})` };
  if (appliedIndex < raft.commit) {
    return { ready: false, reason: `applied index ${appliedIndex} is behind commit index ${raft.commit}` };
  }
  return { ready: true };
}

/** Every path the server answers (GET). */
export const OPS_PATHS = Object.freeze(['/metrics', '/healthz', '/readyz'] as const);
const PATHS: ReadonlySet<string> = new Set(OPS_PATHS);

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { source, logger } = options;
  const metrics = createNodeMetrics(source, { defaultMetrics: options.defaultMetrics ?? true });

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (!PATHS.has(path)) return send(response, 404, { error: `no such path: ${path}` });
    if (request.method !== 'GET') {
      response.setHeader('Allow', 'GET');
      return send(response, 405, { error: `method ${request.method} not allowed; use GET` });
    }
    switch (path) {
      case '/healthz':
        return source.alive() ? send(response, 200, { status: 'ok' }) : send(response, 503, { status: 'failed', reason: 'the node is not running' });
      case '/readyz': {
        const status = source.status();
        const { ready, reason } = readiness(source.alive(), status);
        const { raft, appliedIndex } = status;
        const numbers = { leader: raft.leader, term: raft.term, commitIndex: raft.commit, appliedIndex };
        return ready ? send(response, 200, { status: 'ready', ...numbers }) : send(response, 503, { status: 'not ready', reason, ...numbers });
      }
      default: {
        const body = await metrics.registry.metrics();
        response.writeHead(200, { 'Content-Type': metrics.registry.contentType });
        response.end(body);
      }
    }
  };

  const server = createServer((request, response) => {
    // A request body is never read: drain it so keep-alive works.
    request.resume();
    handle(request, response).catch((error: unknown) => {
      logger?.error({ err: error, url: request.url }, 'operations endpoint failed');
      if (!response.headersSent) send(response, 500, { error: (error as Error).message });
      else response.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new Error(`cannot listen for HTTP on ${formatListenAddress(options.listen)}: ${error.message}`)));
    server.listen(options.listen.port, options.listen.host, () => resolve());
  });
  server.on('error', (error) => logger?.error({ err: error }, 'operations HTTP server error'));
  const bound = server.address() as AddressInfo;
  const address: ListenAddress = { host: bound.address, port: bound.port };

  const sampler = setInterval(() => {
    try {
      metrics.sample();
    } catch (error) {
      logger?.warn({ err: error }, 'sampling the node status failed');
    }
  }, options.sampleIntervalMs);
  sampler.unref();

  let closed: Promise<void> | undefined;
  return {
    address,
    metrics,
    close() {
      closed ??= new Promise<void>((resolve) => {
        clearInterval(sampler);
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

function send(response: ServerResponse, code: number, body: object): void {
  response.writeHead(code, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  response.end(`${JSON.stringify(body)}\n`);
}
