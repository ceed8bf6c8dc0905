// The download progress of downloadModel, drawn for people: in a terminal one line redrawn with "\r" (like
// huggingface_hub's tqdm bar, one file at a time), elsewhere (a log file, CI) one plain line per completed file. It
// is pure apart from the stream it writes and the clock, and both can be passed in, so tests draw into a string.
//
//   2/6 model.safetensors     213.4/548.1 MB [███████░░░░░░░░░░░░]  41.2 MB/s   (a terminal, redrawn)
//   downloaded 2/6 model.safetensors (548.1 MB, 41.2 MB/s)                    (not a terminal)

import type { DownloadProgress } from '../models/hub.js';

/** Where the bar is drawn: process.stderr, or anything with `write`. */
export interface ProgressStream {
  write(text: string): unknown;
  /** True for a terminal: the line is redrawn in place. */
  isTTY?: boolean;
  /** Terminal width in columns. @default 80 */
  columns?: number;
}

/** Options of {@link progressBar}, mainly for tests. */
export interface ProgressBarOptions {
  /** The clock, in milliseconds. @default performance.now */
  now?: () => number;
  /** The least time between two redraws of the line; a file's first and last events always draw. @default 100 */
  intervalMs?: number;
}

/** The callback that {@link progressBar} returns. It fits `onProgress` as it is. */
export interface ProgressCallback {
  (progress: DownloadProgress): void;
  /** Ends an unfinished terminal line with "\n" (call it before writing an error); does nothing otherwise. */
  end(): void;
}

/**
 * An `onProgress` callback for downloadModel that draws on `stream`. In a terminal: one line, redrawn with "\r" at
 * most every `intervalMs`, with the file's number i/n, its name (cut from the left to fit `columns`), the bytes
 * received and the total, a bar and the rate; the line ends with "\n" when the last file is done. Otherwise: one line
 * per completed file.
 * @example await downloadModel('openai-community/gpt2', { onProgress: progressBar(process.stderr) })
 */
export function progressBar(stream: ProgressStream, options: ProgressBarOptions = {}): ProgressCallback {
  const now = options.now ?? (() => performance.now());
  const intervalMs = options.intervalMs ?? 100;
  const tty = stream.isTTY === true;
  /** The file being drawn, when its first event came, and how many bytes it had then (a resumed part). */
  let current: { file: string; index: number; t0: number; b0: number } | null = null;
  let lastDraw = -Infinity;
  let drawnLength = 0;
  let open = false;

  const callback = ((p: DownloadProgress): void => {
    const t = now();
    const first = current === null || current.file !== p.file || current.index !== p.fileIndex;
    if (first) current = { file: p.file, index: p.fileIndex, t0: t, b0: p.receivedBytes };
    const seconds = (t - current!.t0) / 1000;
    const rate = seconds >= 0.25 ? (p.receivedBytes - current!.b0) / seconds : null;
    if (!tty) {
      if (p.done) stream.write(`downloaded ${doneLine(p, rate)}\n`);
      return;
    }
    if (!p.done && !first && t - lastDraw < intervalMs) return;
    lastDraw = t;
    const line = barLine(p, rate, stream.columns ?? 80);
    stream.write(`\r${line.padEnd(drawnLength)}`);
    drawnLength = line.length;
    open = true;
    if (p.done && p.fileIndex >= p.fileCount - 1) callback.end();
  }) as ProgressCallback;
  callback.end = () => {
    if (!open) return;
    stream.write('\n');
    open = false;
    drawnLength = 0;
  };
  return callback;
}

/** "2/6 model.safetensors (548.1 MB, 41.2 MB/s)". */
function doneLine(p: DownloadProgress, rate: number | null): string {
  const speed = rate === null ? '' : `, ${formatBytes(rate)}/s`;
  return `${p.fileIndex + 1}/${p.fileCount} ${p.file} (${formatBytes(p.receivedBytes)}${speed})`;
}

/** "2/6 model.safetensors   213.4/548.1 MB [███████░░░░░░]  41.2 MB/s", at most `columns - 1` characters. */
function barLine(p: DownloadProgress, rate: number | null, columns: number): string {
  const width = Math.max(20, columns - 1);
  const count = String(p.fileCount);
  const head = `${String(p.fileIndex + 1).padStart(count.length)}/${count}`;
  const total = p.totalBytes;
  const bytes =
    total === null ? formatBytes(p.receivedBytes) : `${scaled(p.receivedBytes, total)}/${formatBytes(total)}`;
  const speed = rate === null ? '' : `${formatBytes(rate)}/s`.padStart(11);
  // The bar takes up to 30 cells of what is left after the numbers and up to 32 characters of the name (a shard's
  // name fits); when fewer than 5 cells are left there is no bar. The name gets the rest.
  const fixed = head.length + 1 + 2 + bytes.length + speed.length;
  let cells = total === null ? 0 : Math.min(30, width - fixed - 3 - Math.min(p.file.length, 32));
  if (cells < 5) cells = 0;
  const nameRoom = Math.max(8, width - fixed - (cells > 0 ? cells + 3 : 0));
  const name = p.file.length <= nameRoom ? p.file.padEnd(nameRoom) : `…${p.file.slice(p.file.length - nameRoom + 1)}`;
  let bar = '';
  if (cells > 0 && total !== null) {
    const filled = total === 0 ? cells : Math.min(cells, Math.floor((cells * p.receivedBytes) / total));
    bar = ` [${'█'.repeat(filled)}${'░'.repeat(cells - filled)}]`;
  }
  const line = `${head} ${name}  ${bytes}${bar}${speed}`;
  return line.length <= width ? line : line.slice(0, width);
}

/** MB is the largest unit: weights always read in MB, "4900.0 MB" rather than "4.90 GB". */
const UNITS = [
  { size: 1e6, name: 'MB', digits: 1 },
  { size: 1e3, name: 'kB', digits: 1 },
] as const;

/** Decimal units, as huggingface_hub's bars: "612 B", "4.1 kB", "548.1 MB", "4900.0 MB". */
function formatBytes(n: number): string {
  const unit = UNITS.find((u) => n >= u.size);
  return unit === undefined ? `${Math.round(n)} B` : `${scaled(n, n)} ${unit.name}`;
}

/** `n` in the unit that formatBytes picks for `unitOf`, without the unit: "213.4" of "548.1 MB". */
function scaled(n: number, unitOf: number): string {
  const unit = UNITS.find((u) => unitOf >= u.size);
  return unit === undefined ? String(Math.round(n)) : (n / unit.size).toFixed(unit.digits);
}
