// The one error type the engine throws for problems a person can act on.
// `code` says which shell reaction fits (CLI exit 2 for bad input/usage);
// `message` always names the file and the problem, never a stack trace; it is
// plain text (protocol/text.ts: no control characters, no markdown link,
// at most LIMITS.messageChars), whatever names from the file it quotes.

import { plainText, type CancelSignal } from '../protocol';

export type DtdErrorCode =
  | 'bad-model' // truncated, malformed or hostile model file, NaN weights
  | 'unsupported' // a layer/operator DTD Lens cannot explain (yet)
  | 'bad-input' // wrong input length, unreadable input file
  | 'bad-usage' // unknown rule, bad option value
  | 'cancelled' // the user cancelled the run
  | 'too-costly' // a requested computation exceeds the configured cost limit
  | 'internal'; // a bug: reported, never swallowed

export class DtdError extends Error {
  readonly code: DtdErrorCode;
  readonly file?: string;
  constructor(code: DtdErrorCode, message: string, file?: string) {
    super(plainText(message));
    this.name = 'DtdError';
    this.code = code;
    this.file = file;
  }
}

export function isDtdError(e: unknown): e is DtdError {
  return e instanceof DtdError || (typeof e === 'object' && e !== null && (e as { name?: string }).name === 'DtdError');
}

/** Throws a cancellation error when the signal has fired; call it in loops. */
export function throwIfCancelled(signal?: CancelSignal): void {
  if (signal?.aborted) throw new DtdError('cancelled', 'The run was cancelled.');
}
