// Paged results (protocol/pages.ts, engine/pageFile.ts, host/pageFile.ts): the
// view a result message carries, the page file the engine writes and the host
// reads a page at a time. Children served from the file equal the full tree's
// children; a truncated tree says so; damaged or hostile page files are clear
// errors; large layers are summarized under LIMITS.inlineLayerValues with their
// full values in a page; a whole stored run of schema 2 upgrades and splits.

import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { explain, loadModel } from '../../extension/engine';
import { writeJsonFile, writePageFile } from '../../extension/engine/pageFile';
import { PageFileError, readPage, writePageFileAsync } from '../../extension/host/pageFile';
import { type ExplainResult, isPageKey, jsonChunks, LIMITS, PAGE_FOOTER_BYTES, RESULT_SCHEMA, splitResult, summarizeEntry, treePageKey, type TreePage, upgradeResult } from '../../extension/protocol';
import { FIXTURES_DIR, loadFixture } from '../helpers/fixtures';

const dir = mkdtempSync(join(tmpdir(), 'dtd-paging-'));

async function fullBackward(name: string, options: Record<string, unknown> = {}): Promise<ExplainResult> {
  const fx = loadFixture(name);
  const net = loadModel(new Uint8Array(readFileSync(join(FIXTURES_DIR, `${name}.json`))), `${name}.json`);
  return explain(net, fx.input.x[0], { method: 'full-backward', rule: 'z+', explainedOutput: fx.explained_output, baselines: false, ...options });
}

function written(result: ExplainResult, file: string, run = 'abc-123') {
  const { view, pages } = splitResult(result, run);
  writePageFile(join(dir, file), pages);
  return { view, pages, file: join(dir, file) };
}

describe('paged root tree', () => {
  test('children served from the page file equal the full tree’s children, and each entry its full entry', async () => {
    const r = await fullBackward('mlp5_seed0_notebook');
    assert.ok(r.tree && r.tree.length > 20, 'a tree with several levels');
    const { view, file } = written(r, 'mlp5.pages');
    assert.equal(view.tree, null, 'the view carries no whole tree');
    assert.equal(view.paged!.tree!.entries, r.tree.length);
    const childrenOf = (path: string[]) => r.tree!.filter((e) => e.path.length === path.length + 2 && e.path.slice(0, path.length).join('/') === path.join('/'));
    const expect = (path: string[]) => childrenOf(path).map((e) => summarizeEntry(e, childrenOf(e.path).length));
    assert.deepEqual(view.paged!.tree!.top, expect([]), 'the top level in the message');
    const top = (await readPage(file, treePageKey([]))) as TreePage;
    assert.equal(top.entry, null);
    assert.deepEqual(top.children, expect([]));
    let withChildren = 0;
    for (const e of r.tree) {
      const page = (await readPage(file, treePageKey(e.path))) as TreePage;
      assert.deepEqual(page.entry, JSON.parse(JSON.stringify(e)), `entry ${e.path.join('/')}`);
      assert.deepEqual(page.children, JSON.parse(JSON.stringify(expect(e.path))), `children of ${e.path.join('/')}`);
      if (page.children.length) withChildren++;
    }
    assert.ok(withChildren > 0, 'some entries have children');
  });

  test('a truncated tree: the view says so, and a node below the cut has no page', async () => {
    const r = await fullBackward('mlp5_seed0_notebook', { maxTreeEntries: 12 });
    assert.equal(r.treeTruncated, true);
    const { view, file } = written(r, 'truncated.pages');
    assert.equal(view.treeTruncated, true);
    assert.equal(view.paged!.tree!.entries, r.tree!.length);
    const deepest = r.tree!.reduce((a, e) => (e.path.length > a.path.length ? e : a));
    const page = (await readPage(file, treePageKey(deepest.path))) as TreePage;
    assert.deepEqual(page.children, [], 'the last kept entry has no children kept');
    await assert.rejects(readPage(file, treePageKey([...deepest.path, 'layer9', 'root_0'])), (e: unknown) => e instanceof PageFileError && /truncated/.test((e as Error).message));
  });

  test('the message of full-backward on 784-256-128-10 stays under 5 MB (the whole result is several times larger)', async () => {
    const r = await fullBackward('scale_784_256_128_10_seed0', { baselines: true });
    const { view, pages } = splitResult(r, 'abc-123');
    const size = (v: unknown) => [...jsonChunks(v)].reduce((n, c) => n + Buffer.byteLength(c), 0);
    const viewBytes = size(view);
    assert.ok(viewBytes <= 5 * 1024 * 1024, `view ${viewBytes} bytes`);
    const whole = size(r);
    assert.ok(whole > 3 * viewBytes, `the whole result is larger (${whole} bytes, view ${viewBytes})`);
    // 256 roots of 784 values are over the inline limit: their points are a page, their checks stay.
    assert.deepEqual(view.paged!.roots, [1]);
    assert.ok(view.roots[0].every((q) => q.root === null));
    assert.deepEqual(view.roots[0].map((q) => q.checks), r.roots[0].map((q) => q.checks), 'the checks stay in the message');
    assert.deepEqual(pages.get('roots:1'), r.roots[0].map((q) => q.root));
  });
});

describe('damaged page files give clear errors', () => {
  const make = async () => {
    const r = await fullBackward('mlp3_seed1_notebook');
    return written(r, `good-${Math.random().toString(36).slice(2)}.pages`);
  };
  const bad = (name: string, bytes: string | Buffer) => {
    const f = join(dir, name);
    writeFileSync(f, bytes);
    return f;
  };
  const fails = async (file: string, key: string, pattern: RegExp) =>
    assert.rejects(readPage(file, key), (e: unknown) => e instanceof PageFileError && pattern.test((e as Error).message) && (e as Error).message.includes('cannot be read') === !/no page file/.test((e as Error).message));

  test('missing file, a folder, an empty file, a file that is not a page file', async () => {
    await fails(join(dir, 'nope.pages'), 'tree:', /has no page file/);
    mkdirSync(join(dir, 'folder.pages'), { recursive: true });
    await fails(join(dir, 'folder.pages'), 'tree:', /not a regular file|page file/);
    await fails(bad('empty.pages', ''), 'tree:', /too short/);
    await fails(bad('text.pages', 'x'.repeat(100)), 'tree:', /does not end with a DTD Lens page index/);
  });

  test('cut short, an index outside the file, an index too large, a page that is not JSON or not what its key says', async () => {
    const { file } = await make();
    const good = readFileSync(file);
    await fails(bad('cut.pages', good.subarray(0, good.length - 10)), 'tree:', /page index/);
    // A footer that points the index past the file's start.
    const tail = good.subarray(good.length - PAGE_FOOTER_BYTES).toString();
    const [, off, len] = /^DTDPAGES1 (\d{14}) (\d{14})\n$/.exec(tail)!;
    const moved = Buffer.concat([good.subarray(0, good.length - PAGE_FOOTER_BYTES), Buffer.from(`DTDPAGES1 ${String(Number(off) + 1).padStart(14, '0')} ${len}\n`)]);
    await fails(bad('moved.pages', moved), 'tree:', /does not end where the file does/);
    const huge = `DTDPAGES1 ${'0'.padStart(14, '0')} ${String(LIMITS.pageIndexBytes + 1).padStart(14, '0')}\n`;
    await fails(bad('huge.pages', Buffer.concat([Buffer.alloc(LIMITS.pageIndexBytes + 1, 32), Buffer.from(huge)])), 'tree:', /index has \d+ bytes \(limit/);
    // Index entries that point outside the data, and pages that are garbage.
    const index = (pages: Record<string, [number, number]>, data: string) => {
      const idx = JSON.stringify({ schema: 'dtd-lens/pages@1', pages });
      return Buffer.from(`${data}${idx}DTDPAGES1 ${String(Buffer.byteLength(data)).padStart(14, '0')} ${String(Buffer.byteLength(idx)).padStart(14, '0')}\n`);
    };
    await fails(bad('outside.pages', index({ 'tree:': [0, 500] }, '{}')), 'tree:', /names a page outside the file/);
    await fails(bad('notjson.pages', index({ 'tree:': [0, 5] }, '{"ent')), 'tree:', /is not valid JSON/);
    await fails(bad('shape.pages', index({ 'tree:': [0, 13] }, '{"entry":"x"}')), 'tree:', /not what its key promises/);
    await fails(bad('badindex.pages', `[1,2]DTDPAGES1 ${'0'.padStart(14, '0')} ${'5'.padStart(14, '0')}\n`), 'tree:', /not a DTD Lens page index/);
    // A page that is there is read; a key that is not is named.
    assert.ok(await readPage(file, 'tree:'));
    await assert.rejects(readPage(file, 'relevance:9'), /has no page 'relevance:9'/);
  });

  test('page keys the webview may ask for are plain (no path tricks, bounded)', () => {
    for (const k of ['tree:', 'tree:layer1/root_3/layer2/root_0', 'activations:3', 'roots:1', 'baseline:epsilon_1e-6:2']) assert.ok(isPageKey(k), k);
    // Keys are looked up in the index, never used as paths; still, only the shapes the pages have pass.
    for (const k of ['tree:a b', 'tree:a\nb', 'activations:-1', 'activations:1x', 'x:1', '__proto__', 'tree:' + 'a'.repeat(5000), 42, null]) assert.ok(!isPageKey(k), String(k).slice(0, 40));
  });
});

describe('large layers', () => {
  test('layers over the inline limit are summarized (channel sums, a downsampled map); their full values are a page', async () => {
    const r = await fullBackward('scale_784_256_128_10_seed0', { baselines: true });
    // The input as an image: a 1×28×28 map, with a limit below 784 values.
    const shaped: ExplainResult = { ...r, shapes: r.activations.map((a, l) => (l === 0 ? [1, 28, 28] : [a.length])) };
    const { view, pages } = splitResult(shaped, 'abc-123', 300, 64);
    const s = view.paged!.tensors['relevance:0'];
    assert.ok(s, 'the input relevance is summarized');
    assert.deepEqual(view.relevance[0], []);
    assert.deepEqual(pages.get('relevance:0'), r.relevance[0]);
    assert.equal(s.size, 784);
    const total = r.relevance[0]!.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(s.sum - total) < 1e-9 * Math.max(1, Math.abs(total)));
    assert.ok(Math.abs(s.channelSums[0] - total) < 1e-9 * Math.max(1, Math.abs(total)));
    assert.ok(s.map.values.length <= 64 && s.map.factor === 4, `map ${s.map.shape} ÷${s.map.factor}`);
    assert.ok(Math.abs(s.map.values.reduce((a, b) => a + b, 0) - total) < 1e-9 * Math.max(1, Math.abs(total)));
    assert.equal(s.min, Math.min(...r.relevance[0]!));
    assert.equal(s.max, Math.max(...r.relevance[0]!));
    // Layer 1 (256 ≤ 300) stays inline; the baselines' input-sized arrays are summarized too.
    assert.equal(view.activations[1].length, 256);
    assert.ok(view.paged!.tensors['baseline:gradient'], 'gradient summarized');
    assert.ok(view.paged!.tensors['baseline:zplus'], `zplus summarized: ${Object.keys(view.paged!.tensors)}`);
    // Flows out of the summarized input go between its blocks, the total of each upper unit kept.
    const f = view.flows[0];
    assert.ok(f.top.length > 0 && f.top.every((e) => e.from < s.map.values.length), `flows from blocks: ${JSON.stringify(f.top.slice(0, 3))}`);
    for (let j = 0; j < f.rest.length; j++) {
      const before = r.flows[0].top.filter((e) => e.to === j).reduce((a, e) => a + e.value, 0) + r.flows[0].rest[j];
      const after = f.top.filter((e) => e.to === j).reduce((a, e) => a + e.value, 0) + f.rest[j];
      assert.ok(Math.abs(before - after) <= 1e-9 * Math.max(1, Math.abs(before)), `flows into unit ${j}`);
    }
  });

  test('with the default limit nothing of an MLP is summarized, and LIMITS has the entry', async () => {
    assert.equal(LIMITS.inlineLayerValues, 200_000);
    const r = await fullBackward('mlp3_seed1_notebook');
    assert.deepEqual(splitResult(r, null).view.paged!.tensors, {});
  });

  test('JSON in chunks equals JSON.stringify, and the command line streams it to a file', async () => {
    const r = await fullBackward('mlp3_seed1_notebook');
    const odd = { a: [1, NaN, Infinity, -0, 1e-300, undefined, null, 'x"y'], b: undefined, c: { d: [[]], e: {} }, f: true };
    for (const v of [r, odd, [], 'text', 3]) assert.equal([...jsonChunks(v, 64)].join(''), JSON.stringify(v));
    const chunks = [...jsonChunks(r, 1024)];
    assert.ok(chunks.length > 10 && chunks.every((c) => c.length < 1024 + 64 * 1024));
    const f = join(dir, 'streamed.json');
    writeJsonFile(f, r);
    assert.equal(readFileSync(f, 'utf8'), JSON.stringify(r));
  });
});

describe('old stored runs', () => {
  test('a schema-2 run with its whole tree upgrades, splits into a view and a page file, and serves the same tree', async () => {
    const r = await fullBackward('mlp5_seed0_notebook');
    const old = JSON.parse(JSON.stringify({ ...r, schema: 'dtd-lens/result@2' }));
    delete old.paged;
    const up = upgradeResult(old)!;
    assert.equal(up.schema, RESULT_SCHEMA);
    assert.equal(up.tree!.length, r.tree!.length);
    const { view, pages } = splitResult(up, 'old-run1');
    const file = join(dir, 'old-run1.pages');
    await writePageFileAsync(file, pages);
    assert.equal(view.paged!.run, 'old-run1');
    assert.ok(statSync(file).size > JSON.stringify(view).length, 'the tree went to the page file');
    for (const e of up.tree!.slice(0, 30)) assert.deepEqual(((await readPage(file, treePageKey(e.path))) as TreePage).entry, e);
    // A view is not split again (reopening reads the small part only).
    assert.equal(splitResult(view, 'old-run1').pages.size, 0);
  });
});
