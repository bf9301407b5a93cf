// `npm run test:vscode`: the real-VS-Code suite. Prepares a test workspace
// (fixture models, an input file, broken models), bundles the in-host suite,
// and calls @vscode/test-electron's runTests() with our own "VS Code
// executable" (code-server-test.sh → driver.ts: code-server + headless
// Chromium), which also runs the Playwright UI suite. Needs test/vscode/setup.sh
// to have run once and `npm run build` (dist/) before.

import { runTests } from '@vscode/test-electron';
import * as esbuild from 'esbuild';
import { existsSync, rmSync } from 'node:fs';
import { prepareWorkspace } from './workspace';
import { join, resolve } from 'node:path';

const ROOT = resolve(process.cwd());
const TMP = join(ROOT, '.test-tmp');

async function main(): Promise<void> {
  const started = Date.now();
  for (const f of ['dist/extension.js', 'dist/engine.js', 'dist/webview.js']) {
    if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` first.`);
  }
  const workspace = join(TMP, 'vscode-workspace');
  prepareWorkspace(workspace);
  const suiteOut = join(TMP, 'vscode-suite');
  await esbuild.build({
    entryPoints: { index: join(ROOT, 'test/vscode/suite/index.ts') },
    outdir: suiteOut,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  const profile = join(TMP, 'vscode-profile');
  rmSync(profile, { recursive: true, force: true });
  try {
    await runTests({
      vscodeExecutablePath: join(ROOT, 'test/vscode/code-server-test.sh'),
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: join(suiteOut, 'index.js'),
      launchArgs: [workspace, `--user-data-dir=${join(profile, 'user-data')}`, `--extensions-dir=${join(profile, 'extensions')}`],
    });
    console.log(`test:vscode passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (e) {
    console.error(`test:vscode FAILED after ${((Date.now() - started) / 1000).toFixed(1)} s: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
