// dist/cli.js, the `dtd-lens` command: a small launcher. It starts the command
// line proper (cli.ts, bundled as dist/cliEngine.js) in a child Node with a
// bounded heap (supervise.ts) without loading the engine itself, so the
// supervising process costs only a Node start. In a process that already has
// its bound (the worker, or `node --max-old-space-size=… dist/cli.js`) it runs
// the command line in place, as cli.ts does.

import * as path from 'node:path';
import { runsInProcess, superviseWithBoundedHeap } from './supervise';

const ENGINE_CLI = path.join(__dirname, 'cliEngine.js');
const args = process.argv.slice(2);

if (runsInProcess()) {
  // Loaded at run time from the bundle next to this one (not bundled in: that is the point of the launcher).
  const load = require;
  (load(ENGINE_CLI) as { main(argv: string[]): Promise<number> }).main(args).then((code) => {
    process.exitCode = code;
  });
} else {
  void superviseWithBoundedHeap(ENGINE_CLI, args).then((code) => {
    process.exitCode = code;
  });
}
