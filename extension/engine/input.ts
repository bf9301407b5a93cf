// Reads the input vector x for a run from a file: JSON (flat array, a batch of
// one [[...]], nested [C][H][W] or [1][C][H][W] for image models, {"x": ...}, or
// a whole fixture file with input.x), a one-row CSV (an optional header row of
// names), a float32/float64 .npy, or a PNG/JPEG image (decoded and preprocessed
// by image.ts into the model's [C, H, W]). The format is recognised from the
// content (PNG/JPEG/npy magic, JSON's first character), so a misnamed file still
// reads; the file name is used in messages. Image-shaped inputs are returned flat
// in C-major NCHW order, the IR's layout.

import { DtdError } from './errors';
import { checkJsonShape, errorText, preview, resourceError } from './budget';
import { type ImagePreprocessing, imageFormat, imageToInput } from './image';
import type { Shape3 } from './network';
import { LIMITS, quoteName } from '../protocol';

export type { ImagePreprocessing } from './image';

export interface ParseInputOptions {
  /** The model's input shape [C, H, W] (Network.inputShape): needed for images and nested arrays. */
  shape?: Shape3;
  /** How an image file becomes the input (settings or the sidecar's "preprocessing"). */
  preprocessing?: ImagePreprocessing;
}

function display(fileName: string): string {
  const parts = fileName.split(/[\\/]/);
  return parts[parts.length - 1] || fileName;
}

function badInput(fileName: string, problem: string): DtdError {
  return new DtdError('bad-input', `${display(fileName)}: ${problem}`, fileName);
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/**
 * Parses an input file into a vector of `expectedSize` finite numbers (C-major NCHW for
 * image models), or throws DtdError('bad-input'). `opts.shape` (the model's inputShape)
 * enables PNG/JPEG files and nested [C][H][W] arrays; `opts.preprocessing` says how an image
 * is resized, ordered, scaled and normalised.
 */
export function parseInput(bytes: Uint8Array, fileName: string, expectedSize: number, opts: ParseInputOptions = {}): Float64Array {
  try {
    return parseInputUnguarded(bytes, fileName, expectedSize, opts);
  } catch (e) {
    throw resourceError(e, fileName, 'bad-input'); // an allocation V8 refused, a stack overflow: one line naming the file
  }
}

function parseInputUnguarded(bytes: Uint8Array, fileName: string, expectedSize: number, opts: ParseInputOptions): Float64Array {
  let values: Float64Array;
  const shape = opts.shape;
  if (shape && shape[0] * shape[1] * shape[2] !== expectedSize) {
    throw new DtdError('internal', `parseInput: shape [${shape.join(', ')}] does not hold ${expectedSize} values.`);
  }
  const image = imageFormat(bytes);
  if (image) {
    if (!shape) {
      throw badInput(fileName, `is a ${image.toUpperCase()} image, but the model takes a vector of ${expectedSize} values, not an image with a [C, H, W] input shape.`);
    }
    values = imageToInput(bytes, fileName, shape, opts.preprocessing);
  } else if (NPY_MAGIC.every((b, i) => bytes[i] === b)) {
    values = parseNpy(bytes, fileName, expectedSize);
  } else {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw badInput(fileName, 'is neither text (JSON, CSV) nor a .npy file, so it cannot be read as an input.');
    }
    text = text.replace(/^\uFEFF/, '');
    const first = text.trimStart()[0];
    values = first === '[' || first === '{' ? parseJsonInput(text, fileName, shape) : parseCsvInput(text, fileName);
  }
  if (values.length !== expectedSize) {
    throw badInput(fileName, `the input has ${values.length} values but the model expects ${expectedSize}.`);
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw badInput(fileName, `value ${i} of the input is ${values[i]}; every input value must be a finite number.`);
    }
  }
  return values;
}

// ---------- several inputs (dataset runs) ----------

/**
 * Several inputs from one file, for a dataset run: an N-row .npy (N×features or
 * N×C×H×W), an N-row CSV (one input per row, an optional header row), or a JSON
 * array of inputs (each as parseInput reads one: a flat array, [C][H][W], {"x": …};
 * or {"inputs": [...]}). A file holding exactly one input gives one row. The
 * count is checked against LIMITS.datasetInputs / datasetValues before decoding.
 */
export function parseInputRows(bytes: Uint8Array, fileName: string, expectedSize: number, opts: ParseInputOptions = {}): Float64Array[] {
  try {
    return parseInputRowsUnguarded(bytes, fileName, expectedSize, opts);
  } catch (e) {
    throw resourceError(e, fileName, 'bad-input');
  }
}

function checkCount(n: number, fileName: string, expectedSize: number): void {
  if (n === 0) throw badInput(fileName, 'holds no inputs.');
  if (n > LIMITS.datasetInputs) throw badInput(fileName, `holds ${n} inputs; a dataset run takes at most ${LIMITS.datasetInputs}.`);
  if (n * expectedSize > LIMITS.datasetValues) {
    throw badInput(fileName, `holds ${n} inputs of ${expectedSize} values (${(n * expectedSize).toExponential(2)} values); a dataset run takes at most ${LIMITS.datasetValues.toExponential(0)} values.`);
  }
}

function checkRow(values: Float64Array, fileName: string, expectedSize: number, where: string): Float64Array {
  if (values.length !== expectedSize) throw badInput(fileName, `${where} has ${values.length} values but the model expects ${expectedSize}.`);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw badInput(fileName, `value ${i} of ${where} is ${values[i]}; every input value must be a finite number.`);
  }
  return values;
}

function parseInputRowsUnguarded(bytes: Uint8Array, fileName: string, n: number, opts: ParseInputOptions): Float64Array[] {
  const shape = opts.shape;
  const image = imageFormat(bytes);
  if (image) throw badInput(fileName, `is one ${image.toUpperCase()} image; a dataset run reads a folder of images, or a .npy, CSV or JSON file of several inputs.`);
  let rows: Float64Array[];
  if (NPY_MAGIC.every((b, i) => bytes[i] === b)) {
    const h = readNpyHeader(bytes, fileName);
    const dims = h.shape;
    const count = dims.reduce((a, b) => a * b, 1);
    // One input (any shape holding exactly n values, e.g. (784,) or (1, 28, 28)), or N inputs along the first axis.
    const N = count === n && (dims.length === 0 || dims[0] === 1 || dims.slice(1).reduce((a, b) => a * b, 1) !== n) ? 1 : dims[0] ?? 0;
    if (N !== 1 || count !== n) {
      const rest = dims.slice(1).reduce((a, b) => a * b, 1);
      if (dims.length < 2 || rest !== n) {
        throw badInput(fileName, `the array's shape is (${dims.join(', ')}); a dataset .npy is N×${n}${shape ? ` or N×${shape.join('×')}` : ''} (one input per row) for this model.`);
      }
    }
    checkCount(N, fileName, n);
    if (h.fortran && dims.filter((d) => d > 1).length > 1) throw npyFail(fileName, 'fortran_order arrays with several axes are not supported; save a C-order array (numpy.ascontiguousarray).');
    const data = readNpyData(h, bytes, fileName, N * n);
    rows = Array.from({ length: N }, (_, s) => data.subarray(s * n, (s + 1) * n));
  } else {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw badInput(fileName, 'is neither text (JSON, CSV) nor a .npy file, so it cannot be read as inputs.');
    }
    text = text.replace(/^\uFEFF/, '');
    const first = text.trimStart()[0];
    rows = first === '[' || first === '{' ? jsonRows(parseJsonText(text, fileName), fileName, n, shape) : csvInputRows(text, fileName, n);
  }
  return rows.map((r, s) => checkRow(r, fileName, n, rows.length === 1 ? 'the input' : `input ${s} (row ${s + 1})`));
}

function jsonRows(doc: unknown, fileName: string, n: number, shape?: Shape3): Float64Array[] {
  if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) {
    const obj = doc as Record<string, unknown>;
    if (Array.isArray(obj.inputs)) doc = obj.inputs;
    else return [jsonInput(doc, fileName, shape)];
  }
  if (!Array.isArray(doc)) throw badInput(fileName, 'must be a JSON array of inputs.');
  const dims = nestedDims(doc);
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  // One input: a flat list, or an image-shaped [C][H][W] / [1][C][H][W].
  if (doc.length === 0 || !doc.some((v) => Array.isArray(v) || (typeof v === 'object' && v !== null)) || (dims && shape && (same(dims, shape) || (dims.length === 4 && dims[0] === 1 && same(dims.slice(1), shape))))) {
    return [jsonInput(doc, fileName, shape)];
  }
  checkCount(doc.length, fileName, n);
  return doc.map((v, s) => {
    try {
      return jsonInput(v, fileName, shape);
    } catch (e) {
      if (e instanceof DtdError) throw badInput(fileName, `input ${s}: ${e.message.replace(/^[^:]*: /, '')}`);
      throw e;
    }
  });
}

function csvInputRows(text: string, fileName: string, n: number): Float64Array[] {
  const rows = csvRows(text);
  if (rows.length === 0) throw badInput(fileName, 'is empty; expected rows of numbers.');
  const data = rows[0].some((c) => csvNumber(c) === undefined) ? rows.slice(1) : rows;
  if (data.length === 0) throw badInput(fileName, 'has a header row but no row of values.');
  // One value per line and exactly one input's worth of lines: a single input written as a column.
  if (n > 1 && data.every((r) => r.length === 1) && data.length === n) return [csvValues(data.map((r) => r[0]), fileName)];
  checkCount(data.length, fileName, n);
  return data.map((r, s) => {
    if (r.length !== n) throw badInput(fileName, `row ${s + 1} of values has ${r.length} values but the model expects ${n} (one input per row).`);
    return csvValues(r, fileName, `row ${s + 1}: `);
  });
}

// ---------- JSON ----------

function jsonNumber(v: unknown, fileName: string, where: string): number {
  if (typeof v === 'number') return v;
  // The fixtures' convention for values JSON cannot write; refused later as non-finite.
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  throw badInput(fileName, `${where} is ${preview(v)}, not a number.`);
}

/** Dimensions of a rectangular nested array; undefined when ragged. Leaves are not checked here. */
function nestedDims(v: unknown): number[] | undefined {
  if (!Array.isArray(v)) return [];
  if (v.length === 0) return [0];
  const inner = v.map(nestedDims);
  const first = inner[0];
  if (!first || !inner.every((d) => d !== undefined && d.length === first.length && d.every((x, i) => x === first[i]))) return undefined;
  return [v.length, ...first];
}

function parseJsonText(text: string, fileName: string): unknown {
  checkJsonShape(text, (p) => badInput(fileName, p));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badInput(fileName, `is not valid JSON (${errorText(e)}).`);
  }
}

function parseJsonInput(text: string, fileName: string, shape?: Shape3): Float64Array {
  return jsonInput(parseJsonText(text, fileName), fileName, shape);
}

/** One input from a parsed JSON value (a flat array, [[...]], [C][H][W], [1][C][H][W], {"x": ...}). */
function jsonInput(doc: unknown, fileName: string, shape?: Shape3): Float64Array {
  if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) {
    const obj = doc as Record<string, unknown>;
    let x: unknown = obj.x;
    if (x === undefined && typeof obj.input === 'object' && obj.input !== null) x = (obj.input as Record<string, unknown>).x;
    if (x === undefined) throw badInput(fileName, 'a JSON object input needs the values under "x" (e.g. {"x": [0.1, 0.2]}).');
    doc = x;
  }
  if (!Array.isArray(doc)) throw badInput(fileName, 'the input must be a JSON array of numbers.');
  const dims = nestedDims(doc);
  if (dims === undefined) throw badInput(fileName, 'is a ragged nested array (rows of different lengths).');
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  if (dims.length >= 3) {
    // Image-shaped: [C][H][W] or [1][C][H][W], flattened C-major (the IR's NCHW layout).
    if (!shape || !(same(dims, shape) || same(dims, [1, ...shape]))) {
      throw badInput(
        fileName,
        `is a nested array of shape [${dims.join(', ')}], but the model takes ${shape ? `[C, H, W] = [${shape.join(', ')}] (or [1, ${shape.join(', ')}], or a flat list)` : `a vector of values (a flat list or [[...]])`}.` +
          (shape && dims.length === 3 && same(dims, [shape[1], shape[2], shape[0]]) ? ' It looks channels-last [H][W][C]; DTD Lens reads images channels-first [C][H][W].' : ''),
      );
    }
    const out: number[] = [];
    const walk = (v: unknown, path: string) => {
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
      else out.push(jsonNumber(v, fileName, `value ${path}`));
    };
    walk(doc, '');
    return Float64Array.from(out);
  }
  let row: unknown[] = doc;
  if (row.length > 0 && Array.isArray(row[0])) {
    if (row.length !== 1) throw badInput(fileName, `holds a batch of ${row.length} inputs; DTD Lens explains one input at a time.`);
    row = row[0] as unknown[];
  }
  return Float64Array.from(row, (v, i) => jsonNumber(v, fileName, `value ${i}`));
}

// ---------- CSV ----------

/** Number, or NaN/±Infinity for their usual spellings, or undefined for a non-number (a header name). */
function csvNumber(cell: string): number | undefined {
  const s = cell.trim();
  if (/^[+-]?(nan|inf|infinity)$/i.test(s)) {
    if (/nan/i.test(s)) return Number.NaN;
    return s.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return undefined;
  return Number(s);
}

/** The rows of a CSV text (comma, semicolon or whitespace separated; blank lines and # comments dropped), cells unquoted. */
function csvRows(text: string): string[][] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const cells = line.split(line.includes(',') ? ',' : line.includes(';') ? ';' : /\s+/).map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
      while (cells.length > 1 && cells[cells.length - 1] === '') cells.pop(); // trailing comma
      return cells;
    });
}

function csvValues(cells: string[], fileName: string, where = ''): Float64Array {
  return Float64Array.from(cells, (c, i) => {
    const v = csvNumber(c);
    if (v === undefined) throw badInput(fileName, `${where}value ${i} (${quoteName(c)}) is not a number.`);
    return v;
  });
}

function parseCsvInput(text: string, fileName: string): Float64Array {
  const rows = csvRows(text);
  if (rows.length === 0) throw badInput(fileName, 'is empty; expected one row of numbers.');
  // A first row with any non-number is a header of names.
  const data = rows[0].some((c) => csvNumber(c) === undefined) ? rows.slice(1) : rows;
  if (data.length === 0) throw badInput(fileName, 'has a header row but no row of values.');
  let cells: string[];
  if (data.length === 1) cells = data[0];
  else if (data.every((r) => r.length === 1)) cells = data.map((r) => r[0]); // one value per line
  else throw badInput(fileName, `has ${data.length} rows of values; DTD Lens explains one input at a time (one row).`);
  return csvValues(cells, fileName);
}

// ---------- NPY ----------

interface NpyHeader {
  shape: number[];
  fortran: boolean;
  descr: string;
  littleEndian: boolean;
  /** Bytes per value: 4 (float32) or 8 (float64). */
  size: number;
  dataStart: number;
  view: DataView;
}

function npyFail(fileName: string, problem: string): DtdError {
  return badInput(fileName, `is not a readable .npy file: ${problem}`);
}

/** The .npy preamble and header: shape, dtype (float32/float64 only) and where the data starts. Nothing is allocated from the shape. */
function readNpyHeader(bytes: Uint8Array, fileName: string): NpyHeader {
  const fail = (problem: string) => npyFail(fileName, problem);
  if (bytes.length < 10) throw fail('the file ends inside its preamble.');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw fail('the file ends inside its preamble.');
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw fail(`format version ${major} is unknown (supported: 1, 2, 3).`);
  }
  if (headerStart + headerLen > bytes.length) throw fail(`the header claims ${headerLen} bytes but the file is shorter.`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw fail(`the header ${preview(header.trim())} lacks descr, fortran_order or shape.`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw fail(`the shape (${shapeText}) is not a tuple of sizes.`);
  const m = /^([<>|=])?f([48])$/.exec(descr);
  if (!m) throw fail(`dtype ${JSON.stringify(descr.slice(0, 40))} is not supported (use float32 '<f4' or float64 '<f8').`);
  return { shape, fortran: fortran === 'True', descr, littleEndian: m[1] !== '>', size: Number(m[2]), dataStart: headerStart + headerLen, view };
}

/** Decodes `count` values of the .npy data (after checking the file holds them). */
function readNpyData(h: NpyHeader, bytes: Uint8Array, fileName: string, count: number): Float64Array {
  const { shape, descr, size, dataStart, littleEndian, view } = h;
  if (bytes.length - dataStart < count * size) {
    throw npyFail(fileName, `the data holds ${bytes.length - dataStart} bytes but shape (${shape.join(', ')}) of ${descr} needs ${count * size} (truncated?).`);
  }
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = size === 4 ? view.getFloat32(dataStart + 4 * i, littleEndian) : view.getFloat64(dataStart + 8 * i, littleEndian);
  }
  return out;
}

function parseNpy(bytes: Uint8Array, fileName: string, expectedSize: number): Float64Array {
  const h = readNpyHeader(bytes, fileName);
  const { shape } = h;
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== expectedSize) {
    throw badInput(fileName, `the input has ${count} values but the model expects ${expectedSize} (the array's shape is (${shape.join(', ')})).`);
  }
  // Fortran order only matters when more than one axis is longer than 1.
  if (h.fortran && shape.filter((d) => d > 1).length > 1) throw npyFail(fileName, 'fortran_order arrays with several axes are not supported; save a 1-D array.');
  return readNpyData(h, bytes, fileName, count);
}
