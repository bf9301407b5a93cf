// A paged result (extension/protocol/pages.ts) in the webview: the root tree's
// top level comes with the result; opening an entry asks the host for its page
// ('page' with the run and the key) and shows the entry and its children when
// the answer comes; an error answer is shown as such. Also: the webview reports
// 'drawn' once a result is painted (the host's progress waits for it).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { splitResult, type TreePage, type WebviewToHost } from '../../extension/protocol';
import { engineResult } from './fixtures';
import { launch, openWebview } from './harness';

describe('paged root tree', () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(() => browser?.close());

  it('opening a tree entry requests its page from the host and shows its children', async () => {
    const full = await engineResult('mlp5_seed0_notebook', { method: 'full-backward' });
    const { view, pages } = splitResult(full, 'run1-abc');
    assert.equal(view.tree, null);
    const top = view.paged!.tree!.top;
    const opened = top.find((e) => (e.children ?? 0) > 0)!;
    assert.ok(opened, 'fixture premise: a top-level entry with children');
    const w = await openWebview(browser);
    await w.send({ type: 'result', result: view });
    await w.waitFor('drawn', 1);
    // The top level is drawn from the message, without asking.
    await w.page.locator('.tree-panel[data-path=""]').waitFor();
    const rows = await w.page.locator('.tree-panel tr.tree-child').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    assert.deepEqual(rows, top.map((e) => e.path.join('/')));
    assert.equal((await w.posted()).filter((m) => m.type === 'page').length, 0, 'no page asked before opening');

    const key = opened.path.join('/');
    await w.page.click(`.tree-panel tr.tree-child[data-path="${key}"]`);
    await w.page.locator(`.tree-panel[data-path="${key}"] .tree-loading`).first().waitFor();
    const [req] = (await w.waitFor('page', 1)) as Extract<WebviewToHost, { type: 'page' }>[];
    assert.equal(req.run, 'run1-abc');
    assert.equal(req.key, `tree:${key}`);
    const page = pages.get(req.key) as TreePage;
    await w.page.evaluate((m) => window.postMessage(m, '*'), { type: 'page', requestId: req.requestId, run: req.run, key: req.key, data: page } as object);
    const panel = w.page.locator(`.tree-panel[data-path="${key}"]`);
    await panel.locator('.root-bars').waitFor();
    const kids = await panel.locator('tr.tree-child').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    assert.deepEqual(kids, page.children.map((c) => c.path.join('/')));
    assert.ok(kids.length > 0);
    assert.equal(await panel.locator('.tree-loading').count(), 0);

    // A child whose page the host cannot serve shows the host's reason.
    const child = page.children[0].path.join('/');
    await panel.locator(`tr.tree-child[data-path="${child}"]`).click();
    const reqs = (await w.waitFor('page', 2)) as Extract<WebviewToHost, { type: 'page' }>[];
    const r2 = reqs[1];
    assert.equal(r2.key, `tree:${child}`);
    await w.page.evaluate((m) => window.postMessage(m, '*'), { type: 'page', requestId: r2.requestId, run: r2.run, key: r2.key, error: 'The stored run has no page file (x.pages): run it again to see this part.' } as object);
    await w.page.locator(`.tree-panel[data-path="${child}"] .tree-error`).waitFor();
    assert.match((await w.page.locator(`.tree-panel[data-path="${child}"] .tree-error`).first().textContent()) ?? '', /no page file/);
    // Going back to the opened entry does not ask again (the page is cached).
    await w.page.click(`.tree-panel .crumb[data-path="${key}"]`);
    await w.page.locator(`.tree-panel[data-path="${key}"] .root-bars`).waitFor();
    assert.equal((await w.posted()).filter((m) => m.type === 'page').length, 2);
    assert.deepEqual(w.problems, []);
  });
});
