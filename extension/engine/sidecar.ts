// The sidecar `<model>.dtd.json` as bytes → its parsed content, bounded: the
// shells (command line, engine child) read or receive the bytes, this module
// parses them, refusing more than LIMITS.sidecarBytes or a nesting deeper than
// LIMITS.sidecarDepth before JSON.parse runs. Messages name the sidecar and
// where the JSON breaks, never its content.

import { LIMITS } from '../protocol';
import { DtdError } from './errors';
import { formatBytes } from './files';

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
  const depth = jsonNestingDepth(bytes, LIMITS.sidecarDepth);
  if (depth > LIMITS.sidecarDepth) throw fail(`the sidecar nests deeper than ${LIMITS.sidecarDepth} levels.`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw fail('the sidecar is not UTF-8 text.');
  }
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    // V8's message may quote the text ("Unexpected token 'r', "root:x:0"…"): keep only where it broke.
    const where = /(line \d+ column \d+)/.exec(e instanceof Error ? e.message : '')?.[1] ?? /position (\d+)/.exec(e instanceof Error ? e.message : '')?.[0];
    throw fail(`the sidecar is not valid JSON${where ? ` (at ${where})` : ''}.`);
  }
}

/**
 * The deepest nesting of arrays/objects in JSON text, counted on the bytes
 * (strings skipped); stops counting once past `stopAbove`.
 */
export function jsonNestingDepth(bytes: Uint8Array, stopAbove = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > stopAbove) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}
