// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_: the norm is taken over all gradients
// together, and when it exceeds maxNorm every gradient is scaled by maxNorm / (norm + 1e-6).

import { ArgumentError } from '../core/errors.js';
import { describe } from '../core/tensor.js';
import { type Var } from '../autograd/var.js';

/**
 * Scales the gradients of `params` in place so that their global norm is at most `maxNorm`, and returns the norm
 * before clipping (accumulated in float64). Parameters without a gradient are ignored.
 * @param normType 2 (Euclidean) or Infinity (largest |g|)
 * @example const norm = clipGradNorm(model.parameters(), 1.0);
 */
export function clipGradNorm(params: Iterable<Var>, maxNorm: number, normType: number = 2): number {
  const fn = 'clipGradNorm';
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) throw new ArgumentError(`${fn}: maxNorm must be ≥ 0; got ${describe(maxNorm)}`);
  if (normType !== 2 && normType !== Infinity) throw new ArgumentError(`${fn}: normType must be 2 or Infinity; got ${describe(normType)}`);
  const grads = [...params].map((p) => p.gradData).filter((g) => g !== null);
  let norm = 0;
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) norm = normType === 2 ? norm + g[i] * g[i] : Math.max(norm, Math.abs(g[i]));
  }
  if (normType === 2) norm = Math.sqrt(norm);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return norm;
}
