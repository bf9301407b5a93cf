// Headless Chromium harness for the webview: bundles webview/main.ts with
// esbuild (in memory, the same options as esbuild.mjs), loads it into a page
// built by `webviewHtml` under the real CSP with a fake `acquireVsCodeApi`
// that records what the webview posts, and offers helpers to post messages.

import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { HostToWebview, WebviewToHost } from '../../extension/protocol';
import { webviewHtml } from '../../extension/protocol';

export const ROOT = join(__dirname, '..', '..');
export const SCREENSHOTS = join(ROOT, 'test-output', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

let bundle: string | null = null;
export async function webviewBundle(): Promise<string> {
  if (bundle) return bundle;
  const out = await esbuild.build({ entryPoints: [join(ROOT, 'webview/main.ts')], bundle: true, platform: 'browser', format: 'iife', target: 'es2022', write: false, legalComments: 'none', logLevel: 'silent' });
  bundle = out.outputFiles[0].text;
  return bundle;
}

export function webviewCss(): string {
  return readFileSync(join(ROOT, 'media', 'webview.css'), 'utf8');
}

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

export interface WebviewPage {
  page: Page;
  /** Console errors, page errors and CSP violations seen so far. */
  problems: string[];
  posted(): Promise<WebviewToHost[]>;
  /** Posts a host message and, for result/compare, waits for the next 'rendered'. */
  send(m: HostToWebview | unknown, waitRendered?: boolean): Promise<void>;
  waitFor(type: WebviewToHost['type'], count: number): Promise<WebviewToHost[]>;
  screenshot(name: string): Promise<string>;
}

const FAKE_API = (initialState: string) => `
window.__posted = [];
window.__state = ${initialState};
window.__apiCalls = 0;
window.acquireVsCodeApi = function () {
  window.__apiCalls++;
  return {
    postMessage: function (m) { window.__posted.push(JSON.parse(JSON.stringify(m))); },
    getState: function () { return window.__state; },
    setState: function (s) { window.__state = JSON.parse(JSON.stringify(s)); }
  };
};
document.addEventListener('securitypolicyviolation', function (e) { console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI); });
`;

export async function openWebview(browser: Browser, opts: { theme?: string; width?: number; height?: number; state?: unknown } = {}): Promise<WebviewPage> {
  const page = await browser.newPage({ viewport: { width: opts.width ?? 1400, height: opts.height ?? 900 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  const html = webviewHtml({
    cspSource: '',
    nonce: 'testnonce123',
    scriptUri: '',
    styleUri: '',
    inlineScript: await webviewBundle(),
    inlineStyle: webviewCss(),
    preludeScript: FAKE_API(opts.state === undefined ? 'undefined' : JSON.stringify(opts.state)),
    bodyClass: opts.theme ?? 'vscode-light',
  });
  await page.setContent(html, { waitUntil: 'load' });
  const posted = () => page.evaluate(() => (window as unknown as { __posted: WebviewToHost[] }).__posted);
  const waitFor = async (type: WebviewToHost['type'], count: number) => {
    await page.waitForFunction(([t, c]) => (window as unknown as { __posted: { type: string }[] }).__posted.filter((m) => m.type === t).length >= (c as number), [type, count] as const, { timeout: 20000 });
    return (await posted()).filter((m) => m.type === type);
  };
  return {
    page,
    problems,
    posted,
    waitFor,
    async send(m, waitRendered) {
      const before = (await posted()).filter((x) => x.type === 'rendered').length;
      await page.evaluate((msg) => window.postMessage(msg, '*'), m as object);
      const t = (m as { type?: string }).type;
      if (waitRendered ?? (t === 'result' || t === 'compare')) await waitFor('rendered', before + 1);
    },
    async screenshot(name) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      const path = join(SCREENSHOTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
  };
}
