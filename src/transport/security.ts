/**
 * Who may speak the peer protocol (sessionraft.raft.v1.RaftTransport), and with what
 * credentials this node calls its peers.
 *
 * - TLS (`tls`): peers call each other over TLS with a client certificate. The server asks every
 *   connection for a certificate signed by the cluster CA but does not require one at the TLS
 *   layer (SDK clients may come without); a peer call is accepted only with a certificate that
 *   verified against the CA and whose subject CN is `node-<id>` for the node id it claims
 *   (`x-sessionraft-from`). The caller checks the same of the server: the peer it reached must
 *   present `node-<peer id>`, so addresses need not appear in the certificates' names.
 * - Cluster secret (`clusterSecret`): sent as `x-sessionraft-cluster-secret` metadata on every
 *   peer call and compared in constant time. Without TLS it travels in clear text: it keeps out
 *   other programs and misconfigured clusters, not eavesdroppers.
 * Both may be set; then both are checked.
 *
 * The TLS material (NodeTls) can be replaced while the node runs (a renewed certificate, a CA
 * bundle during a rotation): connections opened afterwards, served and dialled, use the new
 * material; established connections keep theirs.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { SecureServerOptions } from 'node:http2';
import type { PeerCertificate, SecureContextOptions } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { NodeId } from '../raft/index.js';

export const METADATA_CLUSTER_SECRET = 'x-sessionraft-cluster-secret';
/** Bytes a cluster secret must at least have. */
export const CLUSTER_SECRET_BYTES_MIN = 16;

export interface TlsFiles {
  /** PEM: this node's certificate (chain), subject CN `node-<id>` for peer use. */
  readonly cert: Buffer;
  /** PEM: its private key. */
  readonly key: Buffer;
  /** PEM: the cluster CA; peers' certificates must be signed by it. */
  readonly ca: Buffer;
}

export interface PeerSecurity {
  readonly tls?: NodeTls;
  readonly clusterSecret?: string;
}

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/**
 * This node's certificate, key and CA, replaceable with update(). It is the grpc-js certificate
 * provider of the channels to peers (each new connection takes the latest) and feeds
 * NodeServerCredentials (each new TLS connection served takes the latest).
 */
export class NodeTls implements grpc.experimental.CertificateProvider {
  private files: TlsFiles;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(files: TlsFiles) {
    this.files = Object.freeze({ ...files });
  }

  get current(): TlsFiles {
    return this.files;
  }

  /** Replaces the material: the CA listeners hear first, then the identity listeners. */
  update(files: TlsFiles): void {
    this.files = Object.freeze({ ...files });
    for (const listener of this.caListeners) listener({ caCertificate: this.files.ca });
    for (const listener of this.identityListeners) listener({ certificate: this.files.cert, privateKey: this.files.key });
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    listener({ caCertificate: this.files.ca });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    listener({ certificate: this.files.cert, privateKey: this.files.key });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

/** The subject CN that names node `id` in a certificate. */
export function nodeCommonName(id: NodeId | number): string {
  return `node-${id}`;
}

/** Checks a secret read from a file: printable, no whitespace inside, at least 16 bytes. */
export function checkClusterSecret(secret: string): string {
  const trimmed = secret.trim();
  if (Buffer.byteLength(trimmed) < CLUSTER_SECRET_BYTES_MIN) {
    throw new RangeError(`the cluster secret must have at least ${CLUSTER_SECRET_BYTES_MIN} bytes`);
  }
  if (!/^[\x21-\x7e]+$/.test(trimmed)) throw new RangeError('the cluster secret must be printable ASCII without spaces');
  return trimmed;
}

/** Constant-time equality of two secrets (of any lengths). */
export function secretsEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** The secure context of the node's port: its certificate, the CA clients are checked against. */
function serverContextOptions(tls: TlsFiles): SecureContextOptions {
  return { ca: tls.ca, cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' };
}

/**
 * Server credentials for the node's one port: TLS with this node's certificate; every client is
 * asked for a certificate (verified against the CA: an unverified one is as good as none), none
 * is required at the TLS layer, so the client API can still take clients without one. Follows
 * `tls`: after tls.update() new connections get the new certificate and CA.
 */
export class NodeServerCredentials extends grpc.ServerCredentials {
  constructor(tls: NodeTls) {
    const constructorOptions: SecureServerOptions = { requestCert: true, rejectUnauthorized: false };
    super(constructorOptions, serverContextOptions(tls.current));
    // grpc-js hands the new options to every server bound with these credentials (setSecureContext)
    tls.addIdentityCertificateListener(() => this.updateSecureContextOptions(serverContextOptions(tls.current)));
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/**
 * Channel credentials of calls to peer `peer`: our certificate, and theirs must name that peer.
 * Each new connection takes the latest material of `tls`.
 */
export function peerChannelCredentials(tls: NodeTls, peer: NodeId): grpc.ChannelCredentials {
  const expected = nodeCommonName(peer);
  return grpc.experimental.createCertificateProviderChannelCredentials(tls, tls, {
    checkServerIdentity: (_host: string, cert: PeerCertificate) =>
      cert.subject?.CN === expected ? undefined : new Error(`the peer presented '${cert.subject?.CN ?? '(no CN)'}', expected '${expected}'`),
  });
}

export type Refusal = { readonly code: grpc.status; readonly details: string };

/**
 * The security check of one inbound peer call claiming to come from `from` (before anything of
 * it is read): undefined when it passes.
 */
export function checkPeerCall(
  security: PeerSecurity,
  call: { readonly metadata: grpc.Metadata; getAuthContext(): { sslPeerCertificate?: PeerCertificate } },
  from: number,
): Refusal | undefined {
  if (security.clusterSecret !== undefined) {
    const sent = call.metadata.get(METADATA_CLUSTER_SECRET)[0];
    if (typeof sent !== 'string' || !secretsEqual(sent, security.clusterSecret)) {
      return {
        code: grpc.status.UNAUTHENTICATED,
        details: `peer call without this cluster's secret (${METADATA_CLUSTER_SECRET}): only nodes of the cluster may call the peer service`,
      };
    }
  }
  if (security.tls !== undefined) {
    const certificate = call.getAuthContext().sslPeerCertificate;
    if (certificate === undefined) {
      return {
        code: grpc.status.UNAUTHENTICATED,
        details: 'peer call without a client certificate signed by the cluster CA: only nodes of the cluster may call the peer service',
      };
    }
    const name = certificate.subject?.CN;
    if (name !== nodeCommonName(from)) {
      return {
        code: grpc.status.PERMISSION_DENIED,
        details: `the client certificate of '${name ?? '(no CN)'}' does not name node ${from} (expected CN '${nodeCommonName(from)}')`,
      };
    }
  }
  return undefined;
}
