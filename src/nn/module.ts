// Module and Parameter: the protocol every trainable block of src/nn follows, after torch.nn.Module. A module
// registers its parameters and child modules by name, in order; `namedParameters()` walks them depth-first, own
// parameters first, giving PyTorch's dotted names ("self_attn.out_proj.weight"), so state dicts move between qkv and
// PyTorch unchanged. `train()` / `eval()` switch dropout on and off throughout the tree.

import { ArgumentError, StateDictError } from '../core/errors.js';
import { formatShape } from '../core/shape.js';
import { Tensor, describe } from '../core/tensor.js';
import { Var } from '../autograd/var.js';

/** A learned tensor: a leaf Var that requires a gradient and lives as long as its module. */
export class Parameter extends Var {
  /** Wraps `value`'s data (not copied). */
  constructor(value: Tensor) {
    super(value, { requiresGrad: true });
  }
}

export abstract class Module {
  /** Whether the module is in training mode (dropout active). */
  training = true;
  /** The class name used in error messages, e.g. "Linear". */
  readonly kind: string;
  readonly #parameters = new Map<string, Parameter>();
  readonly #children = new Map<string, Module>();

  constructor(kind: string) {
    this.kind = kind;
  }

  /** Registers a parameter under `name`; the order of registration is the order of the state dict. */
  protected addParameter(name: string, p: Parameter): Parameter {
    this.#parameters.set(name, p);
    return p;
  }

  /** Registers a child module under `name`. */
  protected addModule<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** The direct children, by name. */
  children(): [string, Module][] {
    return [...this.#children];
  }

  /** Every parameter with its dotted name, own parameters first, then each child's in registration order. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [name, p] of this.#parameters) out.push([prefix + name, p]);
    for (const [name, child] of this.#children) out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  /** Every parameter, in {@link namedParameters} order. */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Sets training mode here and in every child. */
  train(mode = true): this {
    this.training = mode;
    for (const child of this.#children.values()) child.train(mode);
    return this;
  }

  /** Evaluation mode: dropout off. */
  eval(): this {
    return this.train(false);
  }

  /** Forgets every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Stores every parameter in float64 (for gradient checks in float64); `float()` goes back. */
  double(): this {
    for (const p of this.parameters()) {
      p.data = Float64Array.from(p.data);
      p.zeroGrad();
    }
    return this;
  }

  /** Stores every parameter in float32 (rounding). */
  float(): this {
    for (const p of this.parameters()) {
      if (p.data instanceof Float64Array) p.data = Float32Array.from(p.data);
      p.zeroGrad();
    }
    return this;
  }

  /** The parameters under their dotted names, as float32 copies. */
  stateDict(): Record<string, Tensor> {
    const dict: Record<string, Tensor> = {};
    for (const [name, p] of this.namedParameters()) dict[name] = new Tensor(Float32Array.from(p.data), p.shape);
    return dict;
  }

  /**
   * Copies parameters from a state dict (PyTorch's `module.state_dict()` or {@link stateDict}). Every entry is checked
   * first; missing, unknown and wrongly shaped entries are reported together in one StateDictError, and nothing is
   * loaded then.
   */
  loadStateDict(dict: Record<string, Tensor>): void {
    const fn = `${this.kind}.loadStateDict`;
    if (typeof dict !== 'object' || dict === null) {
      throw new ArgumentError(`${fn}: dict must be an object of tensors; got ${describe(dict)}`);
    }
    const expected = new Map(this.namedParameters());
    const problems: string[] = [];
    for (const [name, p] of expected) {
      const t = dict[name];
      if (t === undefined) problems.push(`missing ${name} ${formatShape(p.shape)}`);
      else if (!(t instanceof Tensor)) problems.push(`${name} must be a Tensor; got ${describe(t)}`);
      else if (t.rank !== p.rank || t.shape.some((s, i) => s !== p.shape[i])) {
        problems.push(`${name} must be ${formatShape(p.shape)}; got ${formatShape(t.shape)}`);
      }
    }
    for (const name of Object.keys(dict)) {
      if (!expected.has(name)) problems.push(`unknown ${name}`);
    }
    if (problems.length > 0) {
      throw new StateDictError(`${fn}: the state dict does not fit this module:\n  ${problems.join('\n  ')}`, problems);
    }
    for (const [name, p] of expected) p.data.set(dict[name].data);
  }
}
