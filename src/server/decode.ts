/**
 * Request decoding that never throws into grpc-js. grpc-js answers any error of a deserializer
 * with INTERNAL ("Error deserializing request"), a code the API keeps for bugs, and protobuf
 * decoders replace invalid UTF-8 in string fields with U+FFFD, silently changing what a client
 * sent. So each method's deserializer is wrapped: bytes that are not a valid message, or a string
 * field that is not valid UTF-8, decode to a MalformedRequest, which the handler answers with
 * INVALID_ARGUMENT naming the problem.
 */
import { isUtf8 } from 'node:buffer';
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { loadProtoTypes } from '../proto/index.js';

const MALFORMED = Symbol('malformed request');

export interface MalformedRequest {
  readonly [MALFORMED]: string;
}

export function malformedReason(request: unknown): string | undefined {
  return typeof request === 'object' && request !== null && MALFORMED in request ? (request as MalformedRequest)[MALFORMED] : undefined;
}

/** Nested messages deeper than this are refused (the session API nests three levels). */
const MESSAGE_DEPTH_MAX = 16;

/**
 * The snake_case path of the first string field of `type` in `bytes` that is not valid UTF-8,
 * or undefined. Throws on bytes that are not a protobuf message.
 */
export function invalidUtf8Field(type: protobuf.Type, bytes: Uint8Array, prefix = '', depth = 0): string | undefined {
  if (depth > MESSAGE_DEPTH_MAX) throw new Error(`messages nested deeper than ${MESSAGE_DEPTH_MAX}`);
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    const field = type.fieldsById[tag >>> 3];
    const nested = field?.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    if (wireType !== 2 || field === undefined || (field.type !== 'string' && nested === undefined)) {
      reader.skipType(wireType);
      continue;
    }
    const value = reader.bytes();
    const path = `${prefix}${field.name}`;
    if (nested === undefined) {
      if (!isUtf8(value)) return path;
      continue;
    }
    const inner = invalidUtf8Field(nested, value, `${path}.`, depth + 1);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

/**
 * Wraps every method's requestDeserialize in `service` (a proto-loader service definition of
 * `protoFile`'s `serviceName`) so that it returns a MalformedRequest instead of throwing. The walk
 * also refuses bytes the generated decoder would read past (a length beyond the message).
 */
export function withSafeDecoding(service: grpc.ServiceDefinition, protoFile: string, serviceName: string): grpc.ServiceDefinition {
  const root = loadProtoTypes(protoFile);
  const serviceType = root.lookupService(serviceName);
  const wrapped: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const rpc = serviceType.methods[method.originalName ?? name] ?? serviceType.methods[name];
    if (rpc === undefined) throw new Error(`method ${name} of ${serviceName} is missing from ${protoFile}`);
    const requestType = root.lookupType(rpc.requestType);
    const decode = method.requestDeserialize;
    wrapped[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          const field = invalidUtf8Field(requestType, bytes);
          if (field !== undefined) return { [MALFORMED]: `${field}: not valid UTF-8` };
          return decode(bytes);
        } catch (error) {
          return { [MALFORMED]: `request: not a valid ${requestType.name} message: ${(error as Error).message}` };
        }
      },
    };
  }
  return wrapped as grpc.ServiceDefinition;
}
