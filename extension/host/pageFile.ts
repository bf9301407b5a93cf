// The host's side of a stored run's page file (protocol/pages.ts): reading one
// page with bounded reads (the footer, the index, then the page: never the whole
// file), and writing one when an old stored run is split (runStore.ts). The file
// lies in the extension's own storage and was written by the engine or the host,
// but it is still read as data: every size is checked against LIMITS before it
// is read, and a damaged file is a clear error naming the file, never a crash.
// Node only (no vscode), so the unit tests and the bench use it as is.

import { open, rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { isPageValue, LIMITS, PAGE_FOOTER_BYTES, pageFileChunks, type PageIndex, parsePageFooter, parsePageIndex } from '../protocol';

export class PageFileError extends Error {}

const indexCache = new Map<string, { size: number; mtimeMs: number; index: PageIndex }>();

function damaged(file: string, why: string): PageFileError {
  return new PageFileError(`The stored run's page file ${basename(file)} cannot be read: ${why}.`);
}

/** One page of the page file `file`, checked against the shape its key promises. */
export async function readPage(file: string, key: string): Promise<unknown> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    throw new PageFileError(`The stored run has no page file (${basename(file)}): run it again to see this part.`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw damaged(file, 'it is not a regular file');
    const read = async (offset: number, length: number): Promise<string> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) throw damaged(file, 'it is shorter than its index says');
      return buf.toString('utf8');
    };
    let cached = indexCache.get(file);
    if (!cached || cached.size !== st.size || cached.mtimeMs !== st.mtimeMs) {
      if (st.size < PAGE_FOOTER_BYTES) throw damaged(file, 'it is too short');
      const footer = parsePageFooter(await read(st.size - PAGE_FOOTER_BYTES, PAGE_FOOTER_BYTES), st.size);
      if (typeof footer === 'string') throw damaged(file, footer);
      const index = parsePageIndex(await read(footer.offset, footer.length), footer.offset);
      if (typeof index === 'string') throw damaged(file, index);
      cached = { size: st.size, mtimeMs: st.mtimeMs, index };
      indexCache.set(file, cached);
      while (indexCache.size > 8) indexCache.delete(indexCache.keys().next().value as string);
    }
    const where = Object.prototype.hasOwnProperty.call(cached.index.pages, key) ? cached.index.pages[key] : undefined;
    if (!where) throw new PageFileError(`The stored run has no page '${key.slice(0, 200)}'${key.startsWith('tree:') ? ' (the root tree was truncated there)' : ''}.`);
    const [offset, length] = where;
    if (length > LIMITS.pageBytes) throw damaged(file, `page '${key.slice(0, 200)}' has ${length} bytes (limit ${LIMITS.pageBytes})`);
    let value: unknown;
    try {
      value = JSON.parse(await read(offset, length));
    } catch (e) {
      if (e instanceof PageFileError) throw e;
      throw damaged(file, `page '${key.slice(0, 200)}' is not valid JSON`);
    }
    if (!isPageValue(key, value)) throw damaged(file, `page '${key.slice(0, 200)}' is not what its key promises`);
    return value;
  } finally {
    await fh.close();
  }
}

/** Writes a page file (pages, index, footer) next to its name and renames it into place. */
export async function writePageFileAsync(file: string, pages: Map<string, unknown>): Promise<void> {
  const tmp = `${file}.part`;
  const fh = await open(tmp, 'w');
  try {
    let batch: string[] = [];
    let n = 0;
    for (const c of pageFileChunks(pages, (s) => Buffer.byteLength(s, 'utf8'))) {
      batch.push(c);
      n += c.length;
      if (n > 1 << 22) {
        await fh.write(batch.join(''));
        batch = [];
        n = 0;
      }
    }
    if (batch.length) await fh.write(batch.join(''));
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  indexCache.delete(file);
  await rename(tmp, file);
}


