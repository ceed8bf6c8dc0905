// The qkv command line as a function: run(argv, io) → exit code. bin.ts is a thin wrapper around it, and tests call
// it directly with in-memory streams.

import { tour } from '../explain/tour.js';
import { isQkvError } from '../core/errors.js';

/** Where the CLI writes. Node's process streams fit, and so does anything with a `write(text)` method. */
export interface CliIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

const VERSION = '0.1.0';

const HELP = `qkv ${VERSION}: self-attention for TypeScript

Usage:
  qkv [tour]       walk through self-attention on one sentence, step by step
  qkv help         show this help
  qkv version      print the version
`;

/**
 * Runs the CLI with `argv` (without the node and script paths).
 * @returns the process exit code: 0 on success, 1 on a qkv error, 2 on a usage error.
 * @example await run(['tour'], { stdout: process.stdout, stderr: process.stderr })
 */
export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  const [command = 'tour', ...rest] = argv;
  try {
    switch (command) {
      case 'tour':
        if (rest.length > 0) return usage(io, `tour takes no arguments; got ${rest.join(' ')}`);
        io.stdout.write(tour().join('\n') + '\n');
        return 0;
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(HELP);
        return 0;
      case 'version':
      case '--version':
        io.stdout.write(`${VERSION}\n`);
        return 0;
      default:
        return usage(io, `unknown command "${command}"`);
    }
  } catch (e) {
    if (isQkvError(e)) {
      io.stderr.write(`qkv: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

function usage(io: CliIO, problem: string): number {
  io.stderr.write(`qkv: ${problem}\n\n${HELP}`);
  return 2;
}
