/**
 * deploy/compose.yaml and deploy/kubernetes/sessionraft.yaml, checked without a compose plugin
 * or a Kubernetes cluster (neither is here): parsed with `yaml`, and every node's settings fed to
 * the node's own option parser with the environment the container would have (the Dockerfile's
 * ENV, then the manifest's). The pod ordinal → node id arithmetic runs in `sh` with a stub `node`.
 * What this cannot see: that compose or the kubelet do what these files say.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { nodeHelp, nodeOptionsFromArgs, type NodeCommandSettings } from '../../../src/cli/node-command.js';
import { OPS_PATHS, formatListenAddress } from '../../../src/http/index.js';

const deploy = fileURLToPath(new URL('../../../deploy/', import.meta.url));
const read = (file: string): string => readFileSync(path.join(deploy, file), 'utf8');

/** The Dockerfile's runtime stage: its ENV defaults, USER, EXPOSEd ports and ENTRYPOINT. */
function dockerfile(): { env: Record<string, string>; user: string; expose: number[]; entrypoint: string[] } {
  const text = read('Dockerfile');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const envLine = /^ENV (.+)$/m.exec(runtime)![1]!;
  const env = Object.fromEntries([...envLine.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
  return {
    env,
    user: /^USER (\S+)$/m.exec(runtime)![1]!,
    expose: /^EXPOSE (.+)$/m.exec(runtime)![1]!.split(/\s+/).map(Number),
    entrypoint: JSON.parse(/^ENTRYPOINT (.+)$/m.exec(runtime)![1]!) as string[],
  };
}

/** The flags `sessionraft node --help` lists. */
const HELP_FLAGS = new Set([...nodeHelp().matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]!));

/** SESSIONRAFT_DATA_DIR → data-dir: every such variable must be a flag the node knows. */
function unknownSettings(env: Record<string, string>): string[] {
  return Object.keys(env)
    .filter((key) => key.startsWith('SESSIONRAFT_'))
    .filter((key) => !HELP_FLAGS.has(key.slice('SESSIONRAFT_'.length).toLowerCase().replaceAll('_', '-')));
}

/** The node's options as it would parse them with only `env` as its environment's SESSIONRAFT_* part. */
function settingsWith(env: Record<string, string>, args: readonly string[] = []): NodeCommandSettings {
  const saved = Object.entries(process.env).filter(([key]) => key.startsWith('SESSIONRAFT_'));
  for (const [key] of saved) delete process.env[key];
  Object.assign(process.env, env);
  try {
    return nodeOptionsFromArgs(args);
  } finally {
    for (const key of Object.keys(process.env)) if (key.startsWith('SESSIONRAFT_')) delete process.env[key];
    for (const [key, value] of saved) process.env[key] = value;
  }
}

const portOf = (address: string): number => Number(/:(\d+)$/.exec(address)![1]);

describe('deploy/Dockerfile', () => {
  it('sets only settings the node knows, runs `node` as uid 10001, exposes the gRPC and HTTP ports', () => {
    const image = dockerfile();
    expect(unknownSettings(image.env)).toEqual([]);
    expect(image.user).toBe('10001:10001');
    expect(image.entrypoint).toEqual(['node', 'dist/src/cli/main.js', 'node']);
    expect(image.expose).toEqual([7000, portOf(image.env.SESSIONRAFT_HTTP_LISTEN!)]);
  });
});

describe('deploy/compose.yaml', () => {
  const compose = parse(read('compose.yaml'), { merge: true }) as {
    services: Record<string, { environment: Record<string, string>; network_mode: string; volumes: string[]; build: { dockerfile: string } }>;
    volumes: Record<string, unknown>;
  };
  const image = dockerfile();

  it('runs three nodes, ids 1-3, each with settings `sessionraft node` accepts, its own address and HTTP port', () => {
    const services = Object.entries(compose.services);
    expect(services.map(([name]) => name)).toEqual(['n1', 'n2', 'n3']);
    const listens = new Set<string>();
    for (const [name, service] of services) {
      expect(unknownSettings(service.environment), name).toEqual([]);
      const settings = settingsWith({ ...image.env, ...service.environment });
      expect(settings.options.id).toBe(Number(name.slice(1)));
      expect(settings.options.peers.size).toBe(3);
      // no --listen: the node listens on its own entry of --peers
      expect(settings.options.listenAddress).toBe(settings.options.peers.get(settings.options.id));
      listens.add(settings.options.listenAddress);
      listens.add(formatListenAddress(settings.httpListen!));
      // the image's HEALTHCHECK reads SESSIONRAFT_HTTP_LISTEN: it must be the node's HTTP address
      expect(portOf(formatListenAddress(settings.httpListen!))).toBe(8080);
      expect(settings.options.dataDir).toBe('/data');
      expect(service.volumes).toEqual([`${name}-data:/data`]);
      expect(service.network_mode).toBe('host');
      expect(service.build.dockerfile).toBe('deploy/Dockerfile');
    }
    expect(listens.size).toBe(6); // three gRPC and three HTTP addresses, none shared
    expect(Object.keys(compose.volumes)).toEqual(['n1-data', 'n2-data', 'n3-data']);
  });
});

interface K8sContainer {
  command: string[];
  env: { name: string; value?: string; valueFrom?: unknown }[];
  ports: { name: string; containerPort: number }[];
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  volumeMounts: { name: string; mountPath: string }[];
  securityContext: { readOnlyRootFilesystem: boolean };
}

describe('deploy/kubernetes/sessionraft.yaml', () => {
  const documents = parseAllDocuments(read('kubernetes/sessionraft.yaml')).map((d) => d.toJS() as { kind: string; metadata: { name: string }; spec: any });
  const byKind = (kind: string): { metadata: { name: string }; spec: any } => documents.find((d) => d.kind === kind)!;
  const service = byKind('Service');
  const pdb = byKind('PodDisruptionBudget');
  const set = byKind('StatefulSet');
  const container = set.spec.template.spec.containers[0] as K8sContainer;
  const labels = set.spec.template.metadata.labels as Record<string, string>;
  const NAMESPACE = 'sessions';

  /** The container's environment as the kubelet builds it: $(VAR) refers to a variable defined before. */
  function containerEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const variable of container.env) {
      const value = variable.valueFrom !== undefined ? NAMESPACE : variable.value!;
      env[variable.name] = value.replace(/\$\(([A-Za-z_]\w*)\)/g, (whole, name: string) => env[name] ?? whole);
    }
    return env;
  }

  it('derives node id = pod ordinal + 1 (the container command, run by sh with a stub node)', () => {
    const stubDir = mkdtempSync(path.join(tmpdir(), 'sessionraft-k8s-'));
    try {
      writeFileSync(path.join(stubDir, 'node'), '#!/bin/sh\necho "$SESSIONRAFT_ID $*"\n');
      chmodSync(path.join(stubDir, 'node'), 0o755);
      expect(container.command.slice(0, 2)).toEqual(['sh', '-c']);
      for (const ordinal of [0, 1, 2]) {
        const run = spawnSync('sh', ['-c', container.command[2]!], {
          encoding: 'utf8',
          env: { PATH: `${stubDir}:/usr/bin:/bin`, HOSTNAME: `${set.metadata.name}-${ordinal}` },
        });
        expect(run.stdout.trim()).toBe(`${ordinal + 1} ${dockerfile().entrypoint.slice(1).join(' ')}`);
      }
    } finally {
      rmSync(stubDir, { recursive: true, force: true });
    }
  });

  it('gives every pod settings the node accepts: its peers are the StatefulSet pods through the headless Service', () => {
    const env = containerEnv();
    expect(unknownSettings(env)).toEqual([]);
    expect(set.spec.replicas).toBe(3);
    expect(set.spec.serviceName).toBe(service.metadata.name);
    expect(service.spec.clusterIP).toBe('None');
    const grpcPort = container.ports.find((p) => p.name === 'grpc')!.containerPort;
    for (const ordinal of [0, 1, 2]) {
      const settings = settingsWith({ ...dockerfile().env, ...env, SESSIONRAFT_ID: String(ordinal + 1) });
      expect(settings.options.peers.size).toBe(set.spec.replicas);
      for (const [id, address] of settings.options.peers) {
        expect(address).toBe(`${set.metadata.name}-${id - 1}.${service.metadata.name}.${NAMESPACE}.svc:${grpcPort}`);
      }
      expect(portOf(settings.options.listenAddress)).toBe(grpcPort);
      expect(settings.options.dataDir).toBe(container.volumeMounts.find((m) => m.name === 'data')!.mountPath);
    }
  });

  it('probes /readyz and /healthz on the port the node serves HTTP on; Service, PDB (maxUnavailable 1) and volume agree', () => {
    const settings = settingsWith({ ...dockerfile().env, ...containerEnv(), SESSIONRAFT_ID: '1' });
    const http = container.ports.find((p) => p.name === 'http')!;
    expect(portOf(formatListenAddress(settings.httpListen!))).toBe(http.containerPort);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    for (const probe of [container.readinessProbe, container.livenessProbe]) expect(OPS_PATHS).toContain(probe.httpGet.path);
    // the Service targets the container's named ports and selects its pods, also before they are ready
    expect(service.spec.ports.map((p: { targetPort: string }) => p.targetPort).sort()).toEqual(container.ports.map((p) => p.name).sort());
    expect(service.spec.publishNotReadyAddresses).toBe(true);
    for (const selector of [service.spec.selector, pdb.spec.selector.matchLabels, set.spec.selector.matchLabels]) {
      expect(Object.entries(selector as Record<string, string>).every(([k, v]) => labels[k] === v)).toBe(true);
    }
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.minAvailable).toBeUndefined();
    // one volume per pod, mounted where the node keeps its data; the rest of the filesystem read-only
    expect(set.spec.volumeClaimTemplates.map((t: { metadata: { name: string } }) => t.metadata.name)).toEqual(['data']);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(set.spec.template.spec.securityContext.runAsUser).toBe(Number(dockerfile().user.split(':')[0]));
  });
});
