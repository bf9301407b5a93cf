// `npm run test:vscode`: the real-VS-Code suite. Prepares a test workspace
// (fixture models, an input file, broken models), bundles the in-host suite,
// and calls @vscode/test-electron's runTests() with our own "VS Code
// executable" (code-server-test.sh → driver.ts: code-server + headless
// Chromium), which also runs the Playwright UI suite. Needs test/vscode/setup.sh
// to have run once and `npm run build` (dist/) before.

import { runTests } from '@vscode/test-electron';
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(process.cwd());
const TMP = join(ROOT, '.test-tmp');

function fixturesDir(): string {
  const candidates = [process.env.DTD_FIXTURES_DIR, join(ROOT, '../shared/fixtures/dtd'), '/work/shared/fixtures/dtd'].filter((p): p is string => !!p);
  const hit = candidates.find((p) => existsSync(join(p, 'mlp3_seed1_notebook.onnx')));
  if (!hit) throw new Error(`fixture models not found in ${candidates.join(', ')} (set DTD_FIXTURES_DIR)`);
  return hit;
}

/** The workspace the tests open: what a user would have, plus files that must fail cleanly. */
export function prepareWorkspace(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'inputs'), { recursive: true });
  mkdirSync(join(dir, 'models'), { recursive: true }); // a plain folder: no "Explain Output"
  mkdirSync(join(dir, 'trap.onnx'), { recursive: true }); // a folder named like a model: no "Explain Output" either
  writeFileSync(join(dir, 'trap.onnx', 'README.txt'), 'a folder, not a model\n');
  const fx = fixturesDir();
  for (const f of ['mlp3_seed1_notebook.onnx', 'mlp3_seed1_notebook.safetensors']) copyFileSync(join(fx, f), join(dir, f));
  copyFileSync(join(fx, 'mlp3_seed1_notebook.onnx'), join(dir, 'models', 'nested.onnx'));
  // The fixture file doubles as an input file: the input reader takes its input.x.
  copyFileSync(join(fx, 'mlp3_seed1_notebook.json'), join(dir, 'inputs', 'mlp3_seed1_notebook.json'));
  writeFileSync(join(dir, 'notes.txt'), 'not a model\n');
  writeFileSync(join(dir, 'corrupt.onnx'), Buffer.from('this is not a protobuf \u0000\u00ff\u00fe garbage '.repeat(20), 'latin1'));
  const st = readFileSync(join(fx, 'mlp3_seed1_notebook.safetensors'));
  writeFileSync(join(dir, 'truncated.safetensors'), st.subarray(0, Math.floor(st.length / 2)));
}

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

if (!process.env.DTD_NO_MAIN) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  });
}
