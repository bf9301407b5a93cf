// Bundles the three programs: the extension host, the engine (child process +
// command line: dist/cli.js is a small launcher that starts dist/cliEngine.js
// with a bounded heap) and the webview. `--watch` rebuilds on change; `--production`
// drops source maps (used by `npm run package`). `--native PLATFORM-ARCH`
// (e.g. linux-x64, for `vsce package --target linux-x64`) copies onnxruntime's
// native package for that platform only into dist/native/node_modules, where
// the engine looks first (ops/ort.ts); without it dist/native is removed, so a
// universal package carries no native code and the engine falls back.
import * as esbuild from 'esbuild';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = { bundle: true, mainFields: ['module', 'main'], sourcemap: !production, logLevel: 'warning', legalComments: 'none' };
// Native / optional TensorFlow.js packages are resolved at run time from node_modules.
// The native TensorFlow packages are optional and resolved at run time; the wasm backend is
// bundled (one tfjs-core instance) and its .wasm binaries are copied next to the bundle.
const nodeExternal = ['vscode', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

const builds = [
  { entryPoints: { cli: 'extension/engine/cliLauncher.ts', cliEngine: 'extension/engine/cli.ts', engine: 'extension/engine/child.ts' }, platform: 'node', format: 'cjs', target: 'node20', external: nodeExternal, outdir: 'dist', banner: { js: '#!/usr/bin/env node' } },
];
if (existsSync('extension/extension.ts')) {
  builds.push({ entryPoints: { extension: 'extension/extension.ts' }, platform: 'node', format: 'cjs', target: 'node20', external: ['vscode'], outdir: 'dist' });
}
if (existsSync('webview/main.ts')) {
  builds.push({ entryPoints: { webview: 'webview/main.ts' }, platform: 'browser', format: 'iife', target: 'es2022', outdir: 'dist' });
}
if (existsSync('webview/gallery.ts')) {
  builds.push({ entryPoints: { gallery: 'webview/gallery.ts' }, platform: 'browser', format: 'iife', target: 'es2022', outdir: 'dist' });
}

mkdirSync('dist', { recursive: true });
const wasmDir = 'node_modules/@tensorflow/tfjs-backend-wasm/dist';
for (const f of readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) copyFileSync(`${wasmDir}/${f}`, `dist/${f}`);

for (const b of builds) {
  const opts = { ...common, ...b };
  if (watch) (await esbuild.context(opts)).watch();
  else await esbuild.build(opts);
}

// onnxruntime-node for one platform (its JavaScript, package.json and that platform's binaries).
const nativeAt = process.argv.indexOf('--native');
rmSync('dist/native', { recursive: true, force: true });
if (nativeAt > 0) {
  const target = process.argv[nativeAt + 1] ?? '';
  const [platform, arch] = target.split('-');
  const napi = 'node_modules/onnxruntime-node/bin/napi-v6';
  if (!existsSync(`${napi}/${platform}/${arch}/onnxruntime_binding.node`)) {
    throw new Error(`--native ${target}: onnxruntime-node has no binaries for it (${readdirSync(napi).join(', ')})`);
  }
  const to = 'dist/native/node_modules';
  for (const pkg of ['onnxruntime-node', 'onnxruntime-common']) {
    mkdirSync(`${to}/${pkg}`, { recursive: true });
    for (const f of ['package.json', 'LICENSE', 'README.md']) if (existsSync(`node_modules/${pkg}/${f}`)) copyFileSync(`node_modules/${pkg}/${f}`, `${to}/${pkg}/${f}`);
    cpSync(`node_modules/${pkg}/dist`, `${to}/${pkg}/dist`, { recursive: true, filter: (src) => !src.endsWith('.map') && !src.endsWith('.ts') });
  }
  cpSync(`${napi}/${platform}/${arch}`, `${to}/onnxruntime-node/bin/napi-v6/${platform}/${arch}`, { recursive: true });
}

// V8's code cache of the command line's engine bundle (engine/cliLauncher.ts reads it; a missing or stale one
// only means a plain compile, about 50 ms more per run): written by the worker after a short run.
rmSync('dist/cliEngine.js.cache', { force: true });
if (!watch) {
  const env = { ...process.env, DTD_LENS_WRITE_CODE_CACHE: 'dist/cliEngine.js.cache' };
  delete env.DTD_LENS_HEAP_MB;
  const r = spawnSync(process.execPath, ['dist/cli.js', 'explain', 'media/examples/seed-notebook.json', '--random-input', '--method', 'lrp', '--quiet'], { env, stdio: 'ignore' });
  if (r.status !== 0 || !existsSync('dist/cliEngine.js.cache')) console.warn('esbuild.mjs: no code cache for dist/cliEngine.js (the command line compiles it at each start).');
}
