// Checks the packaged extension as a user gets it: installs the .vsix into a
// fresh extensions folder with `code-server --install-extension`, checks what
// it contains (bundles, wasm binaries, no sources, maps, tests or
// node_modules), then opens the workbench WITHOUT the development path and
// explains a model from the Explorer. Usage (after `npm run package`, or
// `npm run package:linux-x64` for the platform package that carries
// onnxruntime's native package: then the explanation runs on it, float32):
//   node --import tsx test/vscode/vsixSmoke.ts [path/to.vsix]

import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, CODE_SERVER, NODE24, OUTPUT, ROOT, openWorkbench, startCodeServer } from './codeServer';
import { explainViaExplorer } from './ui';
import { prepareWorkspace } from './workspace';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

async function main(): Promise<void> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; publisher: string };
  const vsix = process.argv[2] ?? join(ROOT, `${pkg.name}-${pkg.version}.vsix`);
  const tmp = join(ROOT, '.test-tmp', 'vsix');
  rmSync(tmp, { recursive: true, force: true });
  const extensionsDir = join(tmp, 'extensions');
  const userDataDir = join(tmp, 'user-data');
  mkdirSync(userDataDir, { recursive: true });
  // A platform package (dtd-lens-linux-x64-…) carries onnxruntime: the smoke run then asks for it in float32, so the
  // explanation fails unless the native package loads from the installed extension.
  const native = /-(linux|darwin|win32|alpine)-(x64|arm64|armhf)-/.exec(vsix.split('/').pop() ?? '');
  execFileSync(NODE24, [CODE_SERVER, '--config', join(userDataDir, 'cs.yaml'), '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir, '--install-extension', vsix], { stdio: 'inherit' });
  const installed = join(extensionsDir, `${pkg.publisher}.${pkg.name}-${pkg.version}`);
  const files = walk(installed).map((f) => relative(installed, f));
  console.log(`installed ${files.length} files:\n  ${files.join('\n  ')}`);
  const must = ['package.json', 'dist/extension.js', 'dist/engine.js', 'dist/webview.js', 'dist/tfjs-backend-wasm-simd.wasm', 'media/webview.css', 'media/icon.png', 'media/dtd.svg'];
  if (native) must.push(`dist/native/node_modules/onnxruntime-node/bin/napi-v6/${native[1]}/${native[2]}/onnxruntime_binding.node`, 'dist/native/node_modules/onnxruntime-common/package.json');
  const missing = must.filter((f) => !files.includes(f));
  if (missing.length) throw new Error(`the .vsix lacks ${missing.join(', ')}`);
  // node_modules only as the native package under dist/native (platform packages), and only that platform's binaries.
  const unwanted = files.filter((f) => /\.map$|\.ts$|^test\/|^\.test-tmp|^\.vscode-test|^extension\//.test(f) || (/(^|\/)node_modules\//.test(f) && !(native && f.startsWith('dist/native/node_modules/'))) || (/\/bin\/napi-v\d+\//.test(f) && !(native && f.includes(`/${native[1]}/${native[2]}/`))));
  if (unwanted.length) throw new Error(`the .vsix contains files it should not: ${unwanted.join(', ')}`);

  const workspace = join(tmp, 'workspace');
  prepareWorkspace(workspace);
  const server = await startCodeServer({ userDataDir, extensionsDir, folder: workspace, logFile: join(OUTPUT, 'code-server-vsix.log'), settings: native ? { 'dtdLens.precision': 'float32', 'dtdLens.backend': 'onnxruntime' } : undefined });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const { page } = await openWorkbench(browser, server.url(workspace), () => undefined);
    try {
      const compute = await explainViaExplorer(page, 'mlp3_seed1_notebook.onnx');
      console.log(`the visualizer's header says the run was computed on: ${compute}`);
      if (native && !/onnxruntime-(cpu|cuda), float32/.test(compute ?? '')) throw new Error(`the platform package's run was not computed on its bundled onnxruntime: the header says "${compute}"`);
      mkdirSync(join(OUTPUT, 'screenshots'), { recursive: true });
      await page.screenshot({ path: join(OUTPUT, 'screenshots', 'vsix-explain-output.png') });
      console.log(`vsix smoke test passed: the installed extension explained a model from the Explorer${native ? ' (float32 on its bundled onnxruntime)' : ''}`);
    } catch (e) {
      await page.screenshot({ path: join(OUTPUT, 'screenshots', 'vsix-failed.png') }).catch(() => undefined);
      throw e;
    }
  } finally {
    await browser.close();
    server.stop();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  },
);
