/**
 * A SessionService.Batch client no SDK would be: its own HTTP/2 connection (node:http2, no
 * grpc-js), requests sent at once, and nothing read until drain() is called. Without a 'data'
 * listener Node's HTTP/2 grants the server no flow-control window beyond the first 64 KB, so the
 * server's writes stall: a client that sends and never reads. grpc-js clients are no good for
 * this, as they read (and buffer) whatever arrives.
 */
import http2 from 'node:http2';
import path from 'node:path';
import protobuf from 'protobufjs';
import { findProtoDir, SESSION_PROTO_FILE } from '../../src/proto/index.js';

const root = protobuf.loadSync(path.join(findProtoDir(), SESSION_PROTO_FILE));
const BatchRequest = root.lookupType('sessionraft.v1.BatchRequest');
const BatchResponse = root.lookupType('sessionraft.v1.BatchResponse');

/** proto enum READ_CONSISTENCY_STALE */
export const READ_CONSISTENCY_STALE = 3;

/** One BatchItem as protobufjs takes it: camelCase fields, e.g. { id: 1, get: { sessionId } }. */
export type RawBatchItem = { readonly id: number } & Record<string, unknown>;

export interface RawResult {
  readonly id: number;
  /** The error of a failed item; absent for a success. */
  readonly error?: { readonly code: number; readonly message: string };
}

export interface Drained {
  readonly results: readonly RawResult[];
  /** grpc-status of the stream's trailers (a string, as on the wire). */
  readonly status: string | undefined;
  readonly message: string;
}

export interface RawBatchStream {
  readonly connection: http2.ClientHttp2Session;
  readonly stream: http2.ClientHttp2Stream;
  /** Ends the requests and starts reading: every result the server sent, then the trailers. */
  drain(): Promise<Drained>;
  /** Drops the connection (the server sees the stream cancelled). */
  destroy(): void;
}

/** A gRPC length-prefixed message (uncompressed). */
function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** Opens a Batch stream to `address` (host:port, plaintext) and sends each of `messages` as one BatchRequest. */
export function openRawBatch(address: string, messages: readonly (readonly RawBatchItem[])[]): RawBatchStream {
  const connection = http2.connect(`http://${address}`);
  connection.on('error', () => undefined);
  const stream = connection.request({
    ':method': 'POST',
    ':path': '/sessionraft.v1.SessionService/Batch',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.on('error', () => undefined);
  for (const items of messages) stream.write(grpcFrame(BatchRequest.encode({ items }).finish()));
  return { connection, stream, drain: () => drain(stream), destroy: () => connection.destroy() };
}

async function drain(stream: http2.ClientHttp2Stream): Promise<Drained> {
  stream.end();
  let buffer = Buffer.alloc(0);
  const results: RawResult[] = [];
  stream.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 5 && buffer.length >= 5 + buffer.readUInt32BE(1)) {
      const length = buffer.readUInt32BE(1);
      const response = BatchResponse.toObject(BatchResponse.decode(buffer.subarray(5, 5 + length)), { longs: Number }) as {
        results?: RawResult[];
      };
      results.push(...(response.results ?? []));
      buffer = buffer.subarray(5 + length);
    }
  });
  const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    stream.once('trailers', resolve);
    stream.once('close', () => reject(new Error(`the stream closed without trailers (RST code ${stream.rstCode})`)));
  });
  const status = trailers['grpc-status'];
  return {
    results,
    status: typeof status === 'string' ? status : undefined,
    message: decodeURIComponent(String(trailers['grpc-message'] ?? '')),
  };
}
