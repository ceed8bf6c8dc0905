// Training of the coreference model: AdamW with warmup and cosine decay, gradient clipping, cross-entropy of the
// referent's word at the "it" token. It mirrors the minimal loops of nanoGPT's train.py: draw a batch, forward,
// backward, clip, step, report.
//
// Determinism: the seed decides the data (generateSplits), the initialisation and the batch order, and every kernel
// reduces in a fixed order whatever the thread count (the wasm kernels included), so one seed gives the same model
// bit for bit wherever the same backend runs.
// Batches are padded to their own longest sentence, not to MAX_LENGTH: the key padding mask makes that the same
// function, and sentences are about half of MAX_LENGTH, so a step costs about half.

import { ArgumentError } from '../../core/errors.js';
import { Rng } from '../../core/random.js';
import { Tensor, describe } from '../../core/tensor.js';
import { crossEntropy } from '../../autograd/nn-ops.js';
import { add, mul } from '../../autograd/tensor-ops.js';
import { backward, noGrad } from '../../autograd/var.js';
import { AdamW } from '../../optim/adamw.js';
import { clipGradNorm } from '../../optim/clip.js';
import { cosineWithWarmup } from '../../optim/schedule.js';
import { type CorefExample, generateSplits, toBatch } from './data.js';
import { CorefModel, type CorefModelConfig, batchCorrect } from './model.js';

/** Options of {@link trainCoref}. */
export interface TrainOptions {
  /** Seed of the data, the initialisation and the batch order. @default 1 */
  seed?: number;
  /** Optimizer steps. @default 600 */
  steps?: number;
  /** Sentences per step. @default 32 */
  batchSize?: number;
  /** Peak learning rate. @default 3e-3 */
  lr?: number;
  /** Steps of linear warmup; the rate then decays along a cosine to lr / 20. @default 5 % of steps */
  warmupSteps?: number;
  /** AdamW's decoupled weight decay. @default 0.01 */
  weightDecay?: number;
  /**
   * Weight of the auxiliary loss on the coreference head, −log (its weight from "it" to the referent); 0 turns
   * it off. @default 1
   */
  attentionLoss?: number;
  /** Largest global gradient norm. @default 1 */
  clip?: number;
  /** Training sentences drawn from the training split. @default 4000 */
  trainSize?: number;
  /** The model's shape. @default DEFAULT_CONFIG */
  config?: Partial<CorefModelConfig>;
  /** Called after every `progressEvery`-th step and after the last. */
  onProgress?: (progress: TrainProgress) => void;
  /** @default 1 */
  progressEvery?: number;
}

export interface TrainProgress {
  /** Steps done, 1..steps. */
  step: number;
  steps: number;
  /** Mean loss of the last (up to) 20 steps. */
  loss: number;
  /** Fraction of the last (up to) 20 batches' sentences whose referent beat the other candidate. */
  accuracy: number;
  elapsedMs: number;
  /** Estimated time left, from the mean time per step so far. */
  etaMs: number;
}

export interface TrainResult {
  model: CorefModel;
  /** Loss of every step. */
  losses: number[];
  /** Training-batch accuracy of every step. */
  accuracies: number[];
  elapsedMs: number;
  /** The options actually used, defaults filled in. */
  options: Required<Omit<TrainOptions, 'onProgress' | 'config'>> & { config: Partial<CorefModelConfig> };
}

const WINDOW = 20;

/**
 * Trains a {@link CorefModel} from scratch.
 * @example const { model } = trainCoref({ seed: 1, steps: 600, onProgress: (p) => console.log(p.step, p.loss) });
 */
export function trainCoref(options: TrainOptions = {}): TrainResult {
  const fn = 'trainCoref';
  const steps = options.steps ?? 600;
  const o = {
    seed: options.seed ?? 1,
    steps,
    batchSize: options.batchSize ?? 32,
    lr: options.lr ?? 3e-3,
    warmupSteps: options.warmupSteps ?? Math.round(steps * 0.05),
    weightDecay: options.weightDecay ?? 0.01,
    attentionLoss: options.attentionLoss ?? 1,
    clip: options.clip ?? 1,
    trainSize: options.trainSize ?? 4000,
    progressEvery: options.progressEvery ?? 1,
    config: options.config ?? {},
  };
  for (const name of ['seed', 'steps', 'batchSize', 'warmupSteps', 'trainSize', 'progressEvery'] as const) {
    const v = o[name];
    const min = name === 'seed' || name === 'warmupSteps' ? 0 : 1;
    if (!Number.isSafeInteger(v) || v < min) throw new ArgumentError(`${fn}: ${name} must be an integer ≥ ${min}; got ${describe(v)}`);
  }
  if (o.warmupSteps > steps) throw new ArgumentError(`${fn}: warmupSteps (${o.warmupSteps}) must be ≤ steps (${steps})`);
  for (const name of ['lr', 'weightDecay', 'attentionLoss', 'clip'] as const) {
    if (!(o[name] >= 0)) throw new ArgumentError(`${fn}: ${name} must be a number ≥ 0; got ${describe(o[name])}`);
  }

  // One stream for the model, one for the batch order; the data has its own seed inside generateSplits.
  const root = new Rng(o.seed);
  const model = new CorefModel(o.config, root.nextUint32());
  const order = new Rng(root.nextUint32());
  const { train } = generateSplits({ seed: o.seed, trainSize: o.trainSize, validationSize: 0, testSize: 0 });
  const opt = new AdamW(model.parameters(), { lr: 0, weightDecay: o.weightDecay });
  const schedule = { baseLr: o.lr, warmupSteps: o.warmupSteps, totalSteps: steps, minLr: o.lr / 20 };

  const losses: number[] = [];
  const accuracies: number[] = [];
  const start = performance.now();
  let queue: number[] = [];
  model.train();
  for (let step = 0; step < steps; step++) {
    const picked: CorefExample[] = [];
    while (picked.length < o.batchSize) {
      if (queue.length === 0) queue = shuffled(order, train.length);
      picked.push(train[queue.pop()!]);
    }
    const batch = toBatch(picked, Math.max(...picked.map((e) => e.ids.length)));
    const words = new Tensor(Float32Array.from(batch.referent, (r, b) => batch.ids[b * batch.length + r]), [batch.batchSize]); // [B]
    const { logits, pointer } = model.forward(batch); // [B, V], [B, N]
    const wordLoss = crossEntropy(logits, words);
    const loss =
      o.attentionLoss === 0 ? wordLoss : add(wordLoss, mul(crossEntropy(pointer, new Tensor(Float32Array.from(batch.referent), [batch.batchSize])), o.attentionLoss));
    opt.zeroGrad();
    backward(loss);
    clipGradNorm(model.parameters(), o.clip);
    opt.lr = cosineWithWarmup(step, schedule);
    opt.step();

    losses.push(loss.item());
    accuracies.push(mean(Array.from(batchCorrect(logits, batch))));
    if (options.onProgress && ((step + 1) % o.progressEvery === 0 || step + 1 === steps)) {
      const elapsedMs = performance.now() - start;
      options.onProgress({
        step: step + 1,
        steps,
        loss: mean(losses.slice(-WINDOW)),
        accuracy: mean(accuracies.slice(-WINDOW)),
        elapsedMs,
        etaMs: (elapsedMs / (step + 1)) * (steps - step - 1),
      });
    }
  }
  model.eval();
  model.attentionLoss = o.attentionLoss;
  return { model, losses, accuracies, elapsedMs: performance.now() - start, options: o };
}

/**
 * The trained model as safetensors bytes, with the training seed, steps and attention-loss weight in the metadata.
 * `qkv train` and tools/train-coref.ts both write this, so equal options give equal files.
 */
export function trainedModelBytes(result: TrainResult): Uint8Array {
  const { seed, steps, attentionLoss } = result.options;
  return result.model.toBytes({ seed: String(seed), steps: String(steps), attentionLoss: String(attentionLoss) });
}

export interface Evaluation {
  /** Fraction of sentences whose referent's logit beats the other candidate's. */
  accuracy: number;
  /** Fraction whose referent's word is the arg max over the whole vocabulary (a stricter reading). */
  vocabularyAccuracy: number;
  /** Mean cross-entropy of the referent's word. */
  loss: number;
  count: number;
}

/** Accuracy and loss of the model on `examples`, in batches of `batchSize`. */
export function evaluateCoref(model: CorefModel, examples: readonly CorefExample[], batchSize = 128): Evaluation {
  if (examples.length === 0) throw new ArgumentError('evaluateCoref: examples must not be empty');
  let right = 0;
  let top = 0;
  let lossSum = 0;
  noGrad(() => {
    for (let at = 0; at < examples.length; at += batchSize) {
      const part = examples.slice(at, at + batchSize);
      const batch = toBatch(part, Math.max(...part.map((e) => e.ids.length)));
      const { logits } = model.forward(batch); // [B, V]
      const V = logits.shape[1];
      right += batchCorrect(logits, batch).reduce((a, b) => a + b, 0);
      for (let b = 0; b < batch.batchSize; b++) {
        const row = logits.data.subarray(b * V, (b + 1) * V);
        const target = batch.ids[b * batch.length + batch.referent[b]];
        let best = 0;
        for (let j = 1; j < V; j++) if (row[j] > row[best]) best = j;
        if (best === target) top++;
        let max = -Infinity;
        for (const x of row) max = Math.max(max, x);
        let s = 0;
        for (const x of row) s += Math.exp(x - max);
        lossSum += max + Math.log(s) - row[target];
      }
    }
  });
  const n = examples.length;
  return { accuracy: right / n, vocabularyAccuracy: top / n, loss: lossSum / n, count: n };
}

function shuffled(rng: Rng, n: number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
