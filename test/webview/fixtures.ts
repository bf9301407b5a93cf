// Test data for the webview suite: `engineResult` runs the real engine
// (loadModel + explain) on a golden fixture network; that is what the suite draws.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { explain, loadModel } from '../../extension/engine';
import type { ExplainOptions, ExplainResult } from '../../extension/protocol';
import { FIXTURES_DIR as FIXTURES, loadFixture } from '../helpers/fixtures';

export { FIXTURES, loadFixture };

const results = new Map<string, Promise<ExplainResult>>();
/** The engine's result for a fixture network and its input (explaining the fixture's output), cached per arguments. */
export function engineResult(name: string, options: Omit<ExplainOptions, 'onProgress' | 'signal'> = {}): Promise<ExplainResult> {
  const key = `${name} ${JSON.stringify(options)}`;
  let r = results.get(key);
  if (!r) {
    const fx = loadFixture(name);
    const file = join(FIXTURES, `${name}.json`);
    const net = loadModel(new Uint8Array(readFileSync(file)), `${name}.json`);
    results.set(key, (r = explain(net, fx.input.x[0], { rule: 'z+', explainedOutput: fx.explained_output, ...options })));
  }
  return r;
}
