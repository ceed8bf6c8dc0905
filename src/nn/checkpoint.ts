// Checkpoints as safetensors: a module's named parameters (PyTorch's names, float32), optional string metadata such
// as the model config as JSON, and optionally an AdamW optimizer's moments, so training can stop and resume.
//
// Optimizer entries are stored as "optimizer.<parameter>.exp_avg" / ".exp_avg_sq" (float32) with each step count in
// the metadata key "optimizer.<parameter>.step"; metadata keys of the caller must not start with "optimizer.".

import { ArgumentError } from '../core/errors.js';
import { Tensor, describe } from '../core/tensor.js';
import { type SafetensorsMetadata, readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../io/safetensors.js';
import { type AdamW } from '../optim/adamw.js';
import { Module } from './module.js';

const OPT = 'optimizer.';

/**
 * The module's parameters (and, with `optimizer`, its moments) as safetensors bytes.
 * @example await writeFile('model.safetensors', saveCheckpoint(model, { metadata: { config: JSON.stringify(cfg) } }));
 */
export function saveCheckpoint(module: Module, options: { metadata?: SafetensorsMetadata; optimizer?: AdamW } = {}): Uint8Array {
  const fn = 'saveCheckpoint';
  if (!(module instanceof Module)) throw new ArgumentError(`${fn}: module must be a Module; got ${describe(module)}`);
  const record = module.stateDict();
  const metadata: SafetensorsMetadata = { ...(options.metadata ?? {}) };
  if (Object.keys(metadata).some((k) => k.startsWith(OPT))) {
    throw new ArgumentError(`${fn}: metadata keys starting with "${OPT}" are reserved for the optimizer state`);
  }
  if (options.optimizer !== undefined) {
    for (const [name, p] of module.namedParameters()) {
      const m = options.optimizer.moments(p);
      if (m === undefined) continue;
      record[`${OPT}${name}.exp_avg`] = new Tensor(Float32Array.from(m.expAvg), p.shape);
      record[`${OPT}${name}.exp_avg_sq`] = new Tensor(Float32Array.from(m.expAvgSq), p.shape);
      metadata[`${OPT}${name}.step`] = String(m.step);
    }
  }
  return writeSafetensors(record, metadata);
}

/**
 * Loads a checkpoint into `module` (every parameter checked first, as Module.loadStateDict) and, with `optimizer`,
 * restores its moments. Returns the caller's metadata (optimizer entries removed).
 */
export function loadCheckpoint(module: Module, bytes: Uint8Array, options: { optimizer?: AdamW } = {}): SafetensorsMetadata {
  const fn = 'loadCheckpoint';
  if (!(module instanceof Module)) throw new ArgumentError(`${fn}: module must be a Module; got ${describe(module)}`);
  const all = readSafetensors(bytes);
  const meta = readSafetensorsMetadata(bytes);
  const params: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(all)) if (!name.startsWith(OPT)) params[name] = t;
  module.loadStateDict(params);
  if (options.optimizer !== undefined) {
    for (const [name, p] of module.namedParameters()) {
      const m = all[`${OPT}${name}.exp_avg`];
      const v = all[`${OPT}${name}.exp_avg_sq`];
      const step = meta[`${OPT}${name}.step`];
      if (m === undefined || v === undefined || step === undefined) continue;
      options.optimizer.setMoments(p, { step: Number(step), expAvg: m.data, expAvgSq: v.data });
    }
  }
  return Object.fromEntries(Object.entries(meta).filter(([k]) => !k.startsWith(OPT)));
}
