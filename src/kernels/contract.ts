// The kernel contract: every problem a backend is handed and every result it returns, in one place. ops/ validates
// user tensors once and builds these canonical problems; reference/ implements each one as the specification;
// every fast backend (kernels/wasm) implements the same interfaces and may decline a problem by returning null.
// Shapes use docs/SHAPES.md's letters; `batch` is every batch dim (heads included) flattened.

/** The backends that can be registered. */
export type BackendName = 'reference' | 'wasm';

/** How a mask or bias of any broadcastable shape is read for one batch index: element (i, j) is at
 *  `offsets[b] + i * rowStride + j * colStride`. Strides are 0 on broadcast dims. */
export interface BroadcastOperand {
  data: Float32Array;
  offsets: Int32Array;
  rowStride: number;
  colStride: number;
}

/** Causal alignment. "top-left": key j ≤ i (PyTorch is_causal). "bottom-right": j ≤ i + S − N (FlashAttention). */
export type CausalAlignment = 'none' | 'top-left' | 'bottom-right';

/** The causal rule, the one place it is written: true when key j is allowed for query i of N, over S keys. */
export function causalAllows(causal: CausalAlignment, i: number, j: number, N: number, S: number): boolean {
  if (causal === 'top-left') return j <= i;
  if (causal === 'bottom-right') return j <= i + S - N;
  return true;
}

/**
 * A validated attention problem in canonical form: every batch dim (heads included) is flattened to `batch`
 * matrices, and broadcasting or grouped-query sharing is expressed by per-batch element offsets. Backends receive
 * only this, never user tensors, so validation happens once, in ops/.
 */
export interface AttentionProblem {
  /** Flattened batch size: the product of the broadcast batch dims. */
  batch: number;
  N: number;
  S: number;
  d: number;
  dv: number;
  /** query [batch → offsets] [N, d], key [S, d], value [S, dv], each row-major with unit column stride. */
  query: Float32Array;
  key: Float32Array;
  value: Float32Array;
  queryOffsets: Int32Array;
  keyOffsets: Int32Array;
  valueOffsets: Int32Array;
  /** Nonzero = may attend. */
  mask: BroadcastOperand | null;
  /** Added to the scores after scale and softcap. May hold -Infinity. */
  bias: BroadcastOperand | null;
  causal: CausalAlignment;
  scale: number;
  /** 0 = off; otherwise scores become softcap · tanh(scores / softcap) before bias and mask. */
  softcap: number;
}

/** The settings of an attention problem that act on its scores. */
export type ScoreSettings = Pick<AttentionProblem, 'mask' | 'bias' | 'causal' | 'scale' | 'softcap'>;

/** What a kernel is asked to produce besides the output. */
export interface AttentionRequest {
  weights: boolean;
  trace: boolean;
}

/** Kernel results as flat arrays: output [batch, N, dv]; weights and trace arrays [batch, N, S]. */
export interface AttentionResult {
  output: Float32Array;
  weights?: Float32Array;
  /** scores: raw q·k; logits: scaled, soft-capped, biased and masked (-Infinity where blocked); weights. */
  trace?: { scores: Float32Array; logits: Float32Array; weights: Float32Array };
}

/** Kernel results of the attention backward as flat arrays, each sized and laid out like the problem's input. */
export interface AttentionGradientsResult {
  /** Like `problem.query`. */
  query: Float32Array;
  /** Like `problem.key`. */
  key: Float32Array;
  /** Like `problem.value`. */
  value: Float32Array;
  /** Like `problem.bias.data`, when the problem has a bias. */
  bias?: Float32Array;
}

/**
 * A matrix product in the form the backends' GEMM kernels take: C [M, O] = op(A) · op(B) + bias, where op(A) is
 * [M, K] (A stored [M, K], or [K, M] when transA) and op(B) is [K, O] (B stored [K, O], or [O, K] when transB).
 * `linear` is transB (B = weight [O, K]); its backward takes dX = dY · W (plain) and dW = dYᵀ · X (transA).
 * (The field of C's width is named `N` for the kernels' ABI; it is O, not a sequence length.)
 */
export interface GemmProblem {
  a: Float32Array;
  b: Float32Array;
  M: number;
  K: number;
  /** O: the columns of C. */
  N: number;
  transA: boolean;
  transB: boolean;
  /** [O], added to every row; null for none */
  bias: Float32Array | null;
}

/**
 * Self-attention with packed input weights, as MultiHeadAttention.forward computes it: [q | k | v] = x · inWeightᵀ +
 * inBias; per head h, attention over columns h·d.. of q, k and v with the score settings (whose mask and bias index
 * the scores [B·H, N, N]); the heads merged back into [B, N, D]; then · outWeightᵀ + outBias.
 */
export interface SelfAttentionProblem {
  B: number;
  N: number;
  /** model width D = H · d */
  D: number;
  H: number;
  /** [B·N, D] */
  x: Float32Array;
  /** [3D, D] and [3D] */
  inWeight: Float32Array;
  inBias: Float32Array | null;
  /** [D, D] and [D] */
  outWeight: Float32Array;
  outBias: Float32Array | null;
  /** The attention's settings over scores [B·H, N, N]. */
  scores: ScoreSettings;
}

export interface SelfAttentionResult {
  /** [B, N, D] */
  output: Float32Array;
  /** [B·H, N, N], when asked */
  weights?: Float32Array;
}

/** What a backend implements. Each kernel receives a validated problem and may return null to decline it. */
export interface Backend {
  readonly name: BackendName;
  /** Whether this backend can run here and now (for example, its WebAssembly module is instantiated). */
  available(): boolean;
  /** Forward attention; reference/attention.ts is the specification. */
  attention(problem: AttentionProblem, request: AttentionRequest): AttentionResult | null;
  /** Backward attention; see reference/attention-backward.ts. Optional: without it the reference runs. */
  attentionBackward?(problem: AttentionProblem, gradOutput: Float32Array): AttentionGradientsResult | null;
  /**
   * A float32 matrix product C [M, O] = op(A)·op(B) + bias; see reference/linear.ts. Optional: without it the
   * reference runs. Each row of C must not depend on M (a key/value cache computes one row at a time and must
   * equal the full pass bit for bit).
   */
  gemm?(problem: GemmProblem): Float32Array | null;
  /**
   * Optional: MultiHeadAttention's self-attention in one call (see {@link SelfAttentionProblem}), so that a backend
   * can keep the projections and the heads in its own memory. It must equal the composition of its `gemm` and
   * `attention` bit for bit; without it, or when it declines, MultiHeadAttention composes them.
   */
  selfAttention?(problem: SelfAttentionProblem, weights: boolean): SelfAttentionResult | null;
}
