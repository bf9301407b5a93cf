// Writes test/webview/data/vscode-theme-colors.json: the --vscode-* colour
// variables VS Code's default themes (one per theme kind: dark, light, high
// contrast, high contrast light) give a webview, read from the real workbench
// (code-server of test/vscode/setup.sh in headless Chromium). The contrast test
// (test/webview/contrast.test.ts) draws the webview under each set, as VS Code
// does, so the check does not depend on the stylesheet's fallbacks.
// Run: node --import tsx test/vscode/themeColors.ts

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, ROOT, startCodeServer } from './codeServer';

/** Theme kind (the webview's body class) → the default theme of that kind and the workbench's class for it. */
const THEMES: Record<string, [string, string]> = {
  'vscode-dark': ['Default Dark Modern', 'vs-dark'],
  'vscode-light': ['Default Light Modern', 'vs'],
  'vscode-high-contrast': ['Default High Contrast', 'hc-black'],
  'vscode-high-contrast-light': ['Default High Contrast Light', 'hc-light'],
};

async function main(): Promise<void> {
  // The variables the webview's stylesheet reads.
  const wanted = [...new Set(readFileSync(join(ROOT, 'media/webview.css'), 'utf8').match(/--vscode-[A-Za-z0-9-]+/g) ?? [])].filter((v) => !/font|--vscode-$/.test(v)).sort();
  const out: Record<string, { theme: string; variables: Record<string, string> }> = {};
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    for (const [kind, [theme, cls]] of Object.entries(THEMES)) {
      const dir = mkdtempSync(join(tmpdir(), 'dtd-theme-'));
      const folder = join(dir, 'ws');
      mkdirSync(folder);
      const server = await startCodeServer({ userDataDir: join(dir, 'ud'), extensionsDir: join(dir, 'ext'), folder, logFile: join(dir, 'log'), smokeTestDriver: false, settings: { 'workbench.colorTheme': theme } });
      try {
        const page = await browser.newPage();
        await page.goto(server.url(folder));
        await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });
        // The workbench starts with a default theme and applies the configured one when it has loaded it.
        await page.locator(`.monaco-workbench.${cls}`).waitFor({ timeout: 60000 });
        await page.locator('.activitybar').first().waitFor({ timeout: 60000 });
        await page.waitForTimeout(3000);
        const variables = await page.evaluate(`(() => {
          const WANTED = ${JSON.stringify(wanted)};
          const el = document.querySelector('.monaco-workbench');
          const cs = getComputedStyle(el);
          const vars = {};
          for (const sheet of Array.from(document.styleSheets)) {
            let rules; try { rules = sheet.cssRules; } catch { continue; }
            for (const r of Array.from(rules)) if (r.style) for (const p of Array.from(r.style)) if (WANTED.includes(p) && !(p in vars)) { const v = cs.getPropertyValue(p).trim(); if (v) vars[p] = v; }
          }
          return vars;
        })()`) as Record<string, string>;
        out[kind] = { theme, variables: Object.fromEntries(Object.entries(variables).sort(([a], [b]) => a.localeCompare(b))) };
        console.log(`${kind}: ${theme}, ${Object.keys(variables).length} variables`);
        await page.close();
      } finally {
        server.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await browser.close();
  }
  writeFileSync(join(ROOT, 'test/webview/data/vscode-theme-colors.json'), JSON.stringify(out, null, 1) + '\n');
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
