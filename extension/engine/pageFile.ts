// Writing large JSON without one giant string (V8 strings stop at ~512 MB:
// "Invalid string length"): a result's pages (protocol/pages.ts) go to the page
// file the host named, chunk by chunk, and the command line's --json streams
// the same way. A page file is written next to its final name and renamed, so a
// reader never sees half of one.

import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { jsonChunks, pageFileChunks } from '../protocol';

function writeChunks(fd: number, chunks: Iterable<string>): void {
  for (const c of chunks) writeSync(fd, c);
}

/** Writes the pages to `file` (protocol/pages.ts: pages, index, footer). */
export function writePageFile(file: string, pages: Map<string, unknown>): void {
  const tmp = `${file}.part`;
  const fd = openSync(tmp, 'w');
  try {
    writeChunks(fd, pageFileChunks(pages, (s) => Buffer.byteLength(s, 'utf8')));
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
}

/** JSON of `value` to a file, or to stdout for '-', in chunks. */
export function writeJsonFile(target: string, value: unknown): void {
  if (target === '-') {
    writeChunks(1, jsonChunks(value));
    writeSync(1, '\n');
    return;
  }
  const fd = openSync(target, 'w');
  try {
    writeChunks(fd, jsonChunks(value));
  } finally {
    closeSync(fd);
  }
}
