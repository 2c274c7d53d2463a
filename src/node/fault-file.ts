/**
 * Network fault injection for tests of real processes (`sessionraft node --fault-file PATH`).
 * The node polls a small JSON file and drops its own outgoing Raft messages to the peers it
 * names: a one-way partition, seen by the peer as silence. Blocking both ends of a link makes a
 * symmetric one. Client traffic is not touched. Without the flag nothing here runs.
 *
 * File: {"blockedPeers": [2, 3]}   (absent or {"blockedPeers": []}: no faults)
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { NodeId } from '../raft/index.js';

export interface InjectedFaults {
  /** Peers this node sends no Raft message to. */
  readonly blockedPeers: readonly NodeId[];
}

export const NO_FAULTS: InjectedFaults = Object.freeze({ blockedPeers: [] });

/** Parses and checks the file's text; a RangeError says what is wrong with it. */
export function parseFaults(text: string, peers: ReadonlySet<NodeId>, self: NodeId): InjectedFaults {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RangeError(`not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RangeError('expected an object');
  const unknownKeys = Object.keys(value).filter((key) => key !== 'blockedPeers');
  if (unknownKeys.length > 0) throw new RangeError(`unknown keys: ${unknownKeys.join(', ')} (known: blockedPeers)`);
  const blocked = (value as { blockedPeers?: unknown }).blockedPeers ?? [];
  if (!Array.isArray(blocked)) throw new RangeError('blockedPeers: expected an array of node ids');
  for (const id of blocked) {
    if (!Number.isSafeInteger(id) || !peers.has(id as NodeId) || id === self) {
      throw new RangeError(`blockedPeers: ${JSON.stringify(id)} is not another member (members: ${[...peers].join(', ')}; this node: ${self})`);
    }
  }
  return { blockedPeers: [...new Set(blocked as NodeId[])].sort((a, b) => a - b) };
}

export interface FaultFileWatch {
  close(): void;
}

/**
 * Reads `path` every `intervalMs` and calls `apply` whenever its content changes (a missing file
 * means no faults). A bad file is logged and ignored: the faults in force stay as they were.
 */
export function watchFaultFile(
  path: string,
  peers: ReadonlySet<NodeId>,
  self: NodeId,
  apply: (faults: InjectedFaults) => void,
  logger: Logger,
  intervalMs = 100,
): FaultFileWatch {
  /** The file's text at the last read (undefined: no file); null before the first read. */
  let lastText: string | undefined | null = null;
  let reading = false;
  const poll = async (): Promise<void> => {
    if (reading) return;
    reading = true;
    try {
      const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (text === lastText) return;
      lastText = text;
      const faults = text === undefined || text.trim() === '' ? NO_FAULTS : parseFaults(text, peers, self);
      if (faults.blockedPeers.length > 0) {
        logger.warn({ faultFile: path, blockedPeers: faults.blockedPeers }, 'fault injection: outgoing Raft messages blocked');
      } else {
        logger.info({ faultFile: path }, 'fault injection: no faults');
      }
      apply(faults);
    } catch (error) {
      logger.error({ err: error, faultFile: path }, 'fault injection: ignoring a bad fault file');
    } finally {
      reading = false;
    }
  };
  void poll();
  const timer = setInterval(() => void poll(), intervalMs);
  timer.unref();
  return { close: () => clearInterval(timer) };
}
