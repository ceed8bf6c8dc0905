// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"), step for step as torch.optim.AdamW
// (amsgrad=False, maximize=False):
//
//   θ ← θ · (1 − lr · λ)                                   decoupled weight decay
//   m ← β₁ · m + (1 − β₁) · g                              first moment
//   v ← β₂ · v + (1 − β₂) · g²                             second moment
//   θ ← θ − lr / (1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)      bias-corrected step
//
// The moments are kept in float64, the parameters in their own dtype. Parameters without a gradient are skipped
// (their step count does not advance), as PyTorch does.

import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/tensor.js';
import { type Var } from '../autograd/var.js';

/** Options of {@link AdamW}; defaults are PyTorch's. */
export interface AdamWOptions {
  /**
   * Learning rate; may be changed between steps (see {@link cosineWithWarmup}).
   * @default 1e-3
   */
  lr?: number;
  /**
   * Decay rates of the moment estimates.
   * @default [0.9, 0.999]
   */
  betas?: [number, number];
  /**
   * Added to the denominator for stability.
   * @default 1e-8
   */
  eps?: number;
  /**
   * Decoupled weight decay λ.
   * @default 0.01
   */
  weightDecay?: number;
}

interface State {
  step: number;
  expAvg: Float64Array;
  expAvgSq: Float64Array;
}

/**
 * @example
 * const opt = new AdamW(model.parameters(), { lr: 3e-4 });
 * backward(loss); opt.step(); opt.zeroGrad();
 */
export class AdamW {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  readonly params: readonly Var[];
  readonly #state = new Map<Var, State>();

  constructor(params: Iterable<Var>, options: AdamWOptions = {}) {
    const fn = 'AdamW';
    this.params = [...params];
    this.lr = options.lr ?? 1e-3;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    const check = (name: string, v: number, ok: boolean) => {
      if (typeof v !== 'number' || !ok) throw new ArgumentError(`${fn}: ${name} is out of range; got ${describe(v)}`);
    };
    check('lr', this.lr, this.lr >= 0);
    check('betas[0]', this.betas[0], this.betas[0] >= 0 && this.betas[0] < 1);
    check('betas[1]', this.betas[1], this.betas[1] >= 0 && this.betas[1] < 1);
    check('eps', this.eps, this.eps >= 0);
    check('weightDecay', this.weightDecay, this.weightDecay >= 0);
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    const [b1, b2] = this.betas;
    const { lr, eps, weightDecay } = this;
    for (const p of this.params) {
      const g = p.gradData;
      if (g === null) continue;
      let s = this.#state.get(p);
      if (s === undefined) {
        s = { step: 0, expAvg: new Float64Array(p.size), expAvgSq: new Float64Array(p.size) };
        this.#state.set(p, s);
      }
      s.step++;
      const bc1 = 1 - b1 ** s.step;
      const bc2Sqrt = Math.sqrt(1 - b2 ** s.step);
      const stepSize = lr / bc1;
      const decay = 1 - lr * weightDecay;
      const x = p.data;
      for (let i = 0; i < x.length; i++) {
        const gi = g[i];
        const m = (s.expAvg[i] = b1 * s.expAvg[i] + (1 - b1) * gi);
        const v = (s.expAvgSq[i] = b2 * s.expAvgSq[i] + (1 - b2) * gi * gi);
        x[i] = x[i] * decay - (stepSize * m) / (Math.sqrt(v) / bc2Sqrt + eps);
      }
    }
  }

  /** Forgets every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** The step count of a parameter (0 before its first update). */
  stepCount(p: Var): number {
    return this.#state.get(p)?.step ?? 0;
  }

  /** The moment estimates of a parameter, or undefined before its first update (copies). */
  moments(p: Var): { step: number; expAvg: Float64Array; expAvgSq: Float64Array } | undefined {
    const s = this.#state.get(p);
    return s && { step: s.step, expAvg: s.expAvg.slice(), expAvgSq: s.expAvgSq.slice() };
  }

  /** Restores a parameter's moments (from {@link moments}, e.g. read back from a checkpoint). */
  setMoments(p: Var, state: { step: number; expAvg: ArrayLike<number>; expAvgSq: ArrayLike<number> }): void {
    if (!this.params.includes(p)) throw new ArgumentError('AdamW.setMoments: p is not one of this optimizer\'s parameters');
    if (state.expAvg.length !== p.size || state.expAvgSq.length !== p.size) {
      throw new ArgumentError(`AdamW.setMoments: moments must have the parameter's ${p.size} elements; got ${state.expAvg.length}, ${state.expAvgSq.length}`);
    }
    this.#state.set(p, { step: state.step, expAvg: Float64Array.from(state.expAvg), expAvgSq: Float64Array.from(state.expAvgSq) });
  }
}
