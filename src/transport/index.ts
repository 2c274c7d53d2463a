/**
 * transport/: Raft messages between peers over gRPC streams. The runtime (src/node/) creates
 * one GrpcTransport per node, binds it to the node's grpc.Server and wires its callbacks to
 * RaftNode.step / reportUnreachable / reportSnapshot.
 */
export {
  GrpcTransport,
  transportServerOptions,
  type MessageHandler,
  type SnapshotStatusHandler,
  type UnreachableHandler,
} from './grpc-transport.js';
export { TRANSPORT_DEFAULTS, type GrpcTransportOptions, type ResolvedTransportOptions } from './options.js';
export { CodecError, decodeMessage, encodeMessage, type CodecErrorReason } from './codec.js';
export type { PeerStats, TransportStats } from './stats.js';
export {
  METADATA_CLUSTER_ID,
  METADATA_FROM_NODE,
  METADATA_TO_NODE,
  RAFT_SERVICE_NAME,
  raftServiceDefinition,
  type RaftFrame,
  type RaftFrameAck,
  type SnapshotAck,
  type SnapshotChunk,
} from './proto.js';
export {
  CLUSTER_SECRET_BYTES_MIN,
  METADATA_CLUSTER_SECRET,
  NodeServerCredentials,
  NodeTls,
  checkClusterSecret,
  nodeCommonName,
  type PeerSecurity,
  type TlsFiles,
} from './security.js';
