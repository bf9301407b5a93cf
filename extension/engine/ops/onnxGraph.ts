// A small writer of ONNX models (onnx-proto's generated protobufjs classes):
// the graph the onnxruntime backend (ops/ort.ts) records is written out as a
// ModelProto and handed to the runtime as bytes. No Python, no files.
//
// Names are generated (t0, t1, …); inputs and outputs are float tensors of the
// model's element type with fixed shapes; constants are initializers.

import { onnx } from 'onnx-proto';

export type ElemType = 'float32' | 'float64';
type AttrValue = number | number[] | string | { float: number };

/** The opset the recorded graphs use: ScatterElements with reduction (16), ReduceSum's axes input (13). */
export const OPSET = 17;

const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

export class GraphWriter {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  readonly inputs: onnx.IValueInfoProto[] = [];
  readonly outputs: onnx.IValueInfoProto[] = [];
  private n = 0;
  private consts = new Map<string, string>();

  constructor(readonly elem: ElemType) {}

  private get dtype(): number {
    return this.elem === 'float64' ? DT.DOUBLE : DT.FLOAT;
  }

  fresh(): string {
    return `t${this.n++}`;
  }

  private valueInfo(name: string, dims: readonly number[], dtype = this.dtype): onnx.IValueInfoProto {
    return { name, type: { tensorType: { elemType: dtype, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
  }

  input(dims: readonly number[]): string {
    const name = `in${this.inputs.length}`;
    this.inputs.push(this.valueInfo(name, dims));
    return name;
  }

  output(name: string, dims: readonly number[]): void {
    this.outputs.push(this.valueInfo(name, dims));
  }

  /** Appends a node; returns its output names. */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, nOut = 1): string[] {
    const outs = Array.from({ length: nOut }, () => this.fresh());
    const attribute: onnx.IAttributeProto[] = Object.entries(attrs).map(([name, v]) => {
      if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
      if (Array.isArray(v)) return { name, type: AT.INTS, ints: v };
      if (typeof v === 'object') return { name, type: AT.FLOAT, f: v.float };
      return { name, type: AT.INT, i: v };
    });
    this.nodes.push({ opType: op, input: inputs, output: outs, attribute, name: `n${this.nodes.length}` });
    return outs;
  }

  /** One-output node. */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.node(op, inputs, attrs, 1)[0];
  }

  /** A constant of the model's element type (deduplicated by value). */
  constF(values: ArrayLike<number>, dims: readonly number[] = []): string {
    const key = `f${dims.join('x')}:${Array.from(values).join(',')}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.fresh();
      const arr = this.elem === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
      this.initializers.push({ name, dataType: this.dtype, dims: [...dims], rawData: new Uint8Array(arr.buffer) });
      this.consts.set(key, name);
    }
    return name;
  }

  /** An int64 constant (shapes, axes, indices). */
  constI64(values: ArrayLike<number>, dims: readonly number[] = [values.length]): string {
    const key = `i${dims.join('x')}:${Array.from(values).join(',')}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.fresh();
      const arr = BigInt64Array.from(Array.from(values), (v) => BigInt(v));
      this.initializers.push({ name, dataType: DT.INT64, dims: [...dims], rawData: new Uint8Array(arr.buffer) });
      this.consts.set(key, name);
    }
    return name;
  }

  reshape(x: string, dims: readonly number[]): string {
    return this.op('Reshape', [x, this.constI64(dims)]);
  }

  encode(): Uint8Array {
    const model: onnx.IModelProto = {
      irVersion: 8,
      producerName: 'dtd-lens',
      opsetImport: [{ domain: '', version: OPSET }],
      graph: { name: 'dtd', node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    };
    return onnx.ModelProto.encode(model).finish();
  }
}
