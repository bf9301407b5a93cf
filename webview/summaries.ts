// Layers too large to carry inline arrive summarized (extension/protocol/pages.ts:
// per-channel sums and a downsampled map of block sums); the views draw them from
// their maps: each block of factor×factor positions stands for its units, with
// the block's summed relevance (so layer sums stay exact) and its mean activation.
// Flows of those layers already come between blocks. The full values are pages.

import type { ExplainResult, TensorSummary } from '../extension/protocol';

/** Units behind each block of a summary's map. */
function blockCounts(s: TensorSummary): number[] {
  const [C, h, w] = s.map.shape;
  const [, H, W] = s.shape.length === 3 ? s.shape : [1, 1, s.size];
  const f = s.map.factor;
  const out = new Array<number>(C * h * w);
  for (let c = 0; c < C; c++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) out[(c * h + y) * w + x] = Math.max(1, Math.min(f, H - y * f) * Math.min(f, W - x * f));
  return out;
}

/** The result with every summarized layer replaced by its map (sums for relevance, means for activations); the same result when nothing is summarized. */
export function withStandIns(result: ExplainResult): ExplainResult {
  const tensors = result.paged?.tensors;
  if (!tensors || Object.keys(tensors).length === 0) return result;
  const sums = (key: string, v: number[]): number[] => {
    const s = tensors[key];
    return s && v.length === 0 ? [...s.map.values] : v;
  };
  const means = (key: string, v: number[]): number[] => {
    const s = tensors[key];
    if (!s || v.length !== 0) return v;
    const n = blockCounts(s);
    return s.map.values.map((x, i) => x / n[i]);
  };
  const b = result.baselines;
  return {
    ...result,
    activations: result.activations.map((a, l) => means(`activations:${l}`, a)),
    preActivations: result.preActivations.map((z, i) => means(`preActivations:${i}`, z)),
    relevance: result.relevance.map((r, l) => (r ? sums(`relevance:${l}`, r) : r)),
    ...(result.shapes ? { shapes: result.shapes.map((sh, l) => tensors[`activations:${l}`]?.map.shape ?? sh) } : {}),
    baselines: b
      ? {
          gradient: means('baseline:gradient', b.gradient),
          gradientTimesInput: sums('baseline:gradientTimesInput', b.gradientTimesInput),
          lrp: Object.fromEntries(Object.entries(b.lrp).map(([k, v]) => [k, { ...v, relevance: sums(`baseline:${k}`, v.relevance), ...(v.perLayer ? { perLayer: v.perLayer.map((p, l) => sums(`baseline:${k}:${l}`, p)) } : {}) }])),
        }
      : b,
  };
}
