#!/usr/bin/env node
/**
 * The `sessionraft` command. Each subcommand has its own --help. Exit codes: 0 success, 2 a
 * usage error, 10 + the gRPC status code of a failed call (args.ts), 1 anything else.
 */
import { SessionRaftError } from '../client/index.js';
import { exitCodeOf, packageVersion, UsageError } from './args.js';
import { adminHelp, runAdmin } from './admin-command.js';
import { nodeHelp, runNode } from './node-command.js';
import { recoverHelp, runRecover } from './recover-command.js';
import { restoreHelp, runRestore } from './restore-command.js';
import { clusterHelp, runCluster } from './cluster-command.js';
import { sessionHelp, runSession } from './session-command.js';
import { statusHelp, runStatus } from './status-command.js';
import { backupHelp, runBackup } from './backup-command.js';

interface Command {
  readonly summary: string;
  /** The help for these arguments (a command with actions may answer per action). */
  readonly help: (args: readonly string[]) => string;
  readonly run: (args: string[]) => Promise<void>;
}

const COMMANDS: Record<string, Command> = {
  session: { summary: 'create, read, update and delete sessions', help: sessionHelp, run: runSession },
  status: { summary: 'print the status of a node or cluster', help: statusHelp, run: runStatus },
  admin: { summary: 'membership: add, remove, promote, replace nodes; transfer leadership', help: adminHelp, run: runAdmin },
  cluster: { summary: 'start, stop and inspect a local three-node cluster', help: clusterHelp, run: runCluster },
  node: { summary: 'run one node', help: nodeHelp, run: runNode },
  recover: { summary: 'quorum loss: make a stopped survivor a one-node cluster (--force-new-cluster)', help: recoverHelp, run: runRecover },
  backup: { summary: 'take, verify and make keys for encrypted backups', help: backupHelp, run: runBackup },
  restore: { summary: 'a new one-node cluster from a backup (then --join more nodes)', help: restoreHelp, run: runRestore },
};

function mainHelp(): string {
  return [
    'Usage: sessionraft <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`),
    '',
    'Options:',
    '  --version  print the version',
    '',
    "Run 'sessionraft <command> --help' for a command's options.",
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    console.log(packageVersion());
    return;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command '${name}'\n\n${mainHelp()}`);
  // Only before a '--': what follows it belongs to the nodes (cluster up -- --help is theirs).
  const own = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
  if (own.includes('--help') || own.includes('-h')) {
    console.log(command.help(own));
    return;
  }
  await command.run(args);
}

function report(error: unknown): void {
  const code = exitCodeOf(error);
  process.exitCode = code;
  const message = error instanceof Error ? error.message : String(error);
  if ((error as { printAsJson?: boolean }).printAsJson) {
    const codeName = error instanceof SessionRaftError ? error.codeName : code === 2 ? 'USAGE' : 'UNKNOWN';
    console.error(JSON.stringify({ error: { code: codeName, message, exitCode: code } }));
  } else if (error instanceof SessionRaftError) {
    console.error(`sessionraft: ${error.codeName}: ${message}`);
  } else if (code === 2) {
    console.error(`sessionraft: ${message}\nRun with --help for usage.`);
  } else {
    console.error(error);
  }
}

main(process.argv.slice(2)).catch(report);
