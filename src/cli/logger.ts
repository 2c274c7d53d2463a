/**
 * The node's logger: pino JSON lines (one object per line, for files and log shippers), or
 * pino-pretty for a terminal (local time, the module in brackets, other fields on the same line,
 * errors with their stack on the lines below). The cluster runner pretty-prints its nodes' JSON
 * lines with the same options.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty, { prettyFactory, type PrettyOptions } from 'pino-pretty';

export type LogFormat = 'json' | 'pretty';

/** What a pretty line shows: `[14:03:07.123] INFO: [node] leader changed {"leader":2}`. */
const PRETTY_OPTIONS: PrettyOptions = Object.freeze({
  translateTime: 'SYS:HH:MM:ss.l', // local time
  ignore: 'pid,hostname,nodeId,module',
  messageFormat: '{if module}[{module}] {end}{msg}',
  singleLine: true, // fields on the message's line; an error still prints its stack below it
});

export interface NodeLoggerOptions {
  readonly level: string;
  readonly format: LogFormat;
  readonly nodeId: number;
  /** Where lines go. @default stdout */
  readonly destination?: NodeJS.WritableStream;
  /** Colors in pretty lines. @default when the destination is a terminal that supports them */
  readonly colorize?: boolean;
}

/**
 * The process's root logger, bound to `{ nodeId }` (no pid or hostname). Modules bind
 * `{ module }` once each (`logger.child({ module: 'server' })`), never on top of another module's
 * child: pino does not merge bindings, a key bound twice appears twice in a JSON line.
 */
export function createNodeLogger(options: NodeLoggerOptions): Logger {
  const base = { level: options.level, base: { nodeId: options.nodeId } };
  if (options.format === 'json') {
    return options.destination === undefined ? pino(base) : pino(base, options.destination as DestinationStream);
  }
  const stream = pretty({
    ...PRETTY_OPTIONS,
    ...(options.colorize !== undefined ? { colorize: options.colorize } : {}),
    // synchronous: the fatal line before exit code 70 must reach the terminal
    sync: true,
    ...(options.destination !== undefined ? { destination: options.destination } : {}),
  });
  return pino(base, stream);
}

/**
 * Turns one line of a node's output into readable lines (several when it carries an error
 * stack), without the trailing newline. Lines that are not pino JSON pass through unchanged.
 */
export function prettyLogFormatter(options: { readonly colorize?: boolean } = {}): (line: string) => string {
  const format = prettyFactory({ ...PRETTY_OPTIONS, ...(options.colorize !== undefined ? { colorize: options.colorize } : {}) });
  return (line) => format(line).replace(/\r?\n$/, '');
}
