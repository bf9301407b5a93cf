// Asserting the engine's user-facing errors: the code, and fragments of the message.

import assert from 'node:assert/strict';
import { isDtdError, type DtdErrorCode } from '../../extension/engine/errors';

/** Runs fn, expects a DtdError with this code whose message contains every fragment (string or pattern); returns the message. */
export function expectDtdError(fn: () => unknown, code: DtdErrorCode, ...fragments: (string | RegExp)[]): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(isDtdError(caught), `expected a DtdError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const f of fragments) {
    if (typeof f === 'string') assert.ok(caught.message.includes(f), `message should contain '${f}': ${caught.message}`);
    else assert.match(caught.message, f);
  }
  return caught.message;
}
