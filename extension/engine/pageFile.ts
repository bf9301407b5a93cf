// Writing large JSON without one giant string (V8 strings stop at ~512 MB:
// "Invalid string length"): a result's pages (protocol/pages.ts) go to the page
// file the host named, chunk by chunk, and the command line's --json streams
// the same way. A page file is written next to its final name and renamed, so a
// reader never sees half of one; pages added to an existing file (baselines
// computed on demand) go to a copy that is renamed over it.

import { closeSync, copyFileSync, existsSync, fstatSync, openSync, readSync, renameSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { jsonChunks, PAGE_FOOTER_BYTES, pageFileChunks, type PageIndex, parsePageFooter, parsePageIndex } from '../protocol';
import { DtdError } from './errors';

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

/** The index of an existing page file and where its page data ends (bounded reads: the footer, then the index). */
function readIndex(file: string): { offset: number; pages: PageIndex['pages'] } {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const read = (offset: number, length: number): string => {
      const buf = Buffer.alloc(length);
      if (readSync(fd, buf, 0, length, offset) !== length) throw new Error('it is shorter than its index says');
      return buf.toString('utf8');
    };
    if (size < PAGE_FOOTER_BYTES) throw new Error('it is too short');
    const footer = parsePageFooter(read(size - PAGE_FOOTER_BYTES, PAGE_FOOTER_BYTES), size);
    if (typeof footer === 'string') throw new Error(footer);
    const index = parsePageIndex(read(footer.offset, footer.length), footer.offset);
    if (typeof index === 'string') throw new Error(index);
    return { offset: footer.offset, pages: index.pages };
  } finally {
    closeSync(fd);
  }
}

/**
 * Adds pages to the page file `file` (a new file when there is none): its pages are kept where they are, the new
 * ones follow them, then one index of both and the footer. Written to a copy renamed over the file.
 */
export function addPages(file: string, pages: Map<string, unknown>): void {
  if (!existsSync(file)) return writePageFile(file, pages);
  let after: { offset: number; pages: PageIndex['pages'] };
  try {
    after = readIndex(file);
  } catch (e) {
    throw new DtdError('internal', `The stored run's page file ${basename(file)} cannot be read: ${(e as Error).message}.`);
  }
  const tmp = `${file}.part`;
  copyFileSync(file, tmp);
  try {
    truncateSync(tmp, after.offset);
    const fd = openSync(tmp, 'a');
    try {
      writeChunks(fd, pageFileChunks(pages, (s) => Buffer.byteLength(s, 'utf8'), after));
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
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
