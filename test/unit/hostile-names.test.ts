// Names from a model file reach error messages as data, never markup: a layer
// or node named like a VS Code command link, with control characters, or a
// refusal listing thousands of keys gives a message with no link, no control
// character and a bounded length (protocol/text.ts, used by every loader).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { onnx } from 'onnx-proto';
import { loadModel } from '../../extension/engine/loaders/index';
import { isDtdError } from '../../extension/engine/errors';
import { LIMITS } from '../../extension/protocol';

/** VS Code's notification link syntax (vs/base/common/linkedText.ts). */
const VSCODE_LINK = /\[([^\]]+)\]\(((?:https?:\/\/|command:|file:)[^\)\s]+)(?: (["'])(.+?)(\3))?\)/i;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const LINK = '[click](command:workbench.action.quit)';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(isDtdError(e), `a DtdError, not ${String(e)}`);
    return e.message;
  }
  assert.fail('expected an error');
}

function assertInert(message: string): void {
  assert.ok(!VSCODE_LINK.test(message), `a link in: ${message}`);
  assert.ok(!CONTROL.test(message), `a control character in: ${JSON.stringify(message)}`);
  assert.ok(message.length <= LIMITS.messageChars, `${message.length} chars`);
}

test('a JSON network whose layer name is a command link: the error quotes it inertly', () => {
  const doc = { input_size: 2, layers: [{ name: LINK, in_features: 2, out_features: 1, weight: [[1, 2, 3]], bias: [0] }] };
  const m = messageOf(() => loadModel(new TextEncoder().encode(JSON.stringify(doc)), 'net.json'));
  assertInert(m);
  assert.match(m, /^net\.json: layer '［click］（command:workbench\.action\.quit）'/);
});

test('an ONNX node named like a link with an unsupported op_type named like a link', () => {
  const DT = onnx.TensorProto.DataType;
  const bytes = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 13 }],
    graph: {
      name: 'g',
      node: [{ name: LINK, opType: '[x](command:workbench.action.terminal.new)\u001b[31m', input: ['x'], output: ['y'] }],
      input: [{ name: 'x', type: { tensorType: { elemType: DT.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 2 }] } } } }],
      output: [{ name: 'y', type: { tensorType: { elemType: DT.FLOAT } } }],
    },
  }).finish();
  const m = messageOf(() => loadModel(bytes, 'evil.onnx'));
  assertInert(m);
  assert.match(m, /^evil\.onnx: /);
  assert.match(m, /［click］（command:workbench\.action\.quit）/);
});

test('names with newlines, ANSI escapes and bidi overrides become visible escapes', () => {
  const name = 'fc\n2024-01-01 [error] forged\u001b[2K\u202eevil';
  const doc = { input_size: 2, layers: [{ name, in_features: 2, out_features: 1, weight: [[1, 2, 3]], bias: [0] }] };
  const m = messageOf(() => loadModel(new TextEncoder().encode(JSON.stringify(doc)), 'net.json'));
  assertInert(m);
  assert.match(m, /'fc\\u000a2024-01-01 ［error］ forged\\u001b［2K\\u202eevil'/);
});

test('a very long name is capped', () => {
  const doc = { input_size: 2, layers: [{ name: 'n'.repeat(100_000), in_features: 2, out_features: 1, weight: [[1, 2, 3]], bias: [0] }] };
  const m = messageOf(() => loadModel(new TextEncoder().encode(JSON.stringify(doc)), 'net.json'));
  assertInert(m);
  assert.ok(m.length < 300, `${m.length} chars`);
  assert.match(m, /n…'/);
});

function safetensors(tensors: Record<string, { dtype: string; shape: number[] }>): Uint8Array {
  let offset = 0;
  const header: Record<string, unknown> = {};
  for (const [key, t] of Object.entries(tensors)) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * 4;
    header[key] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  return out;
}

test('a safetensors refusal over 10 000 keys lists five and counts the rest', () => {
  const tensors: Record<string, { dtype: string; shape: number[] }> = {};
  for (let i = 0; i < 10_000; i++) tensors[`model.layers.${i}.[x](command:workbench.action.quit).conv.weight`] = { dtype: 'F32', shape: [1, 1, 1, 1] };
  const m = messageOf(() => loadModel(safetensors(tensors), 'big.safetensors'));
  assertInert(m);
  assert.match(m, /and 9995 more\. For convolutional networks, describe the layers in a sidecar/);
});

test('a safetensors key that is a link, in a shape error', () => {
  const bytes = safetensors({ [LINK]: { dtype: 'F32', shape: [2, 2] } });
  const broken = bytes.slice(0, bytes.length - 4); // its data is cut short
  const m = messageOf(() => loadModel(broken, 'cut.safetensors'));
  assertInert(m);
  assert.match(m, /'［click］（command:workbench\.action\.quit）'/);
});

test('a file name that is a link is escaped where the loaders name it', () => {
  const m = messageOf(() => loadModel(new TextEncoder().encode('{'), '/tmp/[x](command:workbench.action.quit).json'));
  assertInert(m);
  assert.match(m, /^［x］（command:workbench\.action\.quit）\.json: /);
});
