// The sidecar `<model>.dtd.json` as bytes → its parsed content, bounded: the
// shells (command line, engine child) read or receive the bytes, this module
// parses them, refusing more than LIMITS.sidecarBytes or a nesting deeper than
// LIMITS.sidecarDepth before JSON.parse runs. Messages name the sidecar and
// where the JSON breaks, never its content.

import { formatBytes, LIMITS } from '../protocol';
import { DtdError } from './errors';
import { checkJsonShape } from './budget';

function displayName(file: string): string {
  const parts = file.split(/[\\/]/);
  return parts[parts.length - 1] || file;
}

/** Parses a sidecar's bytes; `sidecarFile` names it in messages. */
export function parseSidecar(bytes: Uint8Array, sidecarFile: string): unknown {
  const name = displayName(sidecarFile);
  const fail = (problem: string) => new DtdError('bad-model', `${name}: ${problem}`, sidecarFile);
  if (!(bytes instanceof Uint8Array)) throw fail('the sidecar did not arrive as bytes.');
  if (bytes.length > LIMITS.sidecarBytes) throw fail(`the sidecar is larger than the limit of ${formatBytes(LIMITS.sidecarBytes)}.`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw fail('the sidecar is not UTF-8 text.');
  }
  // The one JSON shape check (budget.ts), with the sidecar's own, smaller depth limit, before JSON.parse.
  checkJsonShape(text, (problem) => fail(`the sidecar: ${problem}`), LIMITS.sidecarDepth);
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    // V8's message may quote the text ("Unexpected token 'r', "root:x:0"…"): keep only where it broke.
    const where = /(line \d+ column \d+)/.exec(e instanceof Error ? e.message : '')?.[1] ?? /position (\d+)/.exec(e instanceof Error ? e.message : '')?.[0];
    throw fail(`the sidecar is not valid JSON${where ? ` (at ${where})` : ''}.`);
  }
}
