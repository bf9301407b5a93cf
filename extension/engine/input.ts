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
import { quoteName } from '../protocol';

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

function parseJsonInput(text: string, fileName: string, shape?: Shape3): Float64Array {
  let doc: unknown;
  checkJsonShape(text, (p) => badInput(fileName, p));
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw badInput(fileName, `is not valid JSON (${errorText(e)}).`);
  }
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

function parseCsvInput(text: string, fileName: string): Float64Array {
  const rows = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const cells = line.split(line.includes(',') ? ',' : line.includes(';') ? ';' : /\s+/).map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
      while (cells.length > 1 && cells[cells.length - 1] === '') cells.pop(); // trailing comma
      return cells;
    });
  if (rows.length === 0) throw badInput(fileName, 'is empty; expected one row of numbers.');
  // A first row with any non-number is a header of names.
  const data = rows[0].some((c) => csvNumber(c) === undefined) ? rows.slice(1) : rows;
  if (data.length === 0) throw badInput(fileName, 'has a header row but no row of values.');
  let cells: string[];
  if (data.length === 1) cells = data[0];
  else if (data.every((r) => r.length === 1)) cells = data.map((r) => r[0]); // one value per line
  else throw badInput(fileName, `has ${data.length} rows of values; DTD Lens explains one input at a time (one row).`);
  return Float64Array.from(cells, (c, i) => {
    const v = csvNumber(c);
    if (v === undefined) throw badInput(fileName, `value ${i} (${quoteName(c)}) is not a number.`);
    return v;
  });
}

// ---------- NPY ----------

function parseNpy(bytes: Uint8Array, fileName: string, expectedSize: number): Float64Array {
  const fail = (problem: string) => badInput(fileName, `is not a readable .npy file: ${problem}`);
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
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== expectedSize) {
    throw badInput(fileName, `the input has ${count} values but the model expects ${expectedSize} (the array's shape is (${shape.join(', ')})).`);
  }
  // Fortran order only matters when more than one axis is longer than 1.
  if (fortran === 'True' && shape.filter((d) => d > 1).length > 1) throw fail('fortran_order arrays with several axes are not supported; save a 1-D array.');
  const m = /^([<>|=])?f([48])$/.exec(descr);
  if (!m) throw fail(`dtype ${JSON.stringify(descr.slice(0, 40))} is not supported (use float32 '<f4' or float64 '<f8').`);
  const littleEndian = m[1] !== '>';
  const size = Number(m[2]);
  const dataStart = headerStart + headerLen;
  if (bytes.length - dataStart < count * size) {
    throw fail(`the data holds ${bytes.length - dataStart} bytes but shape (${shape.join(', ')}) of ${descr} needs ${count * size} (truncated?).`);
  }
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = size === 4 ? view.getFloat32(dataStart + 4 * i, littleEndian) : view.getFloat64(dataStart + 8 * i, littleEndian);
  }
  return out;
}
