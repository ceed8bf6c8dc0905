// Element types. A Tensor is always float32; autograd's Var holds float32 for training or float64 for gradient
// checks, and its ops store in the wider dtype of their inputs (PyTorch's type promotion, restricted to two types).

/** Element type of a Var. */
export type DType = 'float32' | 'float64';
/** The storage of a Var or a gradient. */
export type Data = Float32Array | Float64Array;

/** The dtype of some storage. */
export function dtypeOfData(data: Data): DType {
  return data instanceof Float64Array ? 'float64' : 'float32';
}

/** Zero-filled storage of a dtype. */
export function alloc(dtype: DType, n: number): Data {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/** A copy of `values` in `dtype` (rounded to float32 when asked). */
export function toDType(values: ArrayLike<number>, dtype: DType): Data {
  return dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
}
