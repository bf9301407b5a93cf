// The Playwright UI suite: a fresh workbench window of the same code-server,
// with the extension loaded from the development path, driven like a user.
// - The Explorer context menu offers "Explain Output" on .onnx/.safetensors
//   files and not on a .txt file, a folder, or a folder named like a model
//   (the real `when` clause, evaluated by the workbench).
// - Right-click a model → Explain Output → Enter through the quick picks →
//   the visualizer panel draws the network (DOM inside the webview iframes);
//   screenshots go to test-output/screenshots/.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Frame, Locator, Page } from 'playwright-core';
import { openWorkbench, type Server } from './codeServer';
import { RESIDUAL_MODEL } from './workspace';

interface UiOptions {
  browser: Browser;
  server: Server;
  folder: string;
  extensionDevelopmentPath: string;
  outputDir: string;
}

const MENU_ENTRY = 'Explain Output';

/** Right-click without a file-path hover of a neighbouring row in the way. */
async function rightClick(page: Page, row: Locator): Promise<void> {
  await page.mouse.move(900, 5);
  await page.locator('.workbench-hover, .monaco-hover').first().waitFor({ state: 'hidden', timeout: 3000 }).catch(() => undefined);
  await row.click({ button: 'right' });
}

async function explorerRow(page: Page, name: string) {
  const row = page.locator(`.explorer-folders-view .monaco-list-row[aria-label="${name}"]`);
  // The side bar may show another view container (or the workbench may still be restoring it): keep
  // bringing the Explorer forward until the row shows, instead of trying once.
  const end = Date.now() + 30000;
  while (!(await row.isVisible()) && Date.now() < end) {
    const explorer = page.locator('.activitybar .action-item a[aria-label^="Explorer"]').first();
    if (await explorer.isVisible()) {
      const open = await explorer.evaluate((a) => a.closest('.action-item')?.classList.contains('checked') ?? false);
      if (!open) await explorer.click();
    } else {
      await page.keyboard.press('Control+Shift+E');
    }
    await row.waitFor({ state: 'visible', timeout: 2000 }).catch(() => undefined);
  }
  await row.waitFor({ state: 'visible', timeout: 1000 });
  return row;
}

/** Right-clicks an Explorer row and returns the context menu's entries. */
export async function contextMenu(page: Page, name: string): Promise<string[]> {
  const row = await explorerRow(page, name);
  await rightClick(page, row);
  const menu = page.locator('.context-view .monaco-menu');
  await menu.waitFor({ state: 'visible', timeout: 5000 });
  const labels = (await menu.locator('.action-label').allTextContents()).map((s) => s.trim()).filter(Boolean);
  await page.keyboard.press('Escape');
  await menu.waitFor({ state: 'hidden', timeout: 5000 });
  return labels;
}

async function waitForQuickInput(page: Page, titlePart: string): Promise<void> {
  const title = page.locator('.quick-input-widget .quick-input-title');
  await page.waitForFunction(
    (part) => {
      const el = document.querySelector('.quick-input-widget .quick-input-title');
      const widget = document.querySelector('.quick-input-widget') as HTMLElement | null;
      return !!el && !!widget && widget.style.display !== 'none' && (el.textContent ?? '').includes(part);
    },
    titlePart,
    { timeout: 20000 },
  );
  await title.waitFor({ state: 'visible' });
}

/** Node counts of every webview frame that currently shows a drawn network. */
async function networkFrames(page: Page): Promise<number[]> {
  const counts: number[] = [];
  for (const frame of page.frames()) {
    try {
      // The panel's network, or the side bar's mini network (webview/sidebar.ts).
      const n = await frame.evaluate(() => document.querySelectorAll('svg.network g.nodes .node, svg.mini-network g.nodes .node').length);
      if (n > 0) counts.push(n);
    } catch {
      /* detached or cross-origin */
    }
  }
  return counts;
}

/** The webview frame that has drawn the network, with its node count. */
async function findNetworkFrame(page: Page, timeoutMs: number): Promise<{ frame: Frame; nodes: number; flows: number; state: string | null }> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    for (const frame of page.frames()) {
      try {
        const info = await frame.evaluate(() => {
          const svg = document.querySelector('svg.network');
          if (!svg) return null;
          return {
            nodes: svg.querySelectorAll('g.nodes .node').length,
            flows: svg.querySelectorAll('.flow').length,
            state: document.getElementById('app')?.getAttribute('data-state') ?? null,
          };
        });
        if (info && info.nodes > 0) return { frame, ...info };
      } catch {
        /* frame detached or cross-origin: try the next */
      }
    }
    await page.waitForTimeout(250);
  }
  throw new Error('no webview frame drew svg.network');
}

/**
 * What a user does: right-click the model in the Explorer → Explain Output →
 * Enter through the quick picks (random input, largest output, defaults);
 * checks the panel drew every unit of MLP(10, 10, 10, 2) and its flows, then
 * opens the DTD Lens side bar.
 */
export async function explainViaExplorer(page: Page, model: string): Promise<void> {
  // Contributions load after the workbench: reopen the menu until the entry is there.
  const end = Date.now() + 30000;
  while ((await contextMenu(page, model)).indexOf(MENU_ENTRY) < 0) {
    if (Date.now() > end) throw new Error(`no "${MENU_ENTRY}" on ${model} after 30 s`);
    await page.waitForTimeout(500);
  }
  await rightClick(page, await explorerRow(page, model));
  const item = page.locator('.context-view .monaco-menu .action-label', { hasText: MENU_ENTRY });
  await item.waitFor({ state: 'visible', timeout: 5000 });
  // Menus ignore a click that comes right after they open (so the right-click's own release picks nothing).
  await page.waitForTimeout(400);
  await item.click();
  await waitForQuickInput(page, 'which input');
  await page.keyboard.press('Enter'); // random input, seed from the settings
  await waitForQuickInput(page, 'which output');
  await page.keyboard.press('Enter'); // the largest output is preselected
  await waitForQuickInput(page, 'how to explain');
  await page.keyboard.press('Enter'); // defaults: train-free, z+
  const drawn = await findNetworkFrame(page, 30000);
  if (drawn.nodes !== 32) throw new Error(`the network has ${drawn.nodes} nodes drawn, expected 32`);
  if (drawn.flows === 0) throw new Error('no relevance flows drawn');
  if (drawn.state !== 'single') throw new Error(`webview state ${drawn.state}`);
  await page.locator('.activitybar .action-item a[aria-label^="DTD Lens"]').first().click();
  await page.locator('.pane-header', { hasText: 'Recent Runs' }).waitFor({ state: 'visible', timeout: 10000 });
  await page.waitForTimeout(1500); // let the side view draw too
}

export async function runUiSuite(o: UiOptions): Promise<number> {
  const shots = join(o.outputDir, 'screenshots');
  mkdirSync(shots, { recursive: true });
  const results: { name: string; ok: boolean; ms: number; error?: string }[] = [];
  const payload: [string, string][] = [['extensionDevelopmentPath', o.server.remote(o.extensionDevelopmentPath)]];
  const { page } = await openWorkbench(o.browser, o.server.url(o.folder, payload), () => undefined);
  const step = async (name: string, fn: () => Promise<void>) => {
    const t0 = Date.now();
    try {
      await fn();
      results.push({ name, ok: true, ms: Date.now() - t0 });
      console.log(`  ✔ [ui] ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
      results.push({ name, ok: false, ms: Date.now() - t0, error });
      console.error(`  ✖ [ui] ${name} (${Date.now() - t0} ms)\n      ${error.split('\n').join('\n      ')}`);
      await page.screenshot({ path: join(shots, `failed-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`) }).catch(() => undefined);
    }
  };
  const started = Date.now();
  try {
    await step('Explorer context menu: "Explain Output" on model files only (.onnx, .safetensors, .keras; not .txt, .json inputs, folders)', async () => {
      // Contributions load after the workbench: retry until the entry shows on a model file.
      const end = Date.now() + 30000;
      let onnx: string[] = [];
      while (Date.now() < end) {
        onnx = await contextMenu(page, 'mlp3_seed1_notebook.onnx');
        if (onnx.includes(MENU_ENTRY)) break;
        await page.waitForTimeout(500);
      }
      if (!onnx.includes(MENU_ENTRY)) throw new Error(`no "${MENU_ENTRY}" on the .onnx file: ${onnx.join(', ')}`);
      const safetensors = await contextMenu(page, 'mlp3_seed1_notebook.safetensors');
      if (!safetensors.includes(MENU_ENTRY)) throw new Error(`no "${MENU_ENTRY}" on the .safetensors file: ${safetensors.join(', ')}`);
      const keras = await contextMenu(page, 'cnn.keras');
      if (!keras.includes(MENU_ENTRY)) throw new Error(`no "${MENU_ENTRY}" on the .keras file: ${keras.join(', ')}`);
      // Now that the contribution is known to be loaded, its absence elsewhere means the when clause said no
      // (a .json input file is not a model; only TF.js's model.json is).
      for (const name of ['notes.txt', 'models', 'trap.onnx', 'inputs']) {
        const labels = await contextMenu(page, name);
        if (labels.length < 3) throw new Error(`the context menu of ${name} did not open properly: ${labels.join(', ')}`);
        if (labels.includes(MENU_ENTRY)) throw new Error(`"${MENU_ENTRY}" is offered on ${name}`);
      }
    });

    await step('palette: "DTD Lens: Explain Output…" asks for a model among the workspace\'s model files', async () => {
      await page.keyboard.press('F1');
      await page.locator('.quick-input-widget .quick-input-box input').waitFor({ state: 'visible', timeout: 10000 });
      await page.keyboard.type('DTD Lens: Explain Output');
      const entry = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'DTD Lens: Explain Output…' });
      await entry.first().waitFor({ state: 'visible', timeout: 10000 });
      await page.keyboard.press('Enter');
      await waitForQuickInput(page, 'which model');
      const rows = page.locator('.quick-input-widget .monaco-list-row .label-name');
      await rows.first().waitFor({ state: 'visible', timeout: 5000 });
      const names = (await rows.allTextContents()).map((t) => t.trim()).sort();
      await page.keyboard.press('Escape');
      // hostile/ (workspace.ts prepareHostileFiles, POSIX): leaky.safetensors and escape-tfjs/model.json; zero.onnx is a
      // symlink, which the workspace search does not follow.
      const hostile = process.platform === 'win32' ? [] : ['leaky.safetensors', 'model.json'];
      const graph = existsSync(join(o.folder, RESIDUAL_MODEL)) ? [RESIDUAL_MODEL] : [];
      const expected = ['cnn.keras', 'corrupt.onnx', 'mlp3_seed1_notebook.onnx', 'mlp3_seed1_notebook.safetensors', 'model.json', 'nested.onnx', 'truncated.safetensors', ...hostile, ...graph].sort();
      if (JSON.stringify(names) !== JSON.stringify(expected)) throw new Error(`model picker lists ${names.join(', ')}`);
    });

    await step('right-click a model → Explain Output → the panel shows the network', async () => {
      await explainViaExplorer(page, 'mlp3_seed1_notebook.onnx');
      await page.screenshot({ path: join(shots, 'explain-output.png') });
    });

    await step('the panel\'s own JSON button saves the explanation where the save dialog says', async () => {
      const before = new Set(readdirSync(o.folder));
      const { frame } = await findNetworkFrame(page, 10000);
      await frame.locator('button.export-json').click();
      await waitForQuickInput(page, 'save the view');
      await page.keyboard.press('Enter'); // the proposed name, in the workspace folder
      let saved: string | undefined;
      const end = Date.now() + 15000;
      while (!saved && Date.now() < end) {
        saved = readdirSync(o.folder).find((f) => !before.has(f) && /^mlp3_seed1_notebook-output\d+-train-free-z\+\.json$/.test(f));
        if (!saved) await page.waitForTimeout(250);
      }
      if (!saved) throw new Error(`no exported JSON appeared in the workspace (have: ${readdirSync(o.folder).join(', ')})`);
      const parsed = JSON.parse(readFileSync(join(o.folder, saved), 'utf8')) as { schema?: string; model?: { name?: string } };
      if (parsed.schema !== 'dtd-lens/result@3' || parsed.model?.name !== 'mlp3_seed1_notebook.onnx') throw new Error(`the saved file is not the shown result: ${parsed.schema} ${parsed.model?.name}`);
      // The confirmation the user reads: a toast, or (when toasts are hidden) the Notifications center.
      const said = `saved to ${saved}`;
      const toast = page.locator('.notifications-toasts .notification-list-item-message', { hasText: said });
      if (!(await toast.first().isVisible().catch(() => false))) {
        await page.keyboard.press('F1');
        await page.locator('.quick-input-widget .quick-input-box input').waitFor({ state: 'visible', timeout: 10000 });
        await page.keyboard.type('Notifications: Show Notifications');
        await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Show Notifications' }).first().waitFor({ state: 'visible', timeout: 10000 });
        await page.keyboard.press('Enter');
        await page.locator('.notifications-center .notification-list-item-message', { hasText: said }).first().waitFor({ state: 'visible', timeout: 10000 });
        await page.keyboard.press('Escape');
      }
      rmSync(join(o.folder, saved));
    });

    await step('after "Reload Window" the panel and the side view are restored and draw the run again', async () => {
      await page.keyboard.press('F1');
      await page.locator('.quick-input-widget .quick-input-box input').waitFor({ state: 'visible', timeout: 10000 });
      await page.keyboard.type('Developer: Reload Window');
      await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Reload Window' }).first().waitFor({ state: 'visible', timeout: 10000 });
      await Promise.all([page.waitForEvent('load', { timeout: 30000 }), page.keyboard.press('Enter')]);
      await page.locator('.activitybar').first().waitFor({ state: 'visible', timeout: 30000 });
      const end = Date.now() + 30000;
      let frames: number[] = [];
      while (Date.now() < end) {
        frames = await networkFrames(page);
        if (frames.length >= 2) break;
        await page.waitForTimeout(250);
      }
      if (frames.length < 2 || frames.some((n) => n !== 32)) throw new Error(`after the reload, webviews drew ${JSON.stringify(frames)} nodes (want the panel and the side view, 32 each)`);
      await page.screenshot({ path: join(shots, 'after-reload.png') });
    });
    await step('the side bar draws its own layout (summary, ledger, mini network; no toolbar) and "Open in editor" opens the panel', async () => {
      // Clicking the container that is already shown would hide the side bar.
      const item = page.locator('.activitybar .action-item a[aria-label^="DTD Lens"]').first();
      const shown = await item.evaluate((a) => a.closest('.action-item')?.classList.contains('checked') ?? false);
      if (!shown || !(await page.locator('.part.sidebar').first().isVisible())) await item.click();
      let side: Frame | undefined;
      const end = Date.now() + 20000;
      while (!side && Date.now() < end) {
        for (const frame of page.frames()) {
          const ok = await frame.evaluate(() => !!document.querySelector('.sidebar .sb-summary') && !!document.querySelector('svg.mini-network')).catch(() => false);
          if (ok) side = frame;
        }
        if (!side) await page.waitForTimeout(250);
      }
      if (!side) throw new Error('no webview drew the side-bar layout');
      const info = await side.evaluate(() => ({
        toolbar: document.querySelectorAll('.toolbar').length,
        rows: document.querySelectorAll('.ledger-compact > li').length,
        width: document.documentElement.clientWidth,
        overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      }));
      if (info.toolbar !== 0 || info.rows === 0 || info.overflow > 0) throw new Error(`side bar: ${JSON.stringify(info)}`);
      console.log(`    side bar: ${JSON.stringify(info)}`);
      // The screenshot with Recent Runs collapsed, so the Explanation view has the side bar's height (then expanded again).
      const runsHeader = page.locator('.pane-header', { hasText: 'Recent Runs' }).first();
      const expanded = (await runsHeader.getAttribute('aria-expanded')) === 'true';
      if (expanded) await runsHeader.click();
      await page.waitForTimeout(800);
      await page.locator('.part.sidebar').first().screenshot({ path: join(shots, 'side-bar-vscode.png') });
      if (expanded) await runsHeader.click();
      // Close the panel, then "Open in editor" brings it back with the run.
      await page.keyboard.press('F1');
      await page.locator('.quick-input-widget .quick-input-box input').waitFor({ state: 'visible', timeout: 10000 });
      await page.keyboard.type('View: Close All Editors');
      await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Close All Editors' }).first().waitFor({ state: 'visible', timeout: 10000 });
      await page.keyboard.press('Enter');
      const gone = Date.now() + 10000;
      while ((await networkFrames(page)).length > 1 && Date.now() < gone) await page.waitForTimeout(250);
      if ((await networkFrames(page)).length > 1) throw new Error('the panel did not close');
      await side.locator('button.open-in-editor').click();
      const back = Date.now() + 20000;
      let panel = false;
      while (!panel && Date.now() < back) {
        for (const frame of page.frames()) if ((await frame.evaluate(() => document.querySelectorAll('svg.network g.nodes .node').length).catch(() => 0)) === 32) panel = true;
        if (!panel) await page.waitForTimeout(250);
      }
      if (!panel) throw new Error('"Open in editor" did not open the panel with the network');
    });
    await step('full-backward through the pickers; reopened from Recent Runs, opening a root-tree entry shows its children (a page the host reads from disk)', async () => {
      const end = Date.now() + 30000;
      while ((await contextMenu(page, 'mlp3_seed1_notebook.onnx')).indexOf(MENU_ENTRY) < 0) {
        if (Date.now() > end) throw new Error(`no "${MENU_ENTRY}" after 30 s`);
        await page.waitForTimeout(500);
      }
      await rightClick(page, await explorerRow(page, 'mlp3_seed1_notebook.onnx'));
      const item = page.locator('.context-view .monaco-menu .action-label', { hasText: MENU_ENTRY });
      await item.waitFor({ state: 'visible', timeout: 5000 });
      await page.waitForTimeout(400);
      await item.click();
      await waitForQuickInput(page, 'which input');
      await page.keyboard.press('Enter');
      await waitForQuickInput(page, 'which output');
      await page.keyboard.press('Enter');
      await waitForQuickInput(page, 'how to explain');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Enter');
      await waitForQuickInput(page, 'method');
      await page.keyboard.type('full-backward');
      await page.keyboard.press('Enter');
      await waitForQuickInput(page, 'rule');
      await page.keyboard.press('Enter');
      await waitForQuickInput(page, 'root finder');
      await page.keyboard.type('linear');
      await page.keyboard.press('Enter');
      const treeFrame = async (timeoutMs: number): Promise<Frame> => {
        const stop = Date.now() + timeoutMs;
        while (Date.now() < stop) {
          for (const frame of page.frames()) {
            const n = await frame.evaluate(() => document.querySelectorAll('.tree-panel[data-path=""] tr.tree-child').length).catch(() => 0);
            if (n > 0) return frame;
          }
          await page.waitForTimeout(250);
        }
        throw new Error('no webview shows the root tree');
      };
      await treeFrame(60000);
      // Reopen from Recent Runs: the newest row is this run.
      await page.locator('.activitybar .action-item a[aria-label^="DTD Lens"]').first().click();
      const row = page.locator('.pane-header', { hasText: 'Recent Runs' }).locator('xpath=..').locator('.monaco-list-row').first();
      await row.waitFor({ state: 'visible', timeout: 10000 });
      const label = (await row.getAttribute('aria-label')) ?? '';
      if (!/full-backward/.test(label)) throw new Error(`the newest Recent Runs row is not the full-backward run: ${label}`);
      await row.click();
      await page.waitForTimeout(1000);
      const frame = await treeFrame(30000);
      const first = frame.locator('.tree-panel[data-path=""] tr.tree-child').first();
      const key = (await first.getAttribute('data-path')) ?? '';
      await first.click();
      const opened = frame.locator(`.tree-panel[data-path="${key}"]`);
      await opened.locator('.root-bars').waitFor({ state: 'visible', timeout: 20000 });
      const kids = await opened.locator('tr.tree-child').evaluateAll((els) => els.map((e) => e.getAttribute('data-path') ?? ''));
      if (kids.length === 0 || !kids.every((k) => k.startsWith(`${key}/`))) throw new Error(`the children of ${key}: ${JSON.stringify(kids)}`);
      await page.screenshot({ path: join(shots, 'paged-tree.png') });
    });
    await step('Open With… → DTD Lens Model Inspector: layers and parameters, and its Explain button starts the run flow', async () => {
      await rightClick(page, await explorerRow(page, 'mlp3_seed1_notebook.safetensors'));
      const openWith = page.locator('.context-view .monaco-menu .action-label', { hasText: 'Open With...' });
      await openWith.waitFor({ state: 'visible', timeout: 5000 });
      await page.waitForTimeout(400);
      await openWith.click();
      await page.locator('.quick-input-widget .monaco-list-row', { hasText: 'DTD Lens Model Inspector' }).first().click();
      const end = Date.now() + 20000;
      let inspector: Frame | undefined;
      let text = '';
      while (!inspector && Date.now() < end) {
        for (const frame of page.frames()) {
          const t = await frame.evaluate(() => (document.querySelector('[data-testid=summary]') as HTMLElement | null)?.innerText ?? '').catch(() => '');
          if (t) {
            inspector = frame;
            text = t;
          }
        }
        if (!inspector) await page.waitForTimeout(250);
      }
      if (!inspector) throw new Error('the model inspector did not show a summary');
      if (!/3 layers/.test(text) || !/242 parameters/.test(text) || !/every layer is supported/.test(text)) throw new Error(`inspector summary: ${text}`);
      await page.screenshot({ path: join(shots, 'model-inspector.png') });
      await inspector.click('#explain');
      await waitForQuickInput(page, 'which input');
      await page.keyboard.press('Escape');
    });

  } finally {
    await page.context().close();
  }
  const failed = results.filter((r) => !r.ok).length;
  writeFileSync(join(o.outputDir, 'vscode-ui-results.json'), JSON.stringify({ totalMs: Date.now() - started, results }, null, 2));
  console.log(`UI suite: ${results.length - failed} passed, ${failed} failed, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return failed ? 1 : 0;
}
