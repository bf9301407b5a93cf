// WCAG AA contrast (≥ 4.5:1) of every piece of text the webview draws, in the
// four theme kinds VS Code has (dark, light, high contrast, high contrast
// light) with the --vscode-* colours VS Code's default theme of each kind
// gives a webview (data/vscode-theme-colors.json, read from the real workbench
// by test/vscode/themeColors.ts), computed in Chromium from the rendered
// colours: each text's colour
// (CSS color for HTML, fill for SVG text, with its opacity) against the
// background it is drawn on (the nearest opaque background of its ancestors;
// for SVG text the pane's background rect).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import type { ExplainResult } from '../../extension/protocol';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { engineResult } from './fixtures';
import { launch, openWebview, type WebviewPage } from './harness';

const THEMES = ['vscode-dark', 'vscode-light', 'vscode-high-contrast', 'vscode-high-contrast-light'];
const COLORS = JSON.parse(readFileSync(join(__dirname, 'data', 'vscode-theme-colors.json'), 'utf8')) as Record<string, { theme: string; variables: Record<string, string> }>;

/** Opens the webview with a theme kind's body class and the variables VS Code sets for its default theme. */
async function themed(browser: Browser, theme: string): Promise<WebviewPage> {
  // VS Code's webview adds vscode-high-contrast to a high-contrast-light body too (webview/browser/pre/index.html).
  const w = await openWebview(browser, { theme: theme === 'vscode-high-contrast-light' ? 'vscode-high-contrast-light vscode-high-contrast' : theme });
  await w.page.evaluate((vars) => {
    for (const [k, v] of Object.entries(vars)) document.documentElement.style.setProperty(k, v);
  }, COLORS[theme].variables);
  return w;
}
const AA = 4.5;

interface Low {
  text: string;
  where: string;
  fg: string;
  bg: string;
  ratio: number;
}

/** Every visible text of the page whose contrast is below `min`. */
function lowContrast(w: WebviewPage, min: number): Promise<Low[]> {
  // A string, not a function: the test runner's transform would add helpers the page does not have.
  return w.page.evaluate(`((min) => {
    const parse = (s) => {
      const m = /rgba?\\(([\\d.]+),\\s*([\\d.]+),\\s*([\\d.]+)(?:,\\s*([\\d.]+))?\\)/.exec(s);
      return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])] : null;
    };
    const probe = document.createElement('span');
    document.body.append(probe);
    const toRgb = (c) => {
      probe.style.color = '';
      probe.style.color = c;
      return getComputedStyle(probe).color;
    };
    const lum = ([r, g, b]) => {
      const f = (v) => {
        const s = v / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const blend = (fg, bg, a) => fg.slice(0, 3).map((v, i) => v * a + bg[i] * (1 - a));
    const bgOf = (el) => {
      for (let e = el; e; e = e.parentElement) {
        if (e instanceof SVGElement && e.ownerSVGElement === null && e.tagName === 'svg') {
          const rect = e.querySelector(':scope > rect.bg');
          const fill = rect?.getAttribute('fill');
          if (fill) return parse(toRgb(fill)).slice(0, 3);
        }
        if (e instanceof SVGElement) {
          // A legend or header band has its own background rect.
          const band = e.querySelector(':scope > rect.legend-bg, :scope > rect.header-bg');
          const fill = band?.getAttribute('fill');
          if (fill && Number(band?.getAttribute('fill-opacity') ?? 1) > 0.8) return parse(toRgb(fill)).slice(0, 3);
          continue;
        }
        const c = parse(getComputedStyle(e).backgroundColor);
        if (c && c[3] > 0.9) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const out = [];
    const els = Array.from(document.querySelectorAll('body *')).filter((el) => {
      if (el.closest('[hidden], script, style, title, defs')) return false;
      if (el.tagName === 'text' || el.tagName === 'tspan') return (el.textContent ?? '').trim() !== '';
      return Array.from(el.childNodes).some((n) => n.nodeType === Node.TEXT_NODE && (n.textContent ?? '').trim() !== '');
    });
    for (const el of els) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      const cs = getComputedStyle(el);
      if (cs.visibility === 'hidden' || cs.display === 'none') continue;
      let fg;
      let alpha = Number(cs.opacity);
      if (el instanceof SVGElement) {
        const fillAttr = el.closest('[fill]')?.getAttribute('fill') ?? 'black';
        const c = parse(toRgb(cs.fill && cs.fill !== 'none' ? cs.fill : fillAttr));
        if (!c) throw new Error('unreadable fill ' + cs.fill + ' / ' + fillAttr + ' of ' + el.outerHTML.slice(0, 80));
        fg = c;
        alpha *= c[3] * Number(cs.fillOpacity || 1);
      } else {
        const c = parse(cs.color);
        if (!c) throw new Error('unreadable colour ' + cs.color);
        fg = c;
        alpha *= c[3];
      }
      const bg = bgOf(el);
      const f = blend(fg, bg, alpha);
      const [a, b] = [lum(f), lum(bg)].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      if (ratio < min) {
        const where = \`\${el.tagName.toLowerCase()}.\${(el.getAttribute('class') ?? '').split(' ').join('.')} in \${el.parentElement?.tagName.toLowerCase()}.\${(el.parentElement?.getAttribute('class') ?? '').split(' ')[0]}\`;
        out.push({ text: (el.textContent ?? '').trim().slice(0, 40), where, fg: \`rgb(\${f.map(Math.round).join(',')})\`, bg: \`rgb(\${bg.join(',')})\`, ratio: Math.round(ratio * 100) / 100 });
      }
    }
    probe.remove();
    return out;
  })(${min})`) as Promise<Low[]>;
}

describe('WCAG AA contrast of text in every theme kind', () => {
  let browser: Browser;
  let tf: ExplainResult;
  let fb: ExplainResult;
  before(async () => {
    browser = await launch();
    tf = await engineResult('mlp3_seed0_testfull', { method: 'train-free' });
    fb = await engineResult('mlp3_seed0_testfull', { method: 'full-backward' });
  });
  after(() => browser?.close());

  for (const theme of THEMES) {
    it(`${theme} (${COLORS[theme].theme}): every text of a result with failing roots (inspector badges, ledger, summary, legend, tree) is ≥ ${AA}:1`, async () => {
      const w = await themed(browser, theme);
      const low: Low[] = [];
      for (const r of [tf, fb]) {
        await w.send({ type: 'result', result: r });
        // A unit whose root fails a check: its badges and numbers are on screen.
        await w.page.click('.node[data-layer="1"][data-unit="1"]');
        await w.page.locator('.unit-panel').first().waitFor();
        low.push(...(await lowContrast(w, AA)));
      }
      // The failing badge is really shown (so its contrast was measured).
      assert.ok((await w.page.locator('.badge.fail').count()) > 0, 'premise: a failing badge is on screen');
      await w.screenshot(`contrast-${theme}`);
      const seen = new Set<string>();
      const unique = low.filter((l) => !seen.has(l.where + l.fg) && seen.add(l.where + l.fg));
      assert.deepEqual(unique, [], `texts below ${AA}:1 in ${theme}:\n${unique.map((l) => `  ${l.ratio}:1 ${l.fg} on ${l.bg} ${l.where} "${l.text}"`).join('\n')}`);
    });
  }
});
