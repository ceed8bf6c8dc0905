// Command-line arguments, shared by every qkv command: "--name value", "--name=value" and switches, with one
// UsageError for a wrong command line (run.ts prints it with the help; the model commands print it alone).

/** A wrong command line: exit code 2. */
export class UsageError extends Error {}

/** Flags of a command: names with a value, and names without one. */
export interface FlagSpec {
  values: readonly string[];
  switches: readonly string[];
  /** Appended to the message for an unknown option. @default none */
  unknownHint?: string;
}

/** Splits `args` into positional arguments and flags ("--name value" or "--name=value"). */
export function parseArgs(command: string, args: readonly string[], spec: FlagSpec): { positional: string[]; flags: Map<string, string> } {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--') || arg === '--') {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (spec.switches.includes(name)) {
      if (eq >= 0) throw new UsageError(`${command}: --${name} takes no value; got ${arg}`);
      flags.set(name, 'true');
    } else if (spec.values.includes(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`${command}: --${name} needs a value`);
      flags.set(name, value);
    } else {
      throw new UsageError(`${command}: unknown option ${arg}${spec.unknownHint ?? ''}`);
    }
  }
  return { positional, flags };
}

/** The integer value of a flag, at least `min`, or `fallback` when absent. */
export function intFlag(command: string, flags: Map<string, string>, name: string, fallback: number | undefined, min: number): number | undefined {
  const text = flags.get(name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${command}: --${name} must be an integer ≥ ${min}; got "${text}"`);
  }
  return n;
}
