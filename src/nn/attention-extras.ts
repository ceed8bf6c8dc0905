// PyTorch's extras of nn.MultiheadAttention: add_bias_kv (a learned key and value appended to the sequence) and
// add_zero_attn (a zero key and value appended after them), as F.multi_head_attention_forward does them. The
// appended keys are visible to every query, so the mask gains allowed columns and the bias zero columns, and a
// causal rule becomes an explicit mask over the original keys (ops/ causalMask, the rule itself written once in
// kernels/contract.ts). Also the checks of a mask or bias against the scores [B, H, N, S].

import { ArgumentError, ShapeError } from '../core/errors.js';
import { formatShape, sizeOf } from '../core/shape.js';
import { Tensor, describe } from '../core/tensor.js';
import { type AttentionOptions, causalMask } from '../ops/attention.js';
import { broadcastTo, concat, permute, reshape } from '../autograd/tensor-ops.js';
import { Var } from '../autograd/var.js';
import { type Parameter } from './module.js';

/** What acts on the scores of one MultiHeadAttention call. */
export interface ScoreOptions {
  mask?: Tensor;
  bias?: Tensor;
  causal?: AttentionOptions['causal'];
}

/** The parts of a MultiHeadAttention that append keys. */
export interface ExtraKeys {
  readonly addZeroAttn: boolean;
  readonly biasKParam: Parameter | null;
  readonly biasVParam: Parameter | null;
}

/** How many keys add_bias_kv and add_zero_attn append. */
export function extraKeyCount(m: ExtraKeys): number {
  return (m.biasKParam !== null ? 1 : 0) + (m.addZeroAttn ? 1 : 0);
}

/**
 * The mask, bias and causal rule for attention over `scoreShape` = [B, H, N, S] keys, with `extra` appended keys
 * that every query may attend (padded in as allowed columns). Unbatched masks are [H, N, S] at most; they get the
 * batch dim explicitly so that a 4-D mask is rejected.
 */
export function scoreOptions(fn: string, options: ScoreOptions, scoreShape: number[], batched: boolean, extra: number): ScoreOptions {
  let { mask, bias, causal } = options;
  if (extra > 0) {
    if (causal !== undefined && causal !== false) {
      const [, , N, S] = scoreShape;
      const rule = causalMask(fn, causal, N, S).data; // [N, S]
      const full = mask === undefined ? Tensor.ones(scoreShape) : checkScore(fn, 'mask', mask, scoreShape, true).clone();
      for (let e = 0; e < full.size; e++) if (rule[e % (N * S)] === 0) full.data[e] = 0; // [B, H, N, S]
      mask = full;
      causal = false;
    }
    mask = mask === undefined ? undefined : padLast(checkScore(fn, 'mask', mask, scoreShape, batched), extra, 1);
    bias = bias === undefined ? undefined : padLast(checkScore(fn, 'bias', bias, scoreShape, batched), extra, 0);
  } else if (!batched) {
    mask = mask === undefined ? undefined : checkScore(fn, 'mask', mask, scoreShape, batched);
    bias = bias === undefined ? undefined : checkScore(fn, 'bias', bias, scoreShape, batched);
  }
  return { mask, bias, causal };
}

/** k, v [B, Hkv, S, d] with bias_k / bias_v and then a zero key and value appended: [B, Hkv, S + extra, d]. */
export function appendExtraKeys(m: ExtraKeys, key: Var, value: Var): [Var, Var] {
  const [B, Hkv, , d] = key.shape;
  let k = key;
  let v = value;
  // bias_k [1, 1, Hkv·d] → one key per head: [B, Hkv, 1, d]
  const perHead = (p: Parameter) => permute(reshape(broadcastTo(p, [B, 1, Hkv * d]), [B, 1, Hkv, d]), [0, 2, 1, 3]);
  if (m.biasKParam !== null && m.biasVParam !== null) {
    k = concat([k, perHead(m.biasKParam)], 2); // [B, Hkv, S + 1, d]
    v = concat([v, perHead(m.biasVParam)], 2); // [B, Hkv, S + 1, d]
  }
  if (m.addZeroAttn) {
    const zeros = new Var(Tensor.zeros([B, Hkv, 1, d])); // [B, Hkv, 1, d]
    k = concat([k, zeros], 2); // [B, Hkv, S + extra, d]
    v = concat([v, zeros], 2); // [B, Hkv, S + extra, d]
  }
  return [k, v];
}

/**
 * Checks a mask or bias against the score shape [B, H, N, S] (or [H, N, S] for unbatched inputs) and returns it
 * broadcast to the full 4-D score shape.
 */
function checkScore(fn: string, name: string, t: Tensor, scoreShape: number[], batched: boolean): Tensor {
  if (!(t instanceof Tensor)) throw new ArgumentError(`${fn}: ${name} must be a Tensor; got ${describe(t)}`);
  const target = batched ? scoreShape : scoreShape.slice(1);
  const fits = t.rank <= target.length && t.shape.every((s, i) => s === 1 || s === target[target.length - t.rank + i]);
  if (!fits) {
    const letters = batched ? '[B, H, N, S]' : '[H, N, S]';
    throw new ShapeError(`${fn}: ${name} must broadcast to ${letters} = ${formatShape(target)}; got ${name} ${formatShape(t.shape)}`);
  }
  return t.broadcastTo(target).reshape(scoreShape);
}

/** Appends `extra` columns holding `fill` to the last dim: [..., S] → [..., S + extra]. */
function padLast(t: Tensor, extra: number, fill: number): Tensor {
  const S = t.shape[t.rank - 1];
  const rows = sizeOf(t.shape.slice(0, -1));
  const out = new Float32Array(rows * (S + extra)).fill(fill); // [..., S + extra]
  for (let r = 0; r < rows; r++) out.set(t.data.subarray(r * S, (r + 1) * S), r * (S + extra));
  return new Tensor(out, [...t.shape.slice(0, -1), S + extra]);
}
