// dist/cli.js, the `dtd-lens` command: a small launcher. It starts itself again
// as the worker, in a child Node with a bounded heap (supervise.ts), without
// loading the engine in the supervising process, which so costs only a Node
// start. The worker (or a process started with `--max-old-space-size` of its
// own) loads the command line proper (cli.ts, bundled as dist/cliEngine.js)
// and runs it in place.
//
// The worker compiles the 3 MB engine bundle with V8's code cache when the
// build left one (dist/cliEngine.js.cache, written by esbuild.mjs): the cache
// is used only when the SHA-1 of the bundle it was made from matches the
// bundle's (V8 itself checks only its length, its version and flags), and a
// missing, stale or rejected cache just means a plain compile.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { runsInProcess, superviseWithBoundedHeap } from './supervise';

const ENGINE_CLI = path.join(__dirname, 'cliEngine.js');
const CACHE = `${ENGINE_CLI}.cache`;
/** Set by esbuild.mjs only: the worker writes the code cache there after running. */
const CACHE_OUT = process.env.DTD_LENS_WRITE_CODE_CACHE;
const args = process.argv.slice(2);

interface EngineCli {
  main(argv: string[]): Promise<number>;
}

function loadEngine(): { cli: EngineCli; script: vm.Script; hash: string } {
  const bytes = readFileSync(ENGINE_CLI);
  const hash = createHash('sha1').update(bytes).digest('hex');
  let cachedData: Buffer | undefined;
  try {
    const c = readFileSync(CACHE);
    if (c.subarray(0, 40).toString('latin1') === hash) cachedData = c.subarray(40);
  } catch {
    // No cache: a plain compile.
  }
  // The bundle's first line is a shebang (valid only at the very start of a script): kept as a comment, same length.
  let source = bytes.toString('utf8');
  if (source.startsWith('#!')) source = '//' + source.slice(2);
  const script = new vm.Script(Module.wrap(source), { filename: ENGINE_CLI, cachedData });
  const mod = new Module(ENGINE_CLI, module);
  mod.filename = ENGINE_CLI;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(__dirname);
  const fn = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
  fn.call(mod.exports, mod.exports, Module.createRequire(ENGINE_CLI), mod, ENGINE_CLI, __dirname);
  mod.loaded = true;
  return { cli: mod.exports as EngineCli, script, hash };
}

if (runsInProcess()) {
  const { cli, script, hash } = loadEngine();
  cli.main(args).then((code) => {
    process.exitCode = code;
    // After the run: the functions it compiled are in the cache too.
    if (CACHE_OUT) writeFileSync(CACHE_OUT, Buffer.concat([Buffer.from(hash, 'latin1'), script.createCachedData()]));
  });
} else {
  void superviseWithBoundedHeap(__filename, args).then((code) => {
    process.exitCode = code;
  });
}
