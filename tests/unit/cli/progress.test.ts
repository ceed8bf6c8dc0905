// Tests of the download progress bar (src/cli/progress.ts), drawn into in-memory streams with a fake clock.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { progressBar } from '../../../src/cli/progress.js';
import type { DownloadProgress } from '../../../src/models/hub.js';

/** A stream that keeps what is written, and a clock that the test moves. */
function memory(isTTY: boolean, columns?: number) {
  const writes: string[] = [];
  let t = 0;
  return {
    stream: { write: (s: string) => writes.push(s), isTTY, columns },
    writes,
    text: () => writes.join(''),
    now: () => t,
    advance: (ms: number) => void (t += ms),
  };
}

const MB = 1_000_000;

function event(over: Partial<DownloadProgress>): DownloadProgress {
  const base = { file: 'model.safetensors', receivedBytes: 0, totalBytes: 500 * MB, done: false };
  return { ...base, fileIndex: 1, fileCount: 2, ...over };
}

/** What a terminal shows after the writes: "\r" returns to the start of the line, "\n" starts a new one. */
function screen(text: string): string[] {
  const lines: string[] = [''];
  for (const part of text.split(/(\r|\n)/)) {
    if (part === '\n') lines.push('');
    else if (part === '\r') lines[lines.length - 1] = '\u0000'; // the cursor is back at column 0
    else if (part !== '') {
      const old = lines[lines.length - 1].replace('\u0000', '');
      const start = lines[lines.length - 1].startsWith('\u0000') ? 0 : old.length;
      lines[lines.length - 1] = old.slice(0, start) + part + old.slice(start + part.length);
    }
  }
  return lines.map((l) => l.replace('\u0000', ''));
}

describe('progressBar', () => {
  test('not a terminal: one plain line per completed file, with its size and rate', () => {
    const m = memory(false);
    const bar = progressBar(m.stream, { now: m.now });
    bar(event({ file: 'config.json', receivedBytes: 0, totalBytes: 612, fileIndex: 0 }));
    bar(event({ file: 'config.json', receivedBytes: 612, totalBytes: 612, fileIndex: 0, done: true }));
    bar(event({ receivedBytes: 0 }));
    m.advance(1_000);
    bar(event({ receivedBytes: 250 * MB }));
    m.advance(1_000);
    bar(event({ receivedBytes: 500 * MB, done: true }));
    assert.deepEqual(m.writes, [
      'downloaded 1/2 config.json (612 B)\n',
      'downloaded 2/2 model.safetensors (500.0 MB, 250.0 MB/s)\n',
    ]);
    bar.end(); // nothing open: nothing written
    assert.equal(m.writes.length, 2);
  });

  test('a terminal: one line redrawn with \\r (i/n, name, MB received/total, bar, rate), "\\n" after the last', () => {
    const m = memory(true, 100);
    const bar = progressBar(m.stream, { now: m.now });
    bar(event({ receivedBytes: 0 }));
    m.advance(2_000);
    bar(event({ receivedBytes: 100 * MB }));
    const line = m.writes.at(-1)!;
    assert.ok(line.startsWith('\r'));
    assert.match(line, /^\r2\/2 model\.safetensors +100\.0\/500\.0 MB \[█+░+\] +50\.0 MB\/s$/);
    assert.ok(line.length - 1 <= 99, `${line.length - 1} columns`);
    const cells = /\[(█*)(░*)\]/.exec(line)!;
    assert.equal(cells[1].length, Math.floor((cells[1].length + cells[2].length) / 5)); // 100 of 500 MB: a fifth
    assert.ok(!m.text().includes('\n'));
    bar(event({ receivedBytes: 500 * MB, done: true }));
    assert.ok(m.text().endsWith('\n'));
    assert.match(screen(m.text())[0], /500\.0\/500\.0 MB \[█+\]/);
    assert.deepEqual(screen(m.text()).slice(1), ['']);
  });

  test('redraws at most every intervalMs, except the first and the done event of a file', () => {
    const m = memory(true);
    const bar = progressBar(m.stream, { now: m.now, intervalMs: 100 });
    bar(event({ receivedBytes: 0, fileIndex: 0 }));
    for (let i = 1; i <= 10; i++) {
      m.advance(10);
      bar(event({ receivedBytes: i * MB, fileIndex: 0 }));
    }
    assert.equal(m.writes.length, 2, 'the first event, then one redraw after 100 ms');
    m.advance(1);
    bar(event({ receivedBytes: 500 * MB, fileIndex: 0, done: true }));
    assert.equal(m.writes.length, 3);
    bar(event({ file: 'tokenizer.json', receivedBytes: 0, totalBytes: 10, fileIndex: 1 }));
    assert.equal(m.writes.length, 4, 'a new file draws at once');
  });

  test('a shorter line covers the longer one before it; several files share the line', () => {
    const m = memory(true, 80);
    const bar = progressBar(m.stream, { now: m.now });
    bar(event({ file: 'model-00001-of-00002.safetensors', fileIndex: 0, receivedBytes: 5 * MB }));
    bar(event({ file: 'model-00001-of-00002.safetensors', fileIndex: 0, receivedBytes: 500 * MB, done: true }));
    bar(event({ file: 'a.json', fileIndex: 1, totalBytes: null, receivedBytes: 12 }));
    const lines = screen(m.text());
    assert.equal(lines.length, 1, 'one line until the last file is done');
    assert.match(lines[0], /^2\/2 a\.json +12 B *$/);
    assert.ok(lines[0].length <= 79);
    bar.end();
    assert.ok(m.text().endsWith('\n'));
    bar.end();
    assert.equal(m.text().match(/\n/g)!.length, 1, 'end() only ends an open line');
  });

  test('a long name is cut from the left to fit the width, and a narrow line drops the bar; no total, no bar', () => {
    const file = `weights/${'very-long-folder-name/'.repeat(4)}model-00003-of-00009.safetensors`;
    for (const columns of [50, 80, 120]) {
      const m = memory(true, columns);
      progressBar(m.stream, { now: m.now })(event({ file, receivedBytes: 3 * MB, fileIndex: 2, fileCount: 9 }));
      const line = m.writes.at(-1)!.slice(1);
      assert.ok(line.length <= columns - 1, `${line.length} columns of ${columns}`);
      assert.match(line, /^3\/9 ….*-00003-of-00009\.safetensors +3\.0\/500\.0 MB/, `${columns} columns`);
      assert.equal(line.includes('['), columns > 50, `${columns} columns`);
    }
    const m = memory(true, 60);
    const bar = progressBar(m.stream, { now: m.now });
    bar(event({ file: 'x.bin', totalBytes: null, receivedBytes: 2_500, fileIndex: 3, fileCount: 9 }));
    assert.match(m.writes.at(-1)!, /^\r4\/9 x\.bin +2\.5 kB *$/);
    assert.ok(!m.writes.at(-1)!.includes('['));
  });

  test('a resumed file: the rate counts only the bytes of this call', () => {
    const m = memory(false);
    const bar = progressBar(m.stream, { now: m.now });
    bar(event({ receivedBytes: 400 * MB }));
    m.advance(4_000);
    bar(event({ receivedBytes: 500 * MB, done: true }));
    assert.deepEqual(m.writes, ['downloaded 2/2 model.safetensors (500.0 MB, 25.0 MB/s)\n']);
  });
});
