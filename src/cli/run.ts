// The qkv command line as a function: run(argv, io) → exit code. bin.ts is a thin wrapper around it, and tests call
// it directly with in-memory streams.
//
//   qkv tour                                     self-attention by hand, step by step
//   qkv explain ["sentence"] [--token it] ...    a trained model's attention on a sentence, and its answer
//   qkv explain --model <folder|hub id> "text"   a Hugging Face model's attention: a head grid, heads, tokens (models.ts)
//   qkv generate --model <folder|hub id> "p"     stream a Hugging Face model's continuation of a prompt (models.ts)
//   qkv train [--seed N] [--steps N] [--out p]   train the coreference model from scratch
//   qkv serve [--model p] [--port N] [--host h]  the web viewer, on 127.0.0.1 by default

import { writeFile } from 'node:fs/promises';

import { MIN_RENDER_WIDTH, isQkvError, renderExplain, tour, wrapText } from '../index.js';
import {
  type CorefModel,
  DEFAULT_SENTENCE,
  type TrainProgress,
  evaluateCoref,
  explainSentence,
  findCandidates,
  generateSplits,
  labelSentence,
  loadCorefModel,
  trainCoref,
  trainedModelBytes,
} from '../tasks/coref/index.js';
import { UsageError, intFlag, parseArgs } from './args.js';
import { explainModel, generateCommand, isPretrainedSource, modelFlag } from './models.js';
import { serveCommand } from './serve.js';

/** A stream the CLI writes to. Node's process streams fit, and so does anything with a `write(text)` method. */
export interface CliStream {
  write(text: string): unknown;
  /** True for a terminal: colours, and a redrawn progress bar. */
  isTTY?: boolean;
  /** Terminal width in columns. @default 80 */
  columns?: number;
}

/** Where the CLI writes, and its environment (Node's `process` fits). */
export interface CliIO {
  stdout: CliStream;
  stderr: CliStream;
  /** Environment variables; NO_COLOR turns colours off. @default process.env */
  env?: Record<string, string | undefined>;
}

const VERSION = '0.1.0';

const DEFAULT_STEPS = 600;
const DEFAULT_OUT = 'coref.safetensors';

const HELP = `qkv ${VERSION}: self-attention for TypeScript

Usage:
  qkv [tour]                   walk through self-attention on one sentence, step by step
  qkv explain ["sentence"]     show a trained model's attention on a sentence and what "it" refers to
      --token WORD             the token whose steps are shown (default: it)
      --layer N, --head N      the head whose steps are shown (default: the one that looks most at the answer)
      --json                   print the full trace as JSON (for tools and the web viewer)
      --model PATH             a model written by \`qkv train\` (default: the bundled model)
      --no-color               plain text even in a terminal (so does the NO_COLOR variable)
  qkv explain --model <folder|hub id> "text"
                               a Hugging Face model's attention (GPT-2, BERT, Llama, Mistral, Qwen2): a grid of
                               every layer × head, one head's weights, or where one token looks
      --stat S                 the grid's summary: max, entropy, first, previous or self (default max)
      --layer N, --head N      show the heatmaps of a layer's heads, a head in every layer, or one head
      --token T                list T's heaviest keys in every head (T: a token or its index)
      --top K                  keys listed per head (default 3)
      --json                   print the "qkv.attention" JSON (full weights up to 2^20 numbers, else top-k)
      --offline                use the download cache only (so does HF_HUB_OFFLINE=1)
  qkv generate --model <folder|hub id> "prompt"
                               stream a decoder's continuation of the prompt (greedy by default)
      --max-new-tokens N       tokens to add (default 20)
      --temperature T          sample at temperature T > 0 (default 0: greedy)
      --top-k K, --top-p P     sample among the K likeliest tokens, or the smallest set of probability P
      --seed S                 the sampler's seed (default 0)
      --offline                use the download cache only
  qkv train                    train the coreference model from scratch
      --seed N                 seed of the data, initialisation and batch order (default 1)
      --steps N                optimizer steps (default ${DEFAULT_STEPS})
      --out PATH               where to write the model (default ${DEFAULT_OUT})
  qkv serve                    open the web viewer (it computes in your browser)
      --model PATH             the model the page loads: a .safetensors coreference model (default: the
                               bundled one), or a Hugging Face model folder or Hub id
      --port N                 the port (default 8080)
      --host ADDRESS           the address to bind (default 127.0.0.1)
  qkv help                     show this help
  qkv version                  print the version

The default sentence is "${DEFAULT_SENTENCE}"
`;


/**
 * Runs the CLI with `argv` (without the node and script paths).
 * @returns the process exit code: 0 on success, 1 on a qkv error, 2 on a usage error.
 * @example await run(['explain', 'The dog chased the ball because it was playful.'], process)
 */
export async function run(argv: readonly string[], io: CliIO): Promise<number> {
  const [command = 'tour', ...rest] = argv;
  try {
    switch (command) {
      case 'tour':
        if (rest.length > 0) throw new UsageError(`tour takes no arguments; got ${rest.join(' ')}`);
        io.stdout.write(tour().join('\n') + '\n');
        return 0;
      case 'explain': {
        const model = modelFlag(rest);
        if (model !== undefined && isPretrainedSource(model)) return await explainModel(rest, io, DEFAULT_SENTENCE);
        return await explain(rest, io);
      }
      case 'generate':
        return await generateCommand(rest, io);
      case 'train':
        return await train(rest, io);
      case 'serve':
        return await serveCommand(rest, io);
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
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`qkv: ${e.message}\n\n${HELP}`);
      return 2;
    }
    if (isQkvError(e)) {
      io.stderr.write(`qkv: ${e.message}\n`);
      return 1;
    }
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code) && typeof (e as { path?: unknown }).path === 'string') {
      // A file the user named could not be read or written (ENOENT, EACCES, EISDIR, ...).
      io.stderr.write(`qkv: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
}

async function explain(args: readonly string[], io: CliIO): Promise<number> {
  const spec = { values: ['token', 'model', 'layer', 'head'], switches: ['json', 'no-color'] };
  const { positional, flags } = parseArgs('explain', args, spec);
  if (positional.length > 1) {
    throw new UsageError(`explain takes one sentence (quote it); got ${positional.length} arguments: ${positional.join(' ')}`);
  }
  const sentence = positional[0] ?? DEFAULT_SENTENCE;
  const path = flags.get('model');
  const model: CorefModel = await loadCorefModel(path);
  const doc = explainSentence(model, sentence);
  if (flags.has('json')) {
    io.stdout.write(JSON.stringify(doc) + '\n');
    return 0;
  }
  const env = io.env ?? process.env;
  const color = io.stdout.isTTY === true && !flags.has('no-color') && !env.NO_COLOR;
  io.stdout.write(
    renderExplain(doc, {
      color,
      width: io.stdout.columns ?? 80,
      token: flags.get('token'),
      layer: intFlag('explain', flags, 'layer', undefined, 0),
      head: intFlag('explain', flags, 'head', undefined, 0),
    }),
  );
  const found = findCandidates(doc.tokens);
  const last = 'note' in found ? `Note: ${found.note}.` : expectation(doc.tokens, doc.prediction!.referent);
  io.stdout.write(wrapText(last, Math.max(MIN_RENDER_WIDTH, io.stdout.columns ?? 80), '  ').join('\n') + '\n');
  return 0;
}

/** What the task's rule says the answer is, when the sentence follows it, and whether the model agrees. */
function expectation(tokens: readonly string[], predicted: number): string {
  let label;
  try {
    label = labelSentence(tokens);
  } catch {
    return 'Expected: the sentence has no property after "it" that decides the referent, so there is no right answer to check.';
  }
  const verdict = label.referent === predicted ? 'the model is right' : 'the model is wrong';
  const needs = label.referentClass === 'animate' ? 'an animal' : 'an object';
  return `Expected: "${tokens[label.referent]}", since "${label.property}" describes ${needs}; ${verdict}.`;
}

async function train(args: readonly string[], io: CliIO): Promise<number> {
  const spec = { values: ['seed', 'steps', 'out'], switches: [] };
  const { positional, flags } = parseArgs('train', args, spec);
  if (positional.length > 0) throw new UsageError(`train takes only options; got ${positional.join(' ')}`);
  const seed = intFlag('train', flags, 'seed', 1, 0)!;
  const steps = intFlag('train', flags, 'steps', DEFAULT_STEPS, 1)!;
  const out = flags.get('out') ?? DEFAULT_OUT;
  const tty = io.stderr.isTTY === true;
  const every = Math.max(1, Math.round(steps / 20));
  io.stderr.write(`Training the coreference model: seed ${seed}, ${steps} steps of 32 sentences\n`);
  const result = trainCoref({
    seed,
    steps,
    progressEvery: tty ? 1 : every,
    onProgress: (p) => io.stderr.write(tty ? `\r${progressBar(p, io.stderr.columns ?? 80)}` : `${progressLine(p)}\n`),
  });
  if (tty) io.stderr.write('\n');
  const { model } = result;
  const bytes = trainedModelBytes(result);
  await writeFile(out, bytes);
  const { test } = generateSplits({ seed, trainSize: 0, validationSize: 0 });
  const held = evaluateCoref(model, test);
  io.stdout.write(
    `Wrote ${out} (${bytes.length} bytes). Held-out accuracy: ${percent(held.accuracy)} of ${held.count} test sentences.\n` +
      `Try it: qkv explain --model ${out} "${DEFAULT_SENTENCE}"\n`,
  );
  return 0;
}

function progressLine(p: TrainProgress): string {
  return `step ${p.step}/${p.steps}  loss ${p.loss.toFixed(4)}  accuracy ${percent(p.accuracy)}  ETA ${duration(p.etaMs)}`;
}

/** "[█████░░░░░]  45%  step 270/600  loss 0.5460  accuracy 80.9 %  ETA 1m12s", cut to `width`. */
export function progressBar(p: TrainProgress, width: number): string {
  const text = `${String(Math.floor((100 * p.step) / p.steps)).padStart(3)}%  ${progressLine(p)}`;
  const cells = Math.max(10, Math.min(30, width - text.length - 4));
  const done = Math.round((cells * p.step) / p.steps);
  const line = `[${'█'.repeat(done)}${'░'.repeat(cells - done)}] ${text}`;
  return line.length < width ? line.padEnd(width - 1) : line.slice(0, width - 1);
}

function percent(x: number): string {
  return `${(100 * x).toFixed(1)} %`;
}

/** "1m12s", "8s". */
function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
