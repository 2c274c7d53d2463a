/**
 * Bad input through real gRPC: the right status, a message that starts with the proto field
 * name, and the backend saw no write (and no read).
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rawSessionClient, startServer, unary, type RawClient, type TestServer } from './harness.js';

let server: TestServer;
let client: RawClient;

beforeAll(async () => {
  server = await startServer();
  client = rawSessionClient(server.address);
});
afterAll(async () => {
  client.close();
  await server.close();
});
beforeEach(() => {
  server.backend.writes.length = 0;
  server.backend.reads.length = 0;
});

const valid = { clientId: 'client-a', transport: 'http', dataJson: '{"k":"v"}' };
const nested = (depth: number): string => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

const cases: Array<[string, string, Record<string, unknown>, RegExp]> = [
  ['malformed session id', 'Get', { sessionId: 'a.b' }, /^session_id: .*"a\.b"/],
  ['session id over 128 characters', 'Create', { ...valid, sessionId: 'a'.repeat(129) }, /^session_id: /],
  ['empty session id', 'Delete', { sessionId: '' }, /^session_id: /],
  ['session id with a space', 'Touch', { sessionId: 'a b' }, /^session_id: /],
  ['missing client_id', 'Create', { ...valid, clientId: '' }, /^client_id: /],
  ['client_id with control characters', 'DeleteByClient', { clientId: 'a\u0001b' }, /^client_id: /],
  ['missing transport', 'Create', { ...valid, transport: '' }, /^transport: /],
  ['data over the limit', 'Create', { ...valid, dataJson: JSON.stringify({ x: 'y'.repeat(70_000) }) }, /^data_json: 70008 bytes exceeds the limit of 65536/],
  ['data not an object (array)', 'Create', { ...valid, dataJson: '[1,2]' }, /^data_json: must be a JSON object/],
  ['data not an object (number)', 'Update', { sessionId: randomUUID(), dataJson: '42' }, /^data_json: must be a JSON object/],
  ['data not JSON', 'Create', { ...valid, dataJson: '{nope' }, /^data_json: not valid JSON/],
  ['data nested too deep', 'Create', { ...valid, dataJson: nested(40) }, /^data_json: nesting depth/],
  ['data with a __proto__ key', 'Create', { ...valid, dataJson: '{"__proto__":{"x":1}}' }, /^data_json: .*__proto__/],
  ['ttl below the minimum', 'Create', { ...valid, ttlMs: 5 }, /^ttl_ms: 5 is outside/],
  ['ttl above the maximum', 'Update', { sessionId: randomUUID(), ttlMs: 31 * 86_400_000 }, /^ttl_ms: /],
  ['negative ttl', 'Create', { ...valid, ttlMs: -1000 }, /^ttl_ms: /],
  ['max lifetime out of range', 'Create', { ...valid, maxLifetimeMs: 10 }, /^max_lifetime_ms: /],
  ['unknown durability number', 'Create', { ...valid, durability: 7 }, /^durability: unknown value 7/],
  ['unknown consistency number', 'Get', { sessionId: randomUUID(), consistency: 9 }, /^consistency: unknown value 9/],
  ['page_size above 1000', 'List', { clientId: 'c', pageSize: 1001 }, /^page_size: 1001 is out of range \[1, 1000\]/],
  ['negative page_size', 'List', { clientId: 'c', pageSize: -1 }, /^page_size: /],
  ['garbage page_token', 'List', { clientId: 'c', pageToken: 'not a token!' }, /^page_token: /],
  ['List without client_id', 'List', {}, /^client_id: /],
  ['expected_version beyond 2^53', 'Update', { sessionId: randomUUID(), expectedVersion: '9007199254740993' }, /^expected_version: /],
  ['min_index beyond 2^53', 'Count', { minIndex: '18446744073709551615' }, /^min_index: /],
  ['request id without client id', 'Create', { ...valid, requestId: { clientId: '', seq: 1 } }, /^request_id\.client_id: /],
  ['request id seq 0 (the proto says seq >= 1)', 'Create', { ...valid, requestId: { clientId: 'c', seq: 0 } }, /^request_id\.seq: 0 is out of range \[1, /],
  ['an integer beyond 2^53 in data', 'Create', { ...valid, dataJson: '{"a":{"b":[1,12345678901234567890]}}' }, /^data_json\.a\.b\[1\]: the integer 12345678901234567890 is beyond 2\^53/],
  ['a negative integer beyond 2^53 in data', 'Update', { sessionId: randomUUID(), dataJson: '{"n":-9007199254740993}' }, /^data_json\.n: /],
];

/** Sends `bytes` as the request message of `method`, as a client of another implementation could. */
function rawBytes(method: string, bytes: Buffer): Promise<grpc.ServiceError | null> {
  const raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    raw.makeUnaryRequest(
      `/sessionraft.v1.SessionService/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      (error) => {
        raw.close();
        resolve(error);
      },
    );
  });
}

/** A protobuf string field: tag (field << 3 | 2), length, bytes. */
function stringField(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(field << 3) | 2, bytes.length]), bytes]);
}

describe('bytes that are not what they claim', () => {
  it('data_json with invalid UTF-8 is INVALID_ARGUMENT, not stored with U+FFFD', async () => {
    // CreateRequest: client_id = 1, transport = 2, data_json = 3.
    const request = Buffer.concat([stringField(1, Buffer.from('c')), stringField(2, Buffer.from('http')), stringField(3, Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]))]);
    const error = await rawBytes('Create', request);
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/^data_json: not valid UTF-8/);
    expect(server.backend.writes).toHaveLength(0);
  });

  it('a genuine U+FFFD in data_json is kept', async () => {
    const request = Buffer.concat([stringField(1, Buffer.from('c')), stringField(2, Buffer.from('http')), stringField(3, Buffer.from('{"a":"\uFFFD"}', 'utf8'))]);
    expect(await rawBytes('Create', request)).toBeNull();
    expect(server.backend.writes).toHaveLength(1);
  });

  it('bytes that are not a request message are INVALID_ARGUMENT, not INTERNAL', async () => {
    const error = await rawBytes('Get', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toMatch(/^request: not a valid GetRequest message/);
    expect(server.backend.reads).toHaveLength(0);
  });
});

describe('validation before anything is proposed', () => {
  for (const [name, method, request, message] of cases) {
    it(`${name} → INVALID_ARGUMENT naming the field`, async () => {
      const { error } = await unary(client, method, request);
      expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error?.details).toMatch(message);
      expect(server.backend.writes).toHaveLength(0);
      expect(server.backend.reads).toHaveLength(0);
    });
  }

  it('a valid request after all that still works (the checks are not vacuous)', async () => {
    const { error } = await unary(client, 'Create', valid);
    expect(error).toBeNull();
    expect(server.backend.writes).toHaveLength(1);
  });

  it('a message over the receive limit is RESOURCE_EXHAUSTED from grpc, and nothing is written', async () => {
    const { error } = await unary(client, 'Create', { ...valid, dataJson: JSON.stringify({ x: 'y'.repeat(5 * 1024 * 1024) }) });
    expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(error?.details).toMatch(/message larger than max/i);
    expect(server.backend.writes).toHaveLength(0);
    const after = await unary(client, 'Count', {});
    expect(after.error).toBeNull();
  });
});
