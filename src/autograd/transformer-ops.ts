// Differentiable ops that decoder-only and encoder models need beyond nn-ops.ts: RMSNorm, SiLU, the tanh GELU
// ("gelu_new" of GPT-2) and rotary position embeddings in Hugging Face's rotate-half convention. Each mirrors the
// Hugging Face modelling code named in its TSDoc, computes in float64, stores in the wider dtype of its inputs, and
// records one gradient rule that restates the forward line it differentiates.

import { ShapeError, ArgumentError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import { describe } from '../core/tensor.js';
import { type VarLike } from './tensor-ops.js';
import { Var, alloc, asVar, dtypeOf } from './var.js';

/**
 * Root-mean-square normalisation over the last dim, as LlamaRMSNorm: y = x / √(mean(x²) + eps) · weight.
 * x [..., D], weight [D] → [..., D].
 */
export function rmsNorm(x: VarLike, weight: VarLike, eps: number): Var {
  const fn = 'rmsNorm';
  const a = asVar(x, fn, 'x');
  const w = asVar(weight, fn, 'weight');
  const D = a.shape[a.rank - 1];
  if (a.rank < 1 || w.rank !== 1 || w.shape[0] !== D) {
    throw new ShapeError(`${fn}: x must be [..., D] and weight [D]; got x ${formatShape(a.shape)}, weight ${formatShape(w.shape)}`);
  }
  if (typeof eps !== 'number' || !(eps >= 0) || !Number.isFinite(eps)) {
    throw new ArgumentError(`${fn}: eps must be a finite number ≥ 0; got ${describe(eps)}`);
  }
  const rows = D === 0 ? 0 : a.size / D;
  /** 1/√(mean(x²) + eps) of row r, in float64. */
  const rstd = (r: number): number => {
    let ss = 0;
    for (let j = 0; j < D; j++) ss += a.data[r * D + j] ** 2;
    return 1 / Math.sqrt(ss / D + eps);
  };
  const y = alloc(dtypeOf(a, w), a.size);
  for (let r = 0; r < rows; r++) {
    const s = rstd(r);
    for (let j = 0; j < D; j++) y[r * D + j] = a.data[r * D + j] * s * w.data[j];
  }
  // x̂ = x · rstd,  y = x̂ · w  →  dw += dy · x̂,  dx = rstd · (dx̂ − x̂ · mean(dx̂ · x̂))  with dx̂ = dy · w
  return Var.fromOp(fn, y, a.shape, [a, w], (g) => {
    const gx = a.requiresGrad ? new Float64Array(a.size) : null;
    const gw = w.requiresGrad ? new Float64Array(D) : null;
    for (let r = 0; r < rows; r++) {
      const s = rstd(r);
      let dot = 0;
      for (let j = 0; j < D; j++) {
        const xhat = a.data[r * D + j] * s;
        dot += g[r * D + j] * w.data[j] * xhat;
        if (gw) gw[j] += g[r * D + j] * xhat;
      }
      dot /= D;
      if (gx) for (let j = 0; j < D; j++) gx[r * D + j] = s * (g[r * D + j] * w.data[j] - a.data[r * D + j] * s * dot);
    }
    return [gx, gw];
  });
}

/** SiLU (swish), x · σ(x), as F.silu: the gate of Llama's SwiGLU feed-forward. */
export function silu(x: VarLike): Var {
  const a = asVar(x, 'silu', 'x');
  const y = alloc(a.dtype, a.size);
  for (let i = 0; i < y.length; i++) y[i] = a.data[i] / (1 + Math.exp(-a.data[i]));
  // y = x · σ(x)  →  dx = dy · σ(x) · (1 + x · (1 − σ(x)))
  return Var.fromOp('silu', y, a.shape, [a], (g) => {
    const gx = new Float64Array(a.size);
    for (let i = 0; i < gx.length; i++) {
      const s = 1 / (1 + Math.exp(-a.data[i]));
      gx[i] = g[i] * s * (1 + a.data[i] * (1 - s));
    }
    return [gx];
  });
}

const GELU_TANH_C = Math.sqrt(2 / Math.PI);

/**
 * The tanh approximation of GELU, 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))): GPT-2's "gelu_new" (NewGELUActivation)
 * and F.gelu(approximate="tanh").
 */
export function geluTanh(x: VarLike): Var {
  const a = asVar(x, 'geluTanh', 'x');
  const y = alloc(a.dtype, a.size);
  for (let i = 0; i < y.length; i++) {
    const v = a.data[i];
    y[i] = 0.5 * v * (1 + Math.tanh(GELU_TANH_C * (v + 0.044715 * v * v * v)));
  }
  // y = ½x(1 + t), t = tanh(u), u = c(x + 0.044715x³)  →  dx = dy · (½(1 + t) + ½x(1 − t²) · c(1 + 3 · 0.044715x²))
  return Var.fromOp('geluTanh', y, a.shape, [a], (g) => {
    const gx = new Float64Array(a.size);
    for (let i = 0; i < gx.length; i++) {
      const v = a.data[i];
      const t = Math.tanh(GELU_TANH_C * (v + 0.044715 * v * v * v));
      gx[i] = g[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_TANH_C * (1 + 3 * 0.044715 * v * v));
    }
    return [gx];
  });
}

/**
 * Rotary position embedding in Hugging Face's rotate-half convention (apply_rotary_pos_emb of modeling_llama.py):
 * with x = [x₁ | x₂] split in halves of the head size d, y = [x₁·cos − x₂·sin | x₂·cos + x₁·sin].
 * x [B, H, N, d]; angles [B, N, d/2] holds position · inverse frequency for each batch entry and token (positions
 * may differ per batch entry, as with left padding). The gradient is the inverse rotation.
 */
export function rotary(x: VarLike, angles: Float64Array, anglesShape: readonly number[]): Var {
  const fn = 'rotary';
  const a = asVar(x, fn, 'x');
  const [B, H, N, d] = a.shape;
  const half = d / 2;
  if (a.rank !== 4 || d % 2 !== 0 || anglesShape.length !== 3 || anglesShape[0] !== B || anglesShape[1] !== N || anglesShape[2] !== half) {
    throw new ShapeError(
      `${fn}: x must be [B, H, N, d] with d even and angles [B, N, d/2]; got x ${formatShape(a.shape)}, angles ${formatShape(anglesShape)}`,
    );
  }
  const cos = angles.map(Math.cos);
  const sin = angles.map(Math.sin);
  /** Rotates every head vector of `src` by +angle (sign 1) or −angle (sign −1) into `dst`. */
  const rotate = (src: ArrayLike<number>, dst: { [i: number]: number }, sign: number) => {
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let n = 0; n < N; n++) {
          const row = ((b * H + h) * N + n) * d;
          const ang = (b * N + n) * half;
          for (let i = 0; i < half; i++) {
            const x1 = src[row + i];
            const x2 = src[row + half + i];
            const c = cos[ang + i];
            const s = sign * sin[ang + i];
            dst[row + i] = x1 * c - x2 * s;
            dst[row + half + i] = x2 * c + x1 * s;
          }
        }
      }
    }
  };
  const y = alloc(a.dtype, a.size);
  rotate(a.data, y, 1);
  // y = R(θ) x  →  dx = R(θ)ᵀ dy = R(−θ) dy
  return Var.fromOp(fn, y, a.shape, [a], (g) => {
    const gx = new Float64Array(a.size);
    rotate(g, gx, -1);
    return [gx];
  });
}
