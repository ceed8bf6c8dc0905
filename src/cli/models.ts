// The CLI on real Hugging Face models: `qkv explain --model <folder|hub id> "text"` (a head grid, one head's heatmap,
// one token's heaviest keys, or the "qkv.attention" JSON) and `qkv generate --model <folder|hub id> "prompt"`, which
// streams the continuation as it is generated. A Hub id is downloaded once into qkv's cache, with a progress bar on
// stderr. run.ts sends `explain` here when --model names a folder or a Hub id (a .safetensors file is still the
// bundled coreference model's format).
//
// Every bad argument is one line on stderr ("qkv: explain: …") and exit code 2; a model that cannot be loaded or run
// is one line and exit code 1.

import { statSync } from 'node:fs';

import {
  DEFAULT_TOP_K,
  HEAD_STATS,
  type HeadStat,
  type LoadOptions,
  type PretrainedModel,
  buildAttentionJson,
  findModelToken,
  isQkvError,
  loadPretrained,
  renderModelAttention,
  traceModelAttention,
} from '../index.js';
import { UsageError, intFlag, parseArgs } from './args.js';
import { progressBar } from './progress.js';
import type { CliIO } from './run.js';

/** A Hub repo id: "owner/name", or a bare legacy "name" (gpt2). */
const HUB_ID = /^(?:[A-Za-z0-9][\w.-]{0,95}\/)?[A-Za-z0-9][\w.-]{0,95}$/;

/**
 * Whether a --model value names a real model: an existing folder, or a Hub id that is not an existing file. A file
 * (a .safetensors model written by `qkv train`) is the coreference model's, and so is a name ending in .safetensors.
 * @example isPretrainedSource('tests/models/fixtures/gpt2') // true
 * @example isPretrainedSource('coref.safetensors') // false
 */
export function isPretrainedSource(source: string): boolean {
  try {
    return statSync(source).isDirectory();
  } catch {
    return HUB_ID.test(source) && !source.endsWith('.safetensors') && !source.includes('..') && !source.includes('--');
  }
}

/** The --model value of a command line, or undefined. */
export function modelFlag(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--model') return args[i + 1];
    if (args[i].startsWith('--model=')) return args[i].slice('--model='.length);
  }
  return undefined;
}

/** A wrong command line: one line on stderr and exit code 2. */
function parse(command: string, args: readonly string[], values: readonly string[], switches: readonly string[]) {
  return parseArgs(command, args, { values, switches, unknownHint: '; see `qkv help`' });
}

function int(command: string, flags: Map<string, string>, name: string, min: number): number | undefined {
  return intFlag(command, flags, name, undefined, min);
}

function real(command: string, flags: Map<string, string>, name: string, ok: (x: number) => boolean, range: string): number | undefined {
  const text = flags.get(name);
  if (text === undefined) return undefined;
  const x = Number(text);
  if (text.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new UsageError(`${command}: --${name} must be a number ${range}; got "${text}"`);
  return x;
}

/** Runs one model command, turning bad arguments and qkv errors into a line on stderr and an exit code. */
async function guarded(io: CliIO, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`qkv: ${e.message}\n`);
      return 2;
    }
    if (isQkvError(e)) {
      io.stderr.write(`qkv: ${e.message.split('\n').join('\n  ')}\n`);
      return 1;
    }
    throw e;
  }
}

/** Loads the model named by --model, drawing the Hub download's progress on stderr. */
async function load(command: string, flags: Map<string, string>, io: CliIO): Promise<{ model: PretrainedModel; source: string }> {
  const source = flags.get('model');
  if (source === undefined || source === '') throw new UsageError(`${command}: --model needs a model folder or a Hub id ("owner/name")`);
  if (!isPretrainedSource(source)) {
    throw new UsageError(`${command}: --model ${source} is neither a model folder nor a Hub id ("owner/name")`);
  }
  const bar = progressBar(io.stderr);
  const options: LoadOptions = { onProgress: bar };
  if (flags.has('offline')) options.offline = true;
  try {
    return { model: await loadPretrained(source, options), source };
  } finally {
    bar.end();
  }
}

/** The one text argument, or the default. */
function oneText(command: string, positional: readonly string[], fallback: string | undefined): string {
  if (positional.length > 1) {
    throw new UsageError(`${command} takes one text (quote it); got ${positional.length} arguments: ${positional.join(' ')}`);
  }
  const text = positional[0] ?? fallback;
  if (text === undefined || text === '') throw new UsageError(`${command}: give a text (quote it)`);
  return text;
}

/**
 * `qkv explain --model <folder|hub id> ["text"] [--layer L] [--head H] [--token T] [--top K] [--stat S] [--json]`.
 * @returns the exit code: 0, 1 for a model that cannot be loaded or run, 2 for a bad argument.
 * @example await explainModel(['--model', 'tests/models/fixtures/gpt2', 'Hello world'], process)
 */
export function explainModel(args: readonly string[], io: CliIO, defaultText?: string): Promise<number> {
  return guarded(io, async () => {
    const cmd = 'explain';
    const { positional, flags } = parse(cmd, args, ['model', 'layer', 'head', 'token', 'top', 'stat'], ['json', 'no-color', 'offline']);
    const text = oneText(cmd, positional, defaultText);
    const layer = int(cmd, flags, 'layer', 0);
    const head = int(cmd, flags, 'head', 0);
    const top = int(cmd, flags, 'top', 1);
    const stat = flags.get('stat') ?? 'max';
    if (!(HEAD_STATS as readonly string[]).includes(stat)) throw new UsageError(`${cmd}: --stat must be one of ${HEAD_STATS.join(', ')}; got "${stat}"`);
    const { model, source } = await load(cmd, flags, io);
    const c = model.config;
    if (layer !== undefined && layer >= c.numHiddenLayers) {
      throw new UsageError(`${cmd}: --layer must be below L = ${c.numHiddenLayers} (layers 0 to ${c.numHiddenLayers - 1}); got ${layer}`);
    }
    if (head !== undefined && head >= c.numAttentionHeads) {
      throw new UsageError(`${cmd}: --head must be below H = ${c.numAttentionHeads} (heads 0 to ${c.numAttentionHeads - 1}); got ${head}`);
    }
    const run = traceModelAttention(model, text);
    const token = flags.get('token');
    if (token !== undefined) {
      try {
        findModelToken(run.tokens, token);
      } catch (e) {
        throw new UsageError(`${cmd}: --${(e as Error).message}`);
      }
    }
    const doc = buildAttentionJson(model, run, {
      source,
      topK: Math.max(top ?? DEFAULT_TOP_K, DEFAULT_TOP_K),
      // The heads whose heatmaps are drawn keep their full weights however long the text.
      keepFull: flags.has('json') ? undefined : (l, h) => (layer === undefined || layer === l) && (head === undefined || head === h) && (layer !== undefined || head !== undefined),
    });
    if (flags.has('json')) {
      io.stdout.write(JSON.stringify(doc) + '\n');
      return 0;
    }
    const env = io.env ?? process.env;
    const color = io.stdout.isTTY === true && !flags.has('no-color') && !env.NO_COLOR;
    io.stdout.write(renderModelAttention(doc, { color, width: io.stdout.columns ?? 80, layer, head, token, top, stat: stat as HeadStat }));
    return 0;
  });
}

/**
 * `qkv generate --model <folder|hub id> "prompt" [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P]
 * [--seed S]`: writes the continuation to stdout as the tokens come (greedy unless --temperature > 0), and a line
 * with the count and the speed to stderr.
 * @returns the exit code: 0, 1 for a model that cannot be loaded or generate, 2 for a bad argument.
 */
export function generateCommand(args: readonly string[], io: CliIO): Promise<number> {
  return guarded(io, async () => {
    const cmd = 'generate';
    const { positional, flags } = parse(cmd, args, ['model', 'max-new-tokens', 'temperature', 'top-k', 'top-p', 'seed'], ['offline']);
    const prompt = oneText(cmd, positional, undefined);
    const maxNewTokens = int(cmd, flags, 'max-new-tokens', 1) ?? 20;
    const temperature = real(cmd, flags, 'temperature', (x) => x >= 0, '≥ 0 (0 = greedy)') ?? 0;
    const topK = int(cmd, flags, 'top-k', 0);
    const topP = real(cmd, flags, 'top-p', (x) => x > 0 && x <= 1, 'in (0, 1]');
    const seed = int(cmd, flags, 'seed', 0);
    const { model } = await load(cmd, flags, io);
    const tokenizer = model.tokenizer;
    if (tokenizer === null) throw new UsageError(`${cmd}: the model has no tokenizer.json, so the prompt cannot be turned into tokens`);
    if (!model.config.causal) throw new UsageError(`${cmd}: ${model.config.family} attends both ways and cannot generate; use a decoder (gpt2, llama, mistral, qwen2)`);
    const ids = tokenizer.encode(prompt);
    if (ids.length === 0) throw new UsageError(`${cmd}: the prompt gives no tokens`);

    // The growing sequence is decoded whole and only the new end is written, so that a character split over tokens
    // (UTF-8 bytes of byte-level BPE) comes out whole: an unfinished one (U+FFFD at the end) waits for the next token.
    const decode = (tokens: number[]) => tokenizer.decode(tokens, { skipSpecialTokens: true });
    const base = decode(ids);
    const generated: number[] = [];
    let written = '';
    const start = performance.now();
    const flush = (final: boolean) => {
      const full = decode([...ids, ...generated]);
      let text = full.startsWith(base) ? full.slice(base.length) : decode(generated);
      if (!final) text = text.replace(/\uFFFD+$/, '');
      if (text.startsWith(written) && text.length > written.length) {
        io.stdout.write(text.slice(written.length));
        written = text;
      }
    };
    const stream = model.stream(ids, { maxNewTokens, temperature, topK, topP, seed });
    for await (const id of stream) {
      generated.push(id);
      flush(false);
    }
    flush(true);
    io.stdout.write('\n');
    const seconds = (performance.now() - start) / 1000;
    io.stderr.write(`qkv: ${generated.length} token${generated.length === 1 ? '' : 's'} in ${seconds.toFixed(2)} s (${(generated.length / Math.max(seconds, 1e-9)).toFixed(1)} tokens/s)\n`);
    return 0;
  });
}
