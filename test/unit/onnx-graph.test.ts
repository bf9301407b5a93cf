// Hand-built ONNX graphs for what the real exporter files do not show on their own:
// constant folding (ConstantOfShape, Gather, Slice, Concat, Cast, integer Div, Where,
// Transpose of a weight) and its size checks before allocating, a pre-activation read
// by two nodes (no fusing), a BatchNorm whose conv output is also read elsewhere (an
// affine layer, not folded), Sigmoid inside vs at the end, Clip's bounds, and the
// refusals (grouped operators, short message; Transposes that would permute data).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onnx } from 'onnx-proto';
import { loadModel } from '../../extension/engine/loaders/index';
import { outputs } from '../../extension/engine/forward';
import { isDtdError } from '../../extension/engine/errors';

const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;
const ints = (name: string, v: number[]): onnx.IAttributeProto => ({ name, type: AT.INTS, ints: v });
const int = (name: string, v: number): onnx.IAttributeProto => ({ name, type: AT.INT, i: v });
const tensor = (name: string, dims: number[], values: number[]): onnx.ITensorProto => ({ name, dims, dataType: DT.FLOAT, floatData: values });
const i64 = (name: string, dims: number[], values: number[]): onnx.ITensorProto => ({ name, dims, dataType: DT.INT64, int64Data: values });
const node = (name: string, opType: string, input: string[], output: string[], attribute: onnx.IAttributeProto[] = []): onnx.INodeProto => ({ name, opType, input, output, attribute });

function model(nodes: onnx.INodeProto[], inits: onnx.ITensorProto[], inDims: (number | string)[], opset = 13): Uint8Array {
  const dim = inDims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'g', node: nodes, initializer: inits,
      input: [{ name: 'x', type: { tensorType: { elemType: DT.FLOAT, shape: { dim } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: DT.FLOAT } } }],
    },
  }).finish();
}

const refused = (bytes: Uint8Array, file: string, code: 'unsupported' | 'bad-model', ...fragments: string[]): string => {
  let message = '';
  assert.throws(() => loadModel(bytes, file), (e: unknown) => {
    assert.ok(isDtdError(e), String(e));
    message = e.message;
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `${e.message}\nlacks: ${f}`);
    return true;
  });
  return message;
};

test('ONNX folding: shape arithmetic on a data tensor, ConstantOfShape/Gather/Slice/Concat/Cast/integer Div/Where, and a transposed weight', () => {
  // y = x.view(batch, C·H·W // 1) @ Wᵀ-through-Transpose: the target shape [1, 8] comes from
  // Shape → Gather(0) / Slice(1:) → ReduceProd-free arithmetic: Mul of gathered dims, Div by 1 (int), Where on Equal.
  const nodes = [
    node('shape', 'Shape', ['x'], ['s']), // [1, 2, 2, 2]
    node('g0', 'Gather', ['s', 'zero'], ['b'], [int('axis', 0)]), // 1 (scalar)
    node('rest', 'Slice', ['s', 'one1', 'big', 'zero1'], ['r']), // [2, 2, 2]
    node('g1', 'Gather', ['r', 'idx'], ['r3']), // [2, 2, 2]
    node('m1', 'Mul', ['r3', 'r3'], ['sq']), // [4, 4, 4] (int)
    node('cast', 'Cast', ['sq'], ['sqf'], [int('to', DT.FLOAT)]),
    node('cast2', 'Cast', ['sqf'], ['sqi'], [int('to', DT.INT64)]),
    node('div', 'Div', ['sqi', 'two'], ['half']), // [2, 2, 2]
    node('gf', 'Gather', ['half', 'zero'], ['h0']),
    node('mul', 'Mul', ['h0', 'four'], ['feat']), // 8
    node('cs', 'ConstantOfShape', ['one1'], ['ones'], [{ name: 'value', type: AT.TENSOR, t: i64('', [1], [1]) }]),
    node('eq', 'Equal', ['ones', 'ones'], ['t']),
    node('where', 'Where', ['t', 'minus1', 'ones'], ['m']), // [-1]
    node('u0', 'Unsqueeze', ['b', 'zero1'], ['b1']),
    node('u1', 'Unsqueeze', ['feat', 'zero1'], ['f1']),
    node('cat', 'Concat', ['b1', 'f1'], ['target'], [int('axis', 0)]), // [1, 8]
    node('cat2', 'Concat', ['b1', 'm'], ['target2'], [int('axis', 0)]), // [1, -1]
    node('rs', 'Reshape', ['x', 'target'], ['flat']),
    node('rs2', 'Reshape', ['flat', 'target2'], ['flat2']),
    node('wt', 'Transpose', ['W'], ['Wt'], [ints('perm', [1, 0])]),
    node('mm', 'MatMul', ['flat2', 'Wt'], ['y']),
  ];
  const inits = [
    i64('zero', [], [0]), i64('zero1', [1], [0]), i64('one1', [1], [1]), i64('big', [1], [1000]), i64('idx', [3], [0, 1, 2]),
    i64('two', [], [2]), i64('four', [], [4]), i64('minus1', [1], [-1]),
    tensor('W', [3, 8], Array.from({ length: 24 }, (_, k) => (k % 5) - 2)),
  ];
  const net = loadModel(model(nodes, inits, ['batch', 2, 2, 2]), 'fold.onnx');
  assert.deepEqual(net.layers.map((l) => [l.kind, l.inFeatures, l.outFeatures]), [['dense', 8, 3]]);
  const x = [1, 2, 3, 4, 5, 6, 7, 8];
  const want = [0, 1, 2].map((o) => x.reduce((a, v, k) => a + v * ((o * 8 + k) % 5 - 2), 0));
  assert.deepEqual(Array.from(outputs(net, x)), want);
  const note = net.notes.find((n) => /^18 constant nodes \(.*\) folded into constants: computed once in float64, with the batch dimension taken as 1\.$/.test(n));
  assert.ok(note, net.notes.join('\n'));
  const counted = note.slice(note.indexOf('(') + 1, note.indexOf(')')).split(', ').sort();
  assert.deepEqual(counted, ['Cast ×2', 'Concat ×2', 'ConstantOfShape', 'Div', 'Equal', 'Gather ×3', 'Mul ×2', 'Shape', 'Slice', 'Transpose', 'Unsqueeze ×2', 'Where']);
});

test('ONNX folding: a folded constant too large for LIMITS is refused before it is allocated', () => {
  const huge = model([node('cs', 'ConstantOfShape', ['shape'], ['big']), node('add', 'Add', ['x', 'big'], ['y'])], [i64('shape', [2], [100000, 100000])], ['batch', 4]);
  refused(huge, 'huge.onnx', 'unsupported', "node 'cs' (ConstantOfShape) computes", 'refused before allocating');
  const expand = model([node('ex', 'Expand', ['one', 'shape'], ['big']), node('add', 'Add', ['x', 'big'], ['y'])], [tensor('one', [1], [1]), i64('shape', [3], [4000, 4000, 4000])], ['batch', 4]);
  refused(expand, 'expand.onnx', 'unsupported', "node 'ex' (Expand) computes", 'refused before allocating');
});

test('ONNX: a pre-activation read by two nodes keeps the activation in a layer of its own; a BatchNorm of a shared conv output is an affine layer', () => {
  // y = relu(c) + c with c = conv(x); then BN of c2 = conv2(y) that Shape and a second branch also read.
  const nodes = [
    node('conv', 'Conv', ['x', 'K'], ['c']),
    node('relu', 'Relu', ['c'], ['r']),
    node('add', 'Add', ['r', 'c'], ['s']),
    node('conv2', 'Conv', ['s', 'K'], ['c2']),
    node('bn', 'BatchNormalization', ['c2', 'g', 'b', 'm', 'v'], ['n']),
    node('shape', 'Shape', ['c2'], ['unused']),
    node('add2', 'Add', ['n', 'c2'], ['s2']),
    node('fl', 'Flatten', ['s2'], ['y']),
  ];
  const inits = [tensor('K', [1, 1, 1, 1], [-2]), tensor('g', [1], [3]), tensor('b', [1], [0.5]), tensor('m', [1], [0]), tensor('v', [1], [1])];
  const net = loadModel(model(nodes, inits, [1, 1, 1, 2]), 'shared.onnx');
  assert.deepEqual(net.layers.map((l) => `${l.kind}:${l.activation}:${l.inputs ?? ''}`), ['conv2d:linear:', 'affine:relu:', 'add:linear:2,1', 'conv2d:linear:', 'affine:linear:', 'add:linear:5,4']);
  assert.ok(net.notes.some((n) => n.startsWith("BatchNormalization 'bn' follows no convolution or dense layer it could fold into")));
  // x = [1, −1]: c = [−2, 2], s = [−2, 4], c2 = [4, −8], n = 3·c2/√(1+1e-5) + 0.5, y = n + c2.
  const bn = (z: number) => (3 * z) / Math.sqrt(1 + 1e-5) + 0.5;
  const y = outputs(net, [1, -1]);
  [4 + bn(4), -8 + bn(-8)].forEach((w, k) => assert.ok(Math.abs(y[k] - w) < 1e-12, `${y[k]} vs ${w}`));
});

test('ONNX: Sigmoid inside the network is an activation; at the end (behind an Identity) it is removed with a note; Clip bounds', () => {
  const W = tensor('W', [2, 2], [1, -1, 2, 0.5]);
  const inner = model([node('g1', 'Gemm', ['x', 'W'], ['h'], [int('transB', 1)]), node('sig', 'Sigmoid', ['h'], ['s']), node('g2', 'Gemm', ['s', 'W'], ['y'], [int('transB', 1)])], [W], ['batch', 2]);
  assert.deepEqual(loadModel(inner, 'in.onnx').layers.map((l) => l.activation), ['sigmoid', 'linear']);
  const last = model([node('g1', 'Gemm', ['x', 'W'], ['h'], [int('transB', 1)]), node('sig', 'Sigmoid', ['h'], ['s']), node('id', 'Identity', ['s'], ['y'])], [W], ['batch', 2]);
  const net = loadModel(last, 'last.onnx');
  assert.deepEqual(net.layers.map((l) => l.activation), ['linear']);
  assert.deepEqual(net.notes, ["Sigmoid 'sig' at the output removed: DTD Lens explains the logit before it, not the probability."]);
  const clip = (bounds: string[], inits: onnx.ITensorProto[]) => model([node('g1', 'Gemm', ['x', 'W'], ['h'], [int('transB', 1)]), node('clip', 'Clip', ['h', ...bounds], ['y'])], [W, ...inits], ['batch', 2]);
  const relu = loadModel(clip(['lo'], [tensor('lo', [], [0])]), 'relu.onnx').layers[0];
  assert.equal(relu.activation, 'relu');
  refused(clip(['', 'hi'], [tensor('hi', [], [6])]), 'hi.onnx', 'unsupported', "node 'clip' (Clip) clips to [-Infinity, 6]");
});

test('ONNX refusals: repeated operators are grouped and the message stays short; a Transpose that permutes data and a Concat on another axis name themselves', () => {
  const erfs = Array.from({ length: 12 }, (_, k) => node(`erf${k}`, 'Erf', [k ? `e${k - 1}` : 'h'], [k === 11 ? 'y' : `e${k}`]));
  const bytes = model([node('g1', 'Gemm', ['x', 'W'], ['h'], [int('transB', 1)]), ...erfs], [tensor('W', [2, 2], [1, 0, 0, 1])], ['batch', 2]);
  const message = refused(bytes, 'erf.onnx', 'unsupported', "erf.onnx: operator Erf ×12 (nodes 'erf0', 'erf1', …), which DTD Lens does not support yet (supported: Conv, ");
  // The supported list is about 350 characters; the offenders add at most four short entries.
  assert.ok(message.length < 450, `${message.length} characters`);
  const perm = model([node('t', 'Transpose', ['x'], ['p'], [ints('perm', [0, 2, 3, 1])]), node('f', 'Flatten', ['p'], ['y'])], [], [1, 2, 3, 3]);
  refused(perm, 'perm.onnx', 'unsupported', "node 't' (Transpose) transposes data of shape [1, 2, 3, 3] with perm [0, 2, 3, 1]");
  const cat = model([node('conv', 'Conv', ['x', 'K'], ['c']), node('cat', 'Concat', ['c', 'c'], ['y'], [int('axis', 2)])], [tensor('K', [1, 1, 1, 1], [1])], [1, 1, 2, 2]);
  refused(cat, 'cat.onnx', 'unsupported', "node 'cat' (Concat) concatenates along axis 2");
  const scale = model([node('conv', 'Conv', ['x', 'K'], ['c']), node('mul', 'Mul', ['c', 'S'], ['m']), node('f', 'Flatten', ['m'], ['y'])], [tensor('K', [1, 1, 1, 1], [1]), tensor('S', [1, 1, 2, 2], [1, 2, 3, 4])], [1, 1, 2, 2]);
  refused(scale, 'scale.onnx', 'unsupported', "node 'mul' (Mul) combines data of shape [1, 1, 2, 2] with a constant of shape [1, 1, 2, 2]");
});

test('ONNX: a per-channel Mul and Add after a Conv fold into its weights and bias; Sub of a constant from data is a shift', () => {
  const nodes = [
    node('conv', 'Conv', ['x', 'K', 'B'], ['c']),
    node('mul', 'Mul', ['c', 'S'], ['m']),
    node('add', 'Add', ['T', 'm'], ['a']),
    node('sub', 'Sub', ['a', 'U'], ['s']),
    node('f', 'Flatten', ['s'], ['y']),
  ];
  const inits = [tensor('K', [2, 1, 1, 1], [1, 2]), tensor('B', [2], [0.5, -1]), tensor('S', [2, 1, 1], [3, -2]), tensor('T', [1, 2, 1, 1], [10, 20]), tensor('U', [1], [1])];
  const net = loadModel(model(nodes, inits, [1, 1, 1, 1]), 'affine.onnx');
  assert.equal(net.layers.length, 1);
  const conv = net.layers[0];
  assert.ok(conv.kind === 'conv2d');
  assert.deepEqual([Array.from(conv.weight), Array.from(conv.bias)], [[3, -4], [0.5 * 3 + 10 - 1, -1 * -2 + 20 - 1]]);
});
