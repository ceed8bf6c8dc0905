// Reverse-mode automatic differentiation: a Var is a value that remembers how it was made. Every op in
// src/autograd/ computes its forward, then records one backward rule: a closure that maps the gradient of its output
// to the gradients of its inputs. `backward(loss)` walks those records in reverse creation order, which is a
// topological order of the graph (an op's inputs always exist before its output), so the "tape" is the creation
// order itself and needs no global object. This is micrograd's design (Karpathy) at the tensor level, with
// PyTorch's conventions: leaves accumulate `.grad` across calls until `zeroGrad`, intermediate gradients are dropped.
//
// Precision. A Var holds float32 or float64 elements. Each op computes in float64 (JavaScript numbers) and stores
// in the wider dtype of its inputs, so the same graph code runs in float32 for training and in float64 for
// gradient checks against central finite differences.

import { ArgumentError, ShapeError } from '../core/errors.js';
import { type Shape, checkShape, formatShape, sizeOf } from '../core/shape.js';
import { type Data, type DType, alloc, dtypeOfData, toDType } from '../core/dtype.js';
import { Tensor, describe } from '../core/tensor.js';

export { type Data, type DType, alloc, toDType };

/** Maps the gradient of an op's output to the gradients of its inputs (null where an input needs none). */
export type BackwardRule = (gradOutput: Data) => readonly (Data | null)[];

let nextId = 0;
let gradEnabled = true;

export class Var {
  /** Row-major elements. For float32 Vars, {@link value} shares them. */
  data: Data;
  /** The size of each dim, outermost first. */
  readonly shape: readonly number[];
  /** dL/d(this), accumulated by {@link backward} on leaves that require a gradient; null until then. */
  gradData: Data | null = null;
  /** Whether gradients flow to (and through) this Var. */
  requiresGrad: boolean;
  /** Creation order: the position on the tape. */
  readonly id: number;
  /** The op that made this Var ("leaf" for inputs and parameters). */
  readonly op: string;
  /** Inputs of the op, when recorded. */
  readonly parents: readonly Var[];
  /** The gradient rule of the op, when recorded. */
  readonly rule: BackwardRule | null;

  /**
   * A leaf Var. `value` is a Tensor (float32, shared, not copied) or raw float32/float64 data with a shape.
   * @example const x = new Var(Tensor.randn([2, 3], 1), { requiresGrad: true });
   */
  constructor(value: Tensor | Data, options: { shape?: Shape; requiresGrad?: boolean } = {}) {
    if (value instanceof Tensor) {
      this.data = value.data;
      this.shape = value.shape;
    } else if (value instanceof Float32Array || value instanceof Float64Array) {
      const shape = options.shape ?? [value.length];
      checkShape(shape, 'Var');
      if (sizeOf(shape) !== value.length) {
        throw new ShapeError(`Var: data has ${value.length} elements but shape ${formatShape(shape)} needs ${sizeOf(shape)}`);
      }
      this.data = value;
      this.shape = Object.freeze([...shape]);
    } else {
      throw new ArgumentError(`Var: value must be a Tensor, Float32Array or Float64Array; got ${describe(value)}`);
    }
    this.requiresGrad = options.requiresGrad ?? false;
    this.id = nextId++;
    this.op = 'leaf';
    this.parents = [];
    this.rule = null;
  }

  /** The output of an op. Records the rule only when gradients are on and some input requires one. */
  static fromOp(op: string, data: Data, shape: Shape, parents: readonly Var[], rule: BackwardRule): Var {
    const v = new Var(data, { shape });
    const record = gradEnabled && parents.some((p) => p.requiresGrad);
    (v as { op: string }).op = op;
    if (record) {
      v.requiresGrad = true;
      (v as { parents: readonly Var[] }).parents = parents;
      (v as { rule: BackwardRule | null }).rule = rule;
    }
    return v;
  }

  get dtype(): DType {
    return dtypeOfData(this.data);
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The value as a Tensor: shares the data of a float32 Var, rounds a float64 Var into a copy. */
  get value(): Tensor {
    return new Tensor(this.data instanceof Float32Array ? this.data : Float32Array.from(this.data), this.shape);
  }

  /** The accumulated gradient as a Tensor (shared for float32, rounded copy for float64), or null. */
  get grad(): Tensor | null {
    const g = this.gradData;
    if (g === null) return null;
    return new Tensor(g instanceof Float32Array ? g : Float32Array.from(g), this.shape);
  }

  /** The first element, for scalar losses. */
  item(): number {
    return this.data[0];
  }

  /** Forgets the accumulated gradient. */
  zeroGrad(): void {
    this.gradData = null;
  }

  toString(): string {
    return `Var ${formatShape(this.shape)} ${this.dtype} (${this.op})`;
  }
}

/** A constant (no gradient) from a Tensor, or the Var itself. */
export function asVar(x: Var | Tensor, fn: string, name: string): Var {
  if (x instanceof Var) return x;
  if (x instanceof Tensor) return new Var(x);
  throw new ArgumentError(`${fn}: ${name} must be a Var or a Tensor; got ${describe(x)}`);
}

/** The wider dtype of the inputs. */
export function dtypeOf(...vars: Var[]): DType {
  return vars.some((v) => v.data instanceof Float64Array) ? 'float64' : 'float32';
}

/**
 * Runs `fn` without recording any op, as torch.no_grad(): for evaluation, and for optimizer updates.
 * @example const logits = noGrad(() => model.forward(tokens));
 */
export function noGrad<T>(fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

/** Whether ops currently record gradient rules. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Back-propagates from `root`: dL/d(root) is `gradient` (default 1, which needs a scalar root), and every leaf that
 * requires a gradient gets dL/d(leaf) added to its `gradData`. Rules run in reverse creation order, so each Var's
 * gradient is complete before its rule reads it.
 * @example
 * const loss = crossEntropy(logits, targets);
 * backward(loss);
 * weight.grad // dL/dweight
 */
export function backward(root: Var, gradient?: Tensor | Data): void {
  const fn = 'backward';
  if (!(root instanceof Var)) throw new ArgumentError(`${fn}: root must be a Var; got ${describe(root)}`);
  let seed: Data;
  if (gradient === undefined) {
    if (root.size !== 1) {
      throw new ShapeError(`${fn}: a root without a gradient must be a scalar (one element); got ${formatShape(root.shape)}`);
    }
    seed = alloc(root.dtype, 1).fill(1);
  } else {
    const g = gradient instanceof Tensor ? gradient.data : gradient;
    if (g.length !== root.size) {
      throw new ShapeError(`${fn}: gradient must have the root's ${root.size} elements ${formatShape(root.shape)}; got ${g.length}`);
    }
    seed = toDType(g, root.dtype);
  }
  if (!root.requiresGrad) {
    throw new ArgumentError(`${fn}: root does not require a gradient: no input of its graph does, or it was made under noGrad`);
  }

  // Collect the Vars that gradients reach; iterative, as graphs of a long training step are deep.
  const reached = new Map<number, Var>();
  const stack = [root];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (reached.has(v.id) || !v.requiresGrad) continue;
    reached.set(v.id, v);
    for (const p of v.parents) stack.push(p);
  }
  const order = [...reached.values()].sort((a, b) => b.id - a.id); // the tape, in reverse

  const grads = new Map<number, Data>([[root.id, seed]]);
  for (const v of order) {
    const g = grads.get(v.id);
    if (g === undefined) continue;
    if (v.rule === null) {
      accumulateInto(v, g);
      continue;
    }
    grads.delete(v.id); // intermediate gradients are not kept, as in PyTorch
    const parentGrads = v.rule(g);
    for (let i = 0; i < v.parents.length; i++) {
      const p = v.parents[i];
      const pg = parentGrads[i];
      if (pg === null || pg === undefined || !p.requiresGrad) continue;
      const have = grads.get(p.id);
      if (have === undefined) grads.set(p.id, toDType(pg, p.dtype)); // a copy: rules may return shared arrays
      else for (let j = 0; j < have.length; j++) have[j] += pg[j];
    }
  }
}

function accumulateInto(leaf: Var, g: Data): void {
  const stale = leaf.gradData !== null && (leaf.gradData.length !== g.length || leaf.gradData.constructor !== leaf.data.constructor);
  if (leaf.gradData === null || stale) {
    leaf.gradData = toDType(g, leaf.dtype);
    return;
  }
  const have = leaf.gradData;
  for (let j = 0; j < have.length; j++) have[j] += g[j];
}
