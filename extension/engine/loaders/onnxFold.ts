// Constant folding for ONNX graphs: every node whose inputs are all constants
// (initializers, Constant nodes, results of folded nodes, and the Shape of a
// data tensor once its shape is known) is evaluated here, in float64 (integer
// tensors keep integer semantics: Div truncates, Cast rounds toward zero).
// Exporters write such subgraphs for shape arithmetic (x.view(x.size(0), -1):
// Shape → Gather → Unsqueeze → Concat → Reshape), for transposed weights
// (Transpose → MatMul), for Clip bounds (Constant → Cast) and more. Every
// output's size is checked against LIMITS before it is allocated.
// ONNX_FOLD_OPS is the one list of operators that can be folded.

import type { onnx } from 'onnx-proto';
import { type ConstTensor, DataType, attr, intAttr, intsAttr, isIntType, decodeTensor } from './onnxProto';
import { allocFloat64, checkDims } from '../budget';

export interface FoldContext {
  opset: number;
  fileName: string;
  /** An error for this node: "node 'n' (Op) <why>". */
  fail: (why: string) => Error;
  /** Checks dims against LIMITS (throws) and allocates their values. */
  alloc: (dims: number[]) => Float64Array;
}

/** Evaluates one node on constant inputs (missing optional inputs are undefined); returns one tensor per output. */
export type FoldFn = (n: onnx.INodeProto, inputs: (ConstTensor | undefined)[], ctx: FoldContext) => ConstTensor[];

export function foldContext(fileName: string, opset: number, fail: (why: string) => Error): FoldContext {
  return {
    opset,
    fileName,
    fail,
    alloc: (dims) => {
      const n = checkDims(dims, 'a folded constant', (p) => fail(`computes ${p}`));
      return allocFloat64(n, 'a folded constant', (p) => fail(`computes ${p}`));
    },
  };
}

const size = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

function need(t: ConstTensor | undefined, what: string, ctx: FoldContext): ConstTensor {
  if (!t) throw ctx.fail(`has no ${what}`);
  return t;
}

/** Integer list from a 1-D (or scalar) constant. */
function intList(t: ConstTensor, what: string, ctx: FoldContext): number[] {
  const out = Array.from(t.values);
  if (!out.every((v) => Number.isSafeInteger(v))) throw ctx.fail(`has a non-integer ${what} [${out.slice(0, 8).join(', ')}]`);
  return out;
}

function normAxis(axis: number, rank: number, ctx: FoldContext): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!(a >= 0 && a < rank)) throw ctx.fail(`has axis ${axis} for a tensor of rank ${rank}`);
  return a;
}

/** numpy broadcasting of two shapes, or null. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let k = 0; k < r; k++) {
    const x = a[a.length - r + k] ?? 1;
    const y = b[b.length - r + k] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Strides of `dims` read at the positions of `out` (0 along broadcast axes). */
function broadcastStrides(dims: readonly number[], out: readonly number[]): number[] {
  const strides = new Array<number>(out.length).fill(0);
  let s = 1;
  for (let k = dims.length - 1; k >= 0; k--) {
    const o = out.length - dims.length + k;
    strides[o] = dims[k] === 1 ? 0 : s;
    s *= dims[k];
  }
  return strides;
}

/** f applied elementwise with broadcasting. */
function elementwise(ts: ConstTensor[], f: (v: number[]) => number, int: boolean, ctx: FoldContext): ConstTensor {
  let dims: number[] = [];
  for (const t of ts) {
    const d = broadcastShapes(dims, t.dims);
    if (!d) throw ctx.fail(`cannot broadcast shapes ${ts.map((x) => `[${x.dims.join(', ')}]`).join(' and ')}`);
    dims = d;
  }
  const values = ctx.alloc(dims);
  const strides = ts.map((t) => broadcastStrides(t.dims, dims));
  const idx = new Array<number>(dims.length).fill(0);
  const off = ts.map(() => 0);
  const args = ts.map(() => 0);
  for (let k = 0; k < values.length; k++) {
    for (let j = 0; j < ts.length; j++) args[j] = ts[j].values[off[j]];
    values[k] = f(args);
    for (let a = dims.length - 1; a >= 0; a--) {
      idx[a]++;
      for (let j = 0; j < ts.length; j++) off[j] += strides[j][a];
      if (idx[a] < dims[a]) break;
      for (let j = 0; j < ts.length; j++) off[j] -= strides[j][a] * dims[a];
      idx[a] = 0;
    }
  }
  return int ? { dims, values, int } : { dims, values };
}

const allInt = (ts: ConstTensor[]) => ts.every((t) => t.int);

function binary(f: (a: number, b: number, int: boolean) => number): FoldFn {
  return (n, inputs, ctx) => {
    const ts = [need(inputs[0], 'first input', ctx), need(inputs[1], 'second input', ctx)];
    const int = allInt(ts);
    return [elementwise(ts, (v) => f(v[0], v[1], int), int, ctx)];
  };
}

function unary(f: (a: number) => number, keepInt = true): FoldFn {
  return (n, inputs, ctx) => {
    const t = need(inputs[0], 'input', ctx);
    return [elementwise([t], (v) => f(v[0]), keepInt && !!t.int, ctx)];
  };
}

function variadic(f: (v: number[]) => number): FoldFn {
  return (n, inputs, ctx) => {
    const ts = inputs.filter((t): t is ConstTensor => !!t);
    if (ts.length === 0) throw ctx.fail('has no inputs');
    return [elementwise(ts, f, allInt(ts), ctx)];
  };
}

function compare(f: (a: number, b: number) => boolean): FoldFn {
  return (n, inputs, ctx) => {
    const ts = [need(inputs[0], 'first input', ctx), need(inputs[1], 'second input', ctx)];
    return [elementwise(ts, (v) => (f(v[0], v[1]) ? 1 : 0), true, ctx)];
  };
}

const same = (t: ConstTensor, dims: number[], values = t.values): ConstTensor => (t.int ? { dims, values, int: true } : { dims, values });

/** Target shape of a Reshape (0 copies the input's dimension unless allowzero, −1 is inferred). */
export function reshapeTarget(inDims: readonly number[], shape: readonly number[], allowZero: boolean, fail: (why: string) => Error): number[] {
  const total = size(inDims);
  const out = shape.map((d, k) => (d === 0 && !allowZero ? inDims[k] : d));
  if (out.some((d) => d === undefined || !Number.isSafeInteger(d) || d < -1)) throw fail(`reshapes [${inDims.join(', ')}] to [${shape.join(', ')}]`);
  const minus = out.filter((d) => d === -1).length;
  if (minus > 1) throw fail(`reshapes to [${shape.join(', ')}] (more than one −1)`);
  const known = out.reduce((a, d) => (d === -1 ? a : a * d), 1);
  if (minus === 1) {
    if (known === 0 || total % known !== 0) throw fail(`reshapes [${inDims.join(', ')}] (${total} values) to [${shape.join(', ')}]`);
    out[out.indexOf(-1)] = total / known;
  }
  if (size(out) !== total) throw fail(`reshapes [${inDims.join(', ')}] (${total} values) to [${shape.join(', ')}]`);
  return out;
}

/** Axes of Squeeze/Unsqueeze/ReduceX: an attribute before opset 13, an input from 13 on. */
export function axesOf(n: onnx.INodeProto, inputs: (ConstTensor | undefined)[], ctx: { opset: number; fail: (why: string) => Error }): number[] | undefined {
  const fromAttr = intsAttr(n, 'axes');
  if (fromAttr) return fromAttr;
  const t = inputs[1];
  if (!t) return undefined;
  const out = Array.from(t.values);
  if (!out.every(Number.isSafeInteger)) throw ctx.fail('has non-integer axes');
  return out;
}

export function squeezeDims(dims: readonly number[], axes: number[] | undefined, fail: (why: string) => Error): number[] {
  if (!axes) return dims.filter((d) => d !== 1);
  const norm = new Set(axes.map((a) => (a < 0 ? a + dims.length : a)));
  for (const a of norm) if (!(a >= 0 && a < dims.length) || dims[a] !== 1) throw fail(`squeezes axis ${a} of a tensor of shape [${dims.join(', ')}]`);
  return dims.filter((_, k) => !norm.has(k));
}

export function unsqueezeDims(dims: readonly number[], axes: number[], fail: (why: string) => Error): number[] {
  const rank = dims.length + axes.length;
  const norm = axes.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
  if (norm.some((a, k) => a < 0 || a >= rank || norm[k + 1] === a)) throw fail(`unsqueezes axes [${axes.join(', ')}] of a tensor of rank ${dims.length}`);
  const out: number[] = [];
  let j = 0;
  for (let k = 0; k < rank; k++) out.push(norm.includes(k) ? 1 : dims[j++]);
  return out;
}

function transpose(t: ConstTensor, perm: number[], ctx: FoldContext): ConstTensor {
  const r = t.dims.length;
  if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => p < 0 || p >= r)) throw ctx.fail(`has perm [${perm.join(', ')}] for a tensor of rank ${r}`);
  const dims = perm.map((p) => t.dims[p]);
  const values = ctx.alloc(dims);
  const inStrides = new Array<number>(r);
  let s = 1;
  for (let k = r - 1; k >= 0; k--) {
    inStrides[k] = s;
    s *= t.dims[k];
  }
  const strides = perm.map((p) => inStrides[p]);
  const idx = new Array<number>(r).fill(0);
  let off = 0;
  for (let k = 0; k < values.length; k++) {
    values[k] = t.values[off];
    for (let a = r - 1; a >= 0; a--) {
      idx[a]++;
      off += strides[a];
      if (idx[a] < dims[a]) break;
      off -= strides[a] * dims[a];
      idx[a] = 0;
    }
  }
  return same(t, dims, values);
}

/** ONNX Slice bounds for one axis: [start, stop) clamped, with step. */
export function sliceRange(start: number, end: number, step: number, dim: number): number[] {
  const clampFor = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = clampFor(s, 0, dim);
    e = clampFor(e, 0, dim);
  } else {
    s = clampFor(s, -1, dim - 1);
    e = clampFor(e, -1, dim - 1);
  }
  const out: number[] = [];
  for (let k = s; step > 0 ? k < e : k > e; k += step) out.push(k);
  return out;
}

/** Slice's starts/ends/axes/steps: attributes before opset 10, inputs from 10 on. */
export function sliceArgs(n: onnx.INodeProto, inputs: (ConstTensor | undefined)[], ctx: { opset: number; fail: (why: string) => Error }): { starts: number[]; ends: number[]; axes: number[] | null; steps: number[] | null } {
  if (ctx.opset < 10 || attr(n, 'starts')) {
    return { starts: intsAttr(n, 'starts') ?? [], ends: intsAttr(n, 'ends') ?? [], axes: intsAttr(n, 'axes') ?? null, steps: null };
  }
  const list = (k: number): number[] | null => (inputs[k] ? Array.from(inputs[k]!.values) : null);
  return { starts: list(1) ?? [], ends: list(2) ?? [], axes: list(3), steps: list(4) };
}

function slice(n: onnx.INodeProto, inputs: (ConstTensor | undefined)[], ctx: FoldContext): ConstTensor {
  const t = need(inputs[0], 'data', ctx);
  const { starts, ends, axes, steps } = sliceArgs(n, inputs, ctx);
  const ax = (axes ?? starts.map((_, k) => k)).map((a) => normAxis(a, t.dims.length, ctx));
  if (starts.length !== ends.length || ax.length !== starts.length || (steps && steps.length !== starts.length)) throw ctx.fail('has starts, ends, axes and steps of different lengths');
  const ranges = t.dims.map((d) => Array.from({ length: d }, (_, k) => k));
  ax.forEach((a, k) => {
    const step = steps ? steps[k] : 1;
    if (!Number.isSafeInteger(step) || step === 0) throw ctx.fail(`has step ${step}`);
    ranges[a] = sliceRange(starts[k], ends[k], step, t.dims[a]);
  });
  return gatherRanges(t, ranges, ctx);
}

/** The sub-tensor of t at the index lists `ranges` (one per axis). */
function gatherRanges(t: ConstTensor, ranges: number[][], ctx: FoldContext): ConstTensor {
  const dims = ranges.map((r) => r.length);
  const values = ctx.alloc(dims);
  const r = dims.length;
  const inStrides = new Array<number>(r);
  let s = 1;
  for (let k = r - 1; k >= 0; k--) {
    inStrides[k] = s;
    s *= t.dims[k];
  }
  const idx = new Array<number>(r).fill(0);
  for (let k = 0; k < values.length; k++) {
    let off = 0;
    for (let a = 0; a < r; a++) off += ranges[a][idx[a]] * inStrides[a];
    values[k] = t.values[off];
    for (let a = r - 1; a >= 0; a--) {
      if (++idx[a] < dims[a]) break;
      idx[a] = 0;
    }
  }
  return same(t, dims, values);
}

function cast(n: onnx.INodeProto, inputs: (ConstTensor | undefined)[], ctx: FoldContext): ConstTensor[] {
  const t = need(inputs[0], 'input', ctx);
  const to = intAttr(n, 'to', DataType.FLOAT);
  switch (to) {
    case DataType.FLOAT:
      return [{ dims: t.dims, values: t.values.map(Math.fround) }];
    case DataType.DOUBLE:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return [{ dims: t.dims, values: t.values }];
    case DataType.BOOL:
      return [{ dims: t.dims, values: t.values.map((v) => (v !== 0 ? 1 : 0)), int: true }];
    default:
      if (!isIntType(to) || to === DataType.STRING || to === DataType.UNDEFINED) throw ctx.fail(`casts to type ${DataType[to] ?? to}`);
      return [{ dims: t.dims, values: t.values.map(Math.trunc), int: true }];
  }
}

function concat(n: onnx.INodeProto, inputs: (ConstTensor | undefined)[], ctx: FoldContext): ConstTensor[] {
  const ts = inputs.filter((t): t is ConstTensor => !!t);
  if (ts.length === 0) throw ctx.fail('has no inputs');
  const r = ts[0].dims.length;
  const axis = normAxis(intAttr(n, 'axis', 0), r, ctx);
  for (const t of ts) {
    if (t.dims.length !== r || t.dims.some((d, k) => k !== axis && d !== ts[0].dims[k])) throw ctx.fail(`concatenates shapes ${ts.map((x) => `[${x.dims.join(', ')}]`).join(', ')}`);
  }
  const dims = [...ts[0].dims];
  dims[axis] = ts.reduce((a, t) => a + t.dims[axis], 0);
  const values = ctx.alloc(dims);
  const outer = size(dims.slice(0, axis));
  let o = 0;
  for (let k = 0; k < outer; k++) {
    for (const t of ts) {
      const block = size(t.dims.slice(axis));
      values.set(t.values.subarray(k * block, (k + 1) * block), o);
      o += block;
    }
  }
  return [allInt(ts) ? { dims, values, int: true } : { dims, values }];
}

function gather(n: onnx.INodeProto, inputs: (ConstTensor | undefined)[], ctx: FoldContext): ConstTensor[] {
  const t = need(inputs[0], 'data', ctx);
  const ind = need(inputs[1], 'indices', ctx);
  if (t.dims.length === 0) throw ctx.fail('gathers from a scalar');
  const axis = normAxis(intAttr(n, 'axis', 0), t.dims.length, ctx);
  const dims = [...t.dims.slice(0, axis), ...ind.dims, ...t.dims.slice(axis + 1)];
  const values = ctx.alloc(dims);
  const outer = size(t.dims.slice(0, axis));
  const inner = size(t.dims.slice(axis + 1));
  const D = t.dims[axis];
  let o = 0;
  for (let k = 0; k < outer; k++) {
    for (const raw of ind.values) {
      const j = raw < 0 ? raw + D : raw;
      if (!Number.isSafeInteger(j) || j < 0 || j >= D) throw ctx.fail(`gathers index ${raw} of an axis of size ${D}`);
      values.set(t.values.subarray((k * D + j) * inner, (k * D + j + 1) * inner), o);
      o += inner;
    }
  }
  return [same(t, dims, values)];
}

function range(n: onnx.INodeProto, inputs: (ConstTensor | undefined)[], ctx: FoldContext): ConstTensor[] {
  const [start, limit, delta] = [0, 1, 2].map((k) => need(inputs[k], ['start', 'limit', 'delta'][k], ctx).values[0]);
  if (!(delta !== 0 && Number.isFinite(start) && Number.isFinite(limit) && Number.isFinite(delta))) throw ctx.fail(`has start ${start}, limit ${limit}, delta ${delta}`);
  const count = Math.max(Math.ceil((limit - start) / delta), 0);
  const values = ctx.alloc([count]);
  for (let k = 0; k < count; k++) values[k] = start + k * delta;
  return [{ dims: [count], values, ...(inputs[0]!.int ? { int: true } : {}) }];
}

function constantOfShape(n: onnx.INodeProto, inputs: (ConstTensor | undefined)[], ctx: FoldContext): ConstTensor[] {
  const dims = intList(need(inputs[0], 'shape', ctx), 'shape', ctx);
  const a = attr(n, 'value');
  const v = a?.t ? decodeTensor(a.t, 'ConstantOfShape value', ctx.fileName) : { dims: [1], values: Float64Array.of(0) };
  const values = ctx.alloc(dims);
  values.fill(v.values[0] ?? 0);
  return [v.int || !a?.t ? { dims, values, ...(v.int ? { int: true } : {}) } : { dims, values }];
}

function expand(n: onnx.INodeProto, inputs: (ConstTensor | undefined)[], ctx: FoldContext): ConstTensor[] {
  const t = need(inputs[0], 'input', ctx);
  const shape = intList(need(inputs[1], 'shape', ctx), 'shape', ctx);
  const dims = broadcastShapes(t.dims, shape);
  if (!dims) throw ctx.fail(`expands [${t.dims.join(', ')}] to [${shape.join(', ')}]`);
  return [expandTo(t, dims, ctx)];
}

function expandTo(t: ConstTensor, dims: number[], ctx: FoldContext): ConstTensor {
  const values = ctx.alloc(dims);
  const strides = broadcastStrides(t.dims, dims);
  const idx = new Array<number>(dims.length).fill(0);
  let off = 0;
  for (let k = 0; k < values.length; k++) {
    values[k] = t.values[off];
    for (let a = dims.length - 1; a >= 0; a--) {
      idx[a]++;
      off += strides[a];
      if (idx[a] < dims[a]) break;
      off -= strides[a] * dims[a];
      idx[a] = 0;
    }
  }
  return same(t, dims, values);
}

function shapeOf(dims: readonly number[], n: onnx.INodeProto): ConstTensor {
  const r = dims.length;
  const norm = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = norm(intAttr(n, 'start', 0));
  const end = attr(n, 'end') ? norm(intAttr(n, 'end', r)) : r;
  const out = dims.slice(start, Math.max(start, end));
  return { dims: [out.length], values: Float64Array.from(out), int: true };
}

/** Shape (and Size) of a tensor whose shape is known: used for data tensors too. */
export function foldShape(n: onnx.INodeProto, dims: readonly number[]): ConstTensor {
  if (n.opType === 'Size') return { dims: [], values: Float64Array.of(size(dims)), int: true };
  return shapeOf(dims, n);
}

/** Every operator that can be folded when its inputs are constants, with its evaluator. */
export const ONNX_FOLD_OPS: Record<string, FoldFn> = {
  Identity: (n, inputs, ctx) => [need(inputs[0], 'input', ctx)],
  Dropout: (n, inputs, ctx) => [need(inputs[0], 'input', ctx)],
  Cast: cast,
  Shape: (n, inputs, ctx) => [foldShape(n, need(inputs[0], 'input', ctx).dims)],
  Size: (n, inputs, ctx) => [foldShape(n, need(inputs[0], 'input', ctx).dims)],
  Reshape: (n, inputs, ctx) => {
    const t = need(inputs[0], 'data', ctx);
    const dims = reshapeTarget(t.dims, intList(need(inputs[1], 'shape', ctx), 'shape', ctx), intAttr(n, 'allowzero', 0) !== 0, ctx.fail);
    return [same(t, dims)];
  },
  Flatten: (n, inputs, ctx) => {
    const t = need(inputs[0], 'input', ctx);
    const axis = intAttr(n, 'axis', 1);
    const a = axis < 0 ? axis + t.dims.length : axis;
    if (a < 0 || a > t.dims.length) throw ctx.fail(`flattens at axis ${axis}`);
    return [same(t, [size(t.dims.slice(0, a)), size(t.dims.slice(a))])];
  },
  Squeeze: (n, inputs, ctx) => {
    const t = need(inputs[0], 'input', ctx);
    return [same(t, squeezeDims(t.dims, axesOf(n, inputs, ctx), ctx.fail))];
  },
  Unsqueeze: (n, inputs, ctx) => {
    const t = need(inputs[0], 'input', ctx);
    const axes = axesOf(n, inputs, ctx);
    if (!axes) throw ctx.fail('has no axes');
    return [same(t, unsqueezeDims(t.dims, axes, ctx.fail))];
  },
  Transpose: (n, inputs, ctx) => {
    const t = need(inputs[0], 'input', ctx);
    const perm = intsAttr(n, 'perm') ?? t.dims.map((_, k) => t.dims.length - 1 - k);
    return [transpose(t, perm, ctx)];
  },
  Concat: concat,
  Gather: gather,
  Slice: (n, inputs, ctx) => [slice(n, inputs, ctx)],
  ConstantOfShape: constantOfShape,
  Range: range,
  Expand: expand,
  Add: binary((a, b) => a + b),
  Sub: binary((a, b) => a - b),
  Mul: binary((a, b) => a * b),
  Div: binary((a, b, int) => (int ? Math.trunc(a / b) : a / b)),
  Pow: binary((a, b) => a ** b),
  Mod: binary((a, b) => a - b * Math.floor(a / b)),
  Min: variadic((v) => Math.min(...v)),
  Max: variadic((v) => Math.max(...v)),
  Sum: variadic((v) => v.reduce((a, b) => a + b, 0)),
  Neg: unary((a) => -a),
  Abs: unary(Math.abs),
  Sqrt: unary(Math.sqrt, false),
  Reciprocal: unary((a) => 1 / a, false),
  Floor: unary(Math.floor),
  Ceil: unary(Math.ceil),
  Equal: compare((a, b) => a === b),
  Less: compare((a, b) => a < b),
  Greater: compare((a, b) => a > b),
  Not: unary((a) => (a ? 0 : 1)),
  Where: (n, inputs, ctx) => {
    const ts = [0, 1, 2].map((k) => need(inputs[k], ['condition', 'X', 'Y'][k], ctx));
    return [elementwise(ts, (v) => (v[0] ? v[1] : v[2]), allInt(ts.slice(1)), ctx)];
  },
};

export const FOLDABLE_ONNX_OPS: readonly string[] = Object.keys(ONNX_FOLD_OPS);

export function foldOp(opType: string): FoldFn | undefined {
  return Object.hasOwn(ONNX_FOLD_OPS, opType) ? ONNX_FOLD_OPS[opType] : undefined;
}
