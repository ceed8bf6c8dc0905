// Learning-rate schedule: linear warmup, then cosine decay to a floor, as Hugging Face's
// get_cosine_schedule_with_warmup (with a floor added, as nanoGPT's get_lr has):
//
//   step < W:        lr = base · step / W
//   W ≤ step ≤ T:    lr = floor + (base − floor) · ½ (1 + cos(π · (step − W) / (T − W)))
//   step > T:        lr = floor

import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/tensor.js';

/** Options of {@link cosineWithWarmup}. */
export interface CosineWithWarmupOptions {
  /** The peak learning rate, reached at the end of warmup. */
  baseLr: number;
  /** Warmup steps W (0 for none). */
  warmupSteps: number;
  /** The step T at which the decay reaches the floor. */
  totalSteps: number;
  /**
   * The floor.
   * @default 0
   */
  minLr?: number;
}

/**
 * The learning rate at `step` (0-based) of the schedule in the file header.
 * @example opt.lr = cosineWithWarmup(step, { baseLr: 1e-3, warmupSteps: 100, totalSteps: 1000 });
 */
export function cosineWithWarmup(step: number, options: CosineWithWarmupOptions): number {
  const fn = 'cosineWithWarmup';
  const { baseLr, warmupSteps: W, totalSteps: T } = options;
  const floor = options.minLr ?? 0;
  if (!Number.isInteger(step) || step < 0) throw new ArgumentError(`${fn}: step must be an integer ≥ 0; got ${describe(step)}`);
  if (!Number.isInteger(W) || !Number.isInteger(T) || W < 0 || T < W) {
    throw new ArgumentError(`${fn}: warmupSteps and totalSteps must be integers with 0 ≤ warmupSteps ≤ totalSteps; got ${W}, ${T}`);
  }
  if (!(baseLr >= 0) || !(floor >= 0) || floor > baseLr) {
    throw new ArgumentError(`${fn}: need 0 ≤ minLr ≤ baseLr; got baseLr ${describe(baseLr)}, minLr ${describe(options.minLr)}`);
  }
  if (step < W) return (baseLr * step) / W;
  if (step >= T) return T === W ? baseLr : floor;
  const progress = (step - W) / (T - W);
  return floor + (baseLr - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
