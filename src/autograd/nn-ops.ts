// Differentiable neural-network ops: softmax, layer norm, GELU, embedding lookup, cross-entropy and seeded dropout.
// Each mirrors its torch.nn.functional namesake and records one gradient rule that restates the forward line it
// differentiates. Row statistics (max, mean, variance, log-sum-exp) are computed in float64, and the backward
// recomputes them in float64 rather than reading the rounded forward outputs, so float32 training loses nothing
// beyond the final rounding and float64 gradient checks are exact to ~1e-12.

import { ArgumentError, ShapeError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import { Rng } from '../core/random.js';
import { Tensor, describe } from '../core/tensor.js';
import { erfc } from './erf.js';
import { type VarLike } from './tensor-ops.js';
import { Var, alloc, asVar, dtypeOf } from './var.js';

/**
 * softmax over the last dim: x [..., L] → [..., L], each row summing to 1. A row whose entries are all -Infinity gives
 * zeros (qkv's rule for a query with no allowed key), not NaN.
 */
export function softmax(x: VarLike): Var {
  const fn = 'softmax';
  const a = asVar(x, fn, 'x');
  if (a.rank < 1) throw new ShapeError(`${fn}: x must be [..., L]; got ${formatShape(a.shape)}`);
  const L = a.shape[a.rank - 1];
  const rows = L === 0 ? 0 : a.size / L;
  const y = alloc(a.dtype, a.size);
  const row = new Float64Array(L);
  /** Writes softmax of row r into `row` (float64). */
  const rowSoftmax = (r: number) => {
    let max = -Infinity;
    for (let j = 0; j < L; j++) max = Math.max(max, a.data[r * L + j]);
    if (max === -Infinity) return row.fill(0);
    let total = 0;
    for (let j = 0; j < L; j++) total += row[j] = Math.exp(a.data[r * L + j] - max);
    for (let j = 0; j < L; j++) row[j] /= total;
    return row;
  };
  for (let r = 0; r < rows; r++) y.set(rowSoftmax(r), r * L);
  // y = exp(x − max) / Σ exp(x − max)  →  dx = y · (dy − Σ_j dy_j · y_j)
  return Var.fromOp(fn, y, a.shape, [a], (g) => {
    const gx = new Float64Array(a.size);
    for (let r = 0; r < rows; r++) {
      const s = rowSoftmax(r);
      let dot = 0;
      for (let j = 0; j < L; j++) dot += g[r * L + j] * s[j];
      for (let j = 0; j < L; j++) gx[r * L + j] = s[j] * (g[r * L + j] - dot);
    }
    return [gx];
  });
}

/**
 * Layer normalisation over the last dim, as F.layer_norm(x, [D], weight, bias, eps): x [..., D], weight [D] and
 * bias [D] (each optional) → [..., D]. Biased variance, eps inside the square root.
 */
export function layerNorm(x: VarLike, weight: VarLike | null = null, bias: VarLike | null = null, eps = 1e-5): Var {
  const fn = 'layerNorm';
  const a = asVar(x, fn, 'x');
  const w = weight === null ? null : asVar(weight, fn, 'weight');
  const b = bias === null ? null : asVar(bias, fn, 'bias');
  const D = a.shape[a.rank - 1];
  const fits = (v: Var | null) => v === null || (v.rank === 1 && v.shape[0] === D);
  if (a.rank < 1 || !fits(w) || !fits(b)) {
    const shapes = [`x ${formatShape(a.shape)}`, w && `weight ${formatShape(w.shape)}`, b && `bias ${formatShape(b.shape)}`];
    throw new ShapeError(`${fn}: x must be [..., D], weight and bias [D]; got ${shapes.filter(Boolean).join(', ')}`);
  }
  if (typeof eps !== 'number' || !(eps >= 0)) throw new ArgumentError(`${fn}: eps must be a number ≥ 0; got ${describe(eps)}`);
  const rows = D === 0 ? 0 : a.size / D;
  const parents = [a, ...(w ? [w] : []), ...(b ? [b] : [])];
  /** Mean and 1/√(var + eps) of row r, in float64. */
  const stats = (r: number): [number, number] => {
    let mu = 0;
    for (let j = 0; j < D; j++) mu += a.data[r * D + j];
    mu /= D;
    let v = 0;
    for (let j = 0; j < D; j++) v += (a.data[r * D + j] - mu) ** 2;
    return [mu, 1 / Math.sqrt(v / D + eps)];
  };
  const y = alloc(dtypeOf(...parents), a.size);
  for (let r = 0; r < rows; r++) {
    const [mu, rstd] = stats(r);
    for (let j = 0; j < D; j++) {
      const xhat = (a.data[r * D + j] - mu) * rstd;
      y[r * D + j] = xhat * (w ? w.data[j] : 1) + (b ? b.data[j] : 0);
    }
  }
  // x̂ = (x − μ) · rstd,  y = x̂ · w + b
  //   →  dw += dy · x̂,  db += dy,  dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂))  with dx̂ = dy · w
  return Var.fromOp(fn, y, a.shape, parents, (g) => {
    const gx = a.requiresGrad ? new Float64Array(a.size) : null;
    const gw = w?.requiresGrad ? new Float64Array(D) : null;
    const gb = b?.requiresGrad ? new Float64Array(D) : null;
    const xhat = new Float64Array(D);
    const gxhat = new Float64Array(D);
    for (let r = 0; r < rows; r++) {
      const [mu, rstd] = stats(r);
      let meanG = 0;
      let meanGX = 0;
      for (let j = 0; j < D; j++) {
        const gy = g[r * D + j];
        xhat[j] = (a.data[r * D + j] - mu) * rstd;
        gxhat[j] = gy * (w ? w.data[j] : 1);
        meanG += gxhat[j];
        meanGX += gxhat[j] * xhat[j];
        if (gw) gw[j] += gy * xhat[j];
        if (gb) gb[j] += gy;
      }
      meanG /= D;
      meanGX /= D;
      if (gx) for (let j = 0; j < D; j++) gx[r * D + j] = rstd * (gxhat[j] - meanG - xhat[j] * meanGX);
    }
    const out: (Float64Array | null)[] = [gx];
    if (w) out.push(gw);
    if (b) out.push(gb);
    return out;
  });
}

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** The exact GELU, x · Φ(x) with Φ the standard normal CDF (F.gelu with approximate='none'). */
export function gelu(x: VarLike): Var {
  const a = asVar(x, 'gelu', 'x');
  const y = alloc(a.dtype, a.size);
  for (let i = 0; i < y.length; i++) {
    const v = a.data[i];
    y[i] = v * 0.5 * erfc(-v * SQRT1_2);
  }
  // y = x · Φ(x)  →  dx = dy · (Φ(x) + x · φ(x)),  φ(x) = e^(−x²/2) / √(2π)
  return Var.fromOp('gelu', y, a.shape, [a], (g) => {
    const gx = new Float64Array(a.size);
    for (let i = 0; i < gx.length; i++) {
      const v = a.data[i];
      gx[i] = g[i] * (0.5 * erfc(-v * SQRT1_2) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v));
    }
    return [gx];
  });
}

/** Reads integer ids from a Tensor, checking each lies in [0, limit). */
function readIds(fn: string, name: string, ids: Tensor, limit: number, allow?: number): Int32Array {
  if (!(ids instanceof Tensor)) throw new ArgumentError(`${fn}: ${name} must be a Tensor of integers; got ${describe(ids)}`);
  const out = new Int32Array(ids.size);
  for (let i = 0; i < ids.size; i++) {
    const id = ids.data[i];
    if (!(Number.isInteger(id) && ((id >= 0 && id < limit) || id === allow))) {
      throw new ArgumentError(
        `${fn}: ${name} must hold integers in [0, ${limit})${allow === undefined ? '' : ` or ${allow}`}; got ${id} at index ${i}`,
      );
    }
    out[i] = id;
  }
  return out;
}

/**
 * Looks up rows of an embedding table, as F.embedding: weight [V, D], ids [...] (a Tensor of integers in [0, V))
 * → [..., D]. The gradient adds each output row back into the row it was read from.
 */
export function embedding(weight: VarLike, ids: Tensor): Var {
  const fn = 'embedding';
  const w = asVar(weight, fn, 'weight');
  if (w.rank !== 2) throw new ShapeError(`${fn}: weight must be [V, D]; got ${formatShape(w.shape)}`);
  const [V, D] = w.shape;
  const idx = readIds(fn, 'ids', ids, V);
  const y = alloc(w.dtype, idx.length * D); // [..., D]
  for (let i = 0; i < idx.length; i++) y.set(w.data.subarray(idx[i] * D, (idx[i] + 1) * D), i * D);
  // y[i] = W[ids[i]]  →  dW[ids[i]] += dy[i]
  return Var.fromOp(fn, y, [...ids.shape, D], [w], (g) => {
    const gw = new Float64Array(w.size);
    for (let i = 0; i < idx.length; i++) {
      for (let j = 0; j < D; j++) gw[idx[i] * D + j] += g[i * D + j];
    }
    return [gw];
  });
}

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /**
   * Targets equal to this are skipped and do not count in the mean.
   * @default -100 (PyTorch's)
   */
  ignoreIndex?: number;
  /**
   * Mixes the one-hot target with the uniform distribution: target = (1 − ε) · onehot + ε / V.
   * @default 0
   */
  labelSmoothing?: number;
  /**
   * "mean" over the counted targets, or "sum".
   * @default "mean"
   */
  reduction?: 'mean' | 'sum';
}

/**
 * Cross-entropy of logits against integer class targets, as F.cross_entropy: logits [..., V], targets [...] (a
 * Tensor of integers in [0, V), or ignoreIndex) → a scalar []. The mean of zero counted targets is NaN, as in PyTorch.
 * @example const loss = crossEntropy(logits, Tensor.from([[1, 2, 0]])); // logits [1, 3, V]
 */
export function crossEntropy(logits: VarLike, targets: Tensor, options: CrossEntropyOptions = {}): Var {
  const fn = 'crossEntropy';
  const x = asVar(logits, fn, 'logits');
  const ignore = options.ignoreIndex ?? -100;
  const eps = options.labelSmoothing ?? 0;
  const reduction = options.reduction ?? 'mean';
  if (!(eps >= 0 && eps <= 1)) throw new ArgumentError(`${fn}: labelSmoothing must be in [0, 1]; got ${describe(options.labelSmoothing)}`);
  if (reduction !== 'mean' && reduction !== 'sum') {
    throw new ArgumentError(`${fn}: reduction must be "mean" or "sum"; got ${describe(options.reduction)}`);
  }
  if (!(targets instanceof Tensor)) throw new ArgumentError(`${fn}: targets must be a Tensor of integers; got ${describe(targets)}`);
  const V = x.shape[x.rank - 1];
  const lead = x.shape.slice(0, -1);
  if (x.rank < 1 || targets.rank !== lead.length || targets.shape.some((s, i) => s !== lead[i])) {
    throw new ShapeError(`${fn}: logits must be [..., V] and targets [...] with the same leading dims; got logits ${formatShape(x.shape)}, targets ${formatShape(targets.shape)}`);
  }
  const t = readIds(fn, 'targets', targets, V, ignore);
  const rows = t.length;
  let count = 0;
  for (let r = 0; r < rows; r++) if (t[r] !== ignore) count++;
  const denom = reduction === 'mean' ? count : 1;

  /** log Σ exp of row r, in float64. */
  const logSumExp = (r: number) => {
    let max = -Infinity;
    for (let j = 0; j < V; j++) max = Math.max(max, x.data[r * V + j]);
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(x.data[r * V + j] - max);
    return max + Math.log(s);
  };
  let total = 0;
  for (let r = 0; r < rows; r++) {
    if (t[r] === ignore) continue;
    const lse = logSumExp(r);
    let smooth = 0;
    for (let j = 0; j < V; j++) smooth += lse - x.data[r * V + j];
    total += (1 - eps) * (lse - x.data[r * V + t[r]]) + (eps / V) * smooth;
  }
  const y = alloc(x.dtype, 1);
  y[0] = total / denom;
  // loss = Σ_r [(1 − ε)(lse_r − x_r[t_r]) + ε/V · Σ_j (lse_r − x_rj)] / count
  //   →  dx_rj = dloss · (softmax_rj − (1 − ε) · [j = t_r] − ε/V) / count;  ignored rows get 0
  return Var.fromOp(fn, y, [], [x], (g) => {
    const gx = new Float64Array(x.size);
    const scale = g[0] / denom;
    for (let r = 0; r < rows; r++) {
      if (t[r] === ignore) continue;
      const lse = logSumExp(r);
      for (let j = 0; j < V; j++) {
        const target = (j === t[r] ? 1 - eps : 0) + eps / V;
        gx[r * V + j] = scale * (Math.exp(x.data[r * V + j] - lse) - target);
      }
    }
    return [gx];
  });
}

/**
 * Inverted dropout, as F.dropout: in training, each element is zeroed with probability p (drawn from `rng`, so runs
 * are reproducible) and the rest are scaled by 1 / (1 − p); otherwise x itself is returned.
 * @param p drop probability in [0, 1]
 * @param rng the seeded generator to draw the mask from
 * @param training identity when false
 */
export function dropout(x: VarLike, p: number, rng: Rng, training = true): Var {
  const fn = 'dropout';
  const a = asVar(x, fn, 'x');
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ArgumentError(`${fn}: p must be in [0, 1]; got ${describe(p)}`);
  if (!training || p === 0) return a;
  if (!(rng instanceof Rng)) throw new ArgumentError(`${fn}: rng must be an Rng; got ${describe(rng)}`);
  const keep = 1 / (1 - p); // Infinity for p = 1, but then nothing is kept
  const mask = new Float64Array(a.size);
  for (let i = 0; i < mask.length; i++) mask[i] = rng.uniform() >= p ? keep : 0;
  const y = alloc(a.dtype, a.size);
  for (let i = 0; i < y.length; i++) y[i] = mask[i] === 0 ? 0 : a.data[i] * mask[i];
  // y = x · m / (1 − p)  →  dx = dy · m / (1 − p)
  return Var.fromOp(fn, y, a.shape, [a], (g) => [mask.map((m, i) => (m === 0 ? 0 : g[i] * m))]);
}
