// Input parser: JSON (flat, batch of one, {"x": ...}, fixture files), CSV and
// .npy (written here byte by byte), and the errors for wrong length, NaN and
// unreadable files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isDtdError } from '../../extension/engine/errors';
import { parseInput } from '../../extension/engine/input';

import { FIXTURES_DIR as FIXTURES } from '../helpers/fixtures';
const text = (s: string) => new TextEncoder().encode(s);

function expectBadInput(fn: () => unknown, fileName: string, ...fragments: string[]): string {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected a bad-input error for ${fileName}`);
  assert.ok(isDtdError(caught), `expected a DtdError, got ${String(caught)}`);
  assert.equal(caught.code, 'bad-input', caught.message);
  assert.ok(caught.message.includes(fileName), `message should name ${fileName}: ${caught.message}`);
  for (const f of fragments) assert.ok(caught.message.includes(f), `message should contain '${f}': ${caught.message}`);
  return caught.message;
}

/** Writes a .npy file: magic, version, little-endian header length, padded dict header, data. */
function npy(values: number[], opts: { descr?: string; shape?: string; version?: 1 | 2 | 3; fortran?: boolean } = {}): Uint8Array {
  const descr = opts.descr ?? '<f8';
  const version = opts.version ?? 1;
  const shape = opts.shape ?? `(${values.length},)`;
  let dict = `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
  const pre = version === 1 ? 10 : 12;
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict + ' '.repeat(total - pre - dict.length - 1) + '\n';
  const size = descr.endsWith('4') ? 4 : 8;
  const little = !descr.startsWith('>');
  const out = new Uint8Array(total + values.length * size);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, dict.length, true);
  else view.setUint32(8, dict.length, true);
  out.set(new TextEncoder().encode(dict), pre);
  values.forEach((v, i) => (size === 4 ? view.setFloat32(total + 4 * i, v, little) : view.setFloat64(total + 8 * i, v, little)));
  return out;
}

test('JSON: flat array, batch of one, {"x": [...]}, {"x": [[...]]}', () => {
  const expected = [0.5, -1, 2e-3];
  for (const body of ['[0.5, -1, 2e-3]', '[[0.5, -1, 2e-3]]', '{"x": [0.5, -1, 2e-3]}', '{"x": [[0.5, -1, 2e-3]]}', '\uFEFF  [0.5,-1,0.002]\n']) {
    assert.deepEqual(Array.from(parseInput(text(body), 'x.json', 3)), expected, body);
  }
});

test('JSON: a whole fixture file reads its input.x', (t) => {
  const file = path.join(FIXTURES, 'mlp3_seed0_testfull.json');
  if (!fs.existsSync(file)) return t.skip('fixture missing');
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  const x = parseInput(fs.readFileSync(file), 'mlp3_seed0_testfull.json', doc.network.input_size);
  assert.deepEqual(Array.from(x), doc.input.x[0]);
});

test('JSON errors: wrong length, NaN, batch of two, not numbers, invalid JSON', () => {
  const msg = expectBadInput(() => parseInput(text('[1,2,3,4,5,6,7]'), 'in.json', 10), 'in.json');
  assert.equal(msg, 'in.json: the input has 7 values but the model expects 10.');
  expectBadInput(() => parseInput(text('{"x": [1, "NaN", 3]}'), 'nan.json', 3), 'nan.json', 'NaN', 'finite');
  expectBadInput(() => parseInput(text('[1, "Infinity", 3]'), 'inf.json', 3), 'inf.json', 'Infinity');
  expectBadInput(() => parseInput(text('[[1,2],[3,4]]'), 'batch.json', 2), 'batch.json', 'batch of 2');
  expectBadInput(() => parseInput(text('[1, "a"]'), 'str.json', 2), 'str.json', 'not a number');
  expectBadInput(() => parseInput(text('[1, 2'), 'cut.json', 2), 'cut.json', 'not valid JSON');
  expectBadInput(() => parseInput(text('{"y": [1, 2]}'), 'obj.json', 2), 'obj.json', '"x"');
  expectBadInput(() => parseInput(text('{"x": 3}'), 'scalar.json', 1), 'scalar.json', 'array');
});

test('CSV: one row, with or without a header, a column, trailing comma', () => {
  assert.deepEqual(Array.from(parseInput(text('1,2.5,-3e2\n'), 'x.csv', 3)), [1, 2.5, -300]);
  assert.deepEqual(Array.from(parseInput(text('a,b,c\r\n1,2,3\r\n'), 'x.csv', 3)), [1, 2, 3]);
  assert.deepEqual(Array.from(parseInput(text('"x0","x1"\n0.25,.5,\n'), 'x.csv', 2)), [0.25, 0.5]);
  assert.deepEqual(Array.from(parseInput(text('value\n1\n2\n3\n'), 'x.csv', 3)), [1, 2, 3]);
  assert.deepEqual(Array.from(parseInput(text('1 2 3'), 'x.txt', 3)), [1, 2, 3]);
});

test('CSV errors: wrong length, NaN, several rows, a non-number, empty', () => {
  assert.equal(expectBadInput(() => parseInput(text('1,2,3,4,5,6,7'), 'in.csv', 10), 'in.csv'), 'in.csv: the input has 7 values but the model expects 10.');
  expectBadInput(() => parseInput(text('1,nan,3'), 'nan.csv', 3), 'nan.csv', 'NaN');
  expectBadInput(() => parseInput(text('1,-inf,3'), 'inf.csv', 3), 'inf.csv', 'Infinity');
  expectBadInput(() => parseInput(text('1,2\n3,4\n'), 'rows.csv', 2), 'rows.csv', '2 rows');
  expectBadInput(() => parseInput(text('a,b\n1,x\n'), 'cell.csv', 2), 'cell.csv', "'x'");
  expectBadInput(() => parseInput(text('\n\n'), 'empty.csv', 2), 'empty.csv', 'empty');
  expectBadInput(() => parseInput(text('a,b\n'), 'header.csv', 2), 'header.csv', 'no row');
});

test('npy: float64 and float32, versions 1/2/3, shape (n,) and (1, n), big-endian', () => {
  const values = [0.1, -2, 3.5, 1e-7];
  assert.deepEqual(Array.from(parseInput(npy(values), 'x.npy', 4)), values);
  assert.deepEqual(Array.from(parseInput(npy(values, { version: 2 }), 'x.npy', 4)), values);
  assert.deepEqual(Array.from(parseInput(npy(values, { version: 3, shape: '(1, 4)' }), 'x.npy', 4)), values);
  assert.deepEqual(Array.from(parseInput(npy(values, { descr: '>f8' }), 'x.npy', 4)), values);
  assert.deepEqual(Array.from(parseInput(npy(values, { descr: '<f4' }), 'x.npy', 4)), values.map(Math.fround));
  assert.deepEqual(Array.from(parseInput(npy(values, { fortran: true, shape: '(4, 1)' }), 'x.npy', 4)), values);
});

test('npy errors: wrong length, NaN, dtype, truncated, fortran order, bad version', () => {
  const seven = [1, 2, 3, 4, 5, 6, 7];
  assert.match(expectBadInput(() => parseInput(npy(seven), 'in.npy', 10), 'in.npy'), /^in\.npy: the input has 7 values but the model expects 10/);
  expectBadInput(() => parseInput(npy([1, NaN, 3]), 'nan.npy', 3), 'nan.npy', 'NaN');
  expectBadInput(() => parseInput(npy([1, 2], { descr: '<i8' }), 'int.npy', 2), 'int.npy', '<i8');
  const full = npy([1, 2, 3]);
  for (const cut of [7, 9, 40, full.length - 1]) expectBadInput(() => parseInput(full.subarray(0, cut), 'cut.npy', 3), 'cut.npy');
  expectBadInput(() => parseInput(npy([1, 2, 3, 4], { fortran: true, shape: '(2, 2)' }), 'f.npy', 4), 'f.npy', 'fortran');
  const v9 = npy([1]);
  v9[6] = 9;
  expectBadInput(() => parseInput(v9, 'v9.npy', 1), 'v9.npy', 'version 9');
});

test('unreadable bytes → bad-input', () => {
  const bytes = Uint8Array.from([0xff, 0xfe, 0x00, 0x80, 0x81, 0xc3]);
  expectBadInput(() => parseInput(bytes, 'junk.bin', 3), 'junk.bin');
});
