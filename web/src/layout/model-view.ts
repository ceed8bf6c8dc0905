// Geometry of the model view: small multiples of every layer × head, one tiny heatmap each, layers down and heads
// across, as in bertviz's model view. Each thumbnail is a matrix layout without labels, pooled to fit its size.

import type { ExplainJson } from '../qkv.js';
import { type MatrixLayout, matrixLayout } from './matrix.js';

export interface Thumbnail {
  layer: number;
  head: number;
  matrix: MatrixLayout;
}

export interface ModelViewLayout {
  layers: number;
  heads: number;
  /** Row-major: layer 0 heads 0..H-1, then layer 1, … */
  thumbnails: Thumbnail[];
  /** Side of each thumbnail in pixels. */
  size: number;
}

/** Thumbnails of `size` pixels; at most `maxCells` cells per side (more tokens are pooled). */
export function modelViewLayout(doc: Pick<ExplainJson, 'tokens' | 'layers'>, size = 120, maxCells = 40): ModelViewLayout {
  const N = doc.tokens.length;
  const drawn = Math.ceil(N / Math.ceil(N / maxCells));
  const cell = size / Math.max(1, drawn);
  const thumbnails: Thumbnail[] = [];
  doc.layers.forEach((layer, l) =>
    layer.heads.forEach((head, h) => {
      thumbnails.push({ layer: l, head: h, matrix: matrixLayout(head.weights, doc.tokens, doc.tokens, { cell, maxCells, labelSize: 0 }) });
    }),
  );
  return { layers: doc.layers.length, heads: doc.layers[0]?.heads.length ?? 0, thumbnails, size };
}
