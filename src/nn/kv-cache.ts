// The key/value cache of MultiHeadAttention, for incremental decoding (as Hugging Face's past_key_values): the keys
// and values of earlier tokens, projected and split into heads. Each call appends its own, then attends everything
// cached; fed token by token or in chunks it gives bitwise the outputs of one causal pass (docs/SEMANTICS.md).

import { ArgumentError, ShapeError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import { type Tensor, describe } from '../core/tensor.js';
import { concat } from '../autograd/tensor-ops.js';
import { type Var } from '../autograd/var.js';

/**
 * Keys and values of earlier tokens, projected and split into heads, for incremental decoding.
 * Create one per sequence batch with {@link MultiHeadAttention.createCache}.
 */
export class KVCache {
  /** Cached keys `[B, Hkv, S, d]`, or null before the first call. */
  key: Tensor | null = null;
  /** Cached values `[B, Hkv, S, d]`. */
  value: Tensor | null = null;

  /** Number of cached tokens S. */
  get length(): number {
    return this.key === null ? 0 : this.key.shape[2];
  }

  /** Forgets every cached token. */
  reset(): void {
    this.key = null;
    this.value = null;
  }
}

/** Checks that `cache` is a KVCache whose keys fit [B, Hkv, S, d]; `got` describes the call's inputs. */
export function checkCache(fn: string, cache: unknown, B: number, Hkv: number, d: number, got: string): asserts cache is KVCache {
  if (!(cache instanceof KVCache)) throw new ArgumentError(`${fn}: cache must come from createCache(); got ${describe(cache)}`);
  const k = cache.key;
  if (k !== null && (k.shape[0] !== B || k.shape[1] !== Hkv || k.shape[3] !== d)) {
    throw new ShapeError(
      `${fn}: cache holds keys [B, Hkv, S, d] = ${formatShape(k.shape)}, which do not fit B = ${B}, Hkv = ${Hkv}, d = ${d}; ${got}`,
    );
  }
}

/**
 * Appends the new keys and values [B, Hkv, S, d] to the cache and returns everything cached:
 * [B, Hkv, S_cached + S, d] each. The cached tensors are constants: no gradient flows into earlier calls.
 */
export function appendToCache(cache: KVCache, key: Var, value: Var): [Var, Var] {
  const k = cache.key === null ? key : concat([cache.key, key], 2); // [B, Hkv, S_cached + S, d]
  const v = cache.value === null ? value : concat([cache.value, value], 2); // [B, Hkv, S_cached + S, d]
  cache.key = k.value;
  cache.value = v.value;
  return [k, v];
}
