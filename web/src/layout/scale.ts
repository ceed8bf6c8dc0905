// Colours of the viewer as pure functions: a sequential scale for weights (light = 0, dark = the top of the
// domain), a diverging scale for vector entries, one categorical colour per head, and the legend's geometry.
// The sequential stops are ColorBrewer's "Blues" (Brewer, 2003), readable in grey and by colour-blind readers.

/** ColorBrewer Blues, 9 classes, light to dark. */
const BLUES = ['#f7fbff', '#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#4292c6', '#2171b5', '#08519c', '#08306b'];

/** ColorBrewer RdBu, 9 classes, blue (negative) through white to red (positive). */
const RDBU = ['#2166ac', '#4393c3', '#92c5de', '#d1e5f0', '#f7f7f7', '#fddbc7', '#f4a582', '#d6604d', '#b2182b'];

/** Tableau 10: the colours of heads 0, 1, 2, … in the head view. */
export const HEAD_COLOURS: readonly string[] = [
  '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac',
];

export function headColour(head: number): string {
  return HEAD_COLOURS[head % HEAD_COLOURS.length];
}

function parse(hex: string): [number, number, number] {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
}

function interpolate(stops: readonly string[], t: number): string {
  const x = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = parse(stops[i]);
  const b = parse(stops[i + 1]);
  const c = a.map((v, k) => Math.round(v + (b[k] - v) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** The fill of a weight in [0, max]; values outside are clamped. */
export function weightColour(weight: number, max = 1): string {
  return interpolate(BLUES, max > 0 ? weight / max : 0);
}

/** Whether text on the fill of `weight` should be white (the dark half of the scale). */
export function needsLightText(weight: number, max = 1): boolean {
  return max > 0 && weight / max > 0.55;
}

/** The fill of a vector entry on a diverging scale symmetric around 0, [-limit, limit]. */
export function signedColour(value: number, limit: number): string {
  return interpolate(RDBU, limit > 0 ? 0.5 + value / (2 * limit) : 0.5);
}

export interface LegendLayout {
  width: number;
  height: number;
  /** Strips of the colour bar, left to right. */
  stops: { x: number; width: number; fill: string }[];
  /** Tick marks under the bar. */
  ticks: { x: number; label: string }[];
  barY: number;
  barHeight: number;
}

/** The legend of the weight scale over [0, max]: a bar of `steps` strips and five ticks. */
export function legendLayout(max: number, width = 240, steps = 48): LegendLayout {
  const barHeight = 12;
  const strip = width / steps;
  const stops = Array.from({ length: steps }, (_, i) => ({
    x: i * strip,
    width: strip + 0.5, // overlap half a pixel so no seams show
    fill: weightColour(((i + 0.5) / steps) * max, max),
  }));
  const digits = max >= 0.1 ? 2 : 3;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => ({ x: f * width, label: (f * max).toFixed(digits) }));
  return { width, height: barHeight + 18, stops, ticks, barY: 0, barHeight };
}
