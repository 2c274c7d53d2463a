#!/usr/bin/env node
/**
 * The `sessionraft` command. Each subcommand has its own --help.
 */
import { UsageError, nodeHelp, runNode } from './node-command.js';
import { clusterHelp, runCluster } from './cluster-command.js';
import { statusHelp, runStatus } from './status-command.js';

const COMMANDS: Record<string, { summary: string; help: () => string; run: (args: string[]) => Promise<void> }> = {
  node: { summary: 'run one node', help: nodeHelp, run: runNode },
  cluster: { summary: 'start, stop and inspect a local three-node cluster', help: clusterHelp, run: runCluster },
  status: { summary: 'print the status of a node or cluster', help: statusHelp, run: runStatus },
};

function mainHelp(): string {
  return [
    'Usage: sessionraft <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`),
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
  const command = COMMANDS[name];
  if (!command) {
    console.error(`sessionraft: unknown command '${name}'\n\n${mainHelp()}`);
    process.exitCode = 2;
    return;
  }
  if (args.includes('--help') || args.includes('-h')) {
    console.log(command.help());
    return;
  }
  await command.run(args);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    console.error(`sessionraft: ${(error as Error).message}\nRun with --help for usage.`);
    process.exitCode = 2;
    return;
  }
  console.error(error);
  process.exitCode = 1;
});
