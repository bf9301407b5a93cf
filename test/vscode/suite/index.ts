// The in-host suite: runs inside the real VS Code extension host (code-server)
// through the smoke-test driver, against the workspace runTests.ts prepared
// (fixture models, an input file, a corrupt model). It drives the extension
// through its commands and its exported API, and asserts on what really
// happened: engine processes, results, what the webviews reported drawing,
// files written, notifications shown.

import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { DtdLensApi } from '../../../extension/extension';
import type { RunOutcome } from '../../../extension/commands/explain';
import { assertClose } from '../../helpers/fixtures';
import type { ModelSummary } from '../../../extension/protocol';
import { inspectorBodyHtml, inspectorPageHtml } from '../../../extension/modelInspectorHtml';
import { measurements, runAll, test } from './harness';

const EXTENSION_ID = 'dtd-lens.dtd-lens';
let api: DtdLensApi;
let ws: vscode.Uri;
const file = (rel: string) => vscode.Uri.joinPath(ws, rel);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A run on the notebook model with everything given, so no picker opens. */
function explainMlp3(extra: Partial<Parameters<DtdLensApi['explain']>[1]> = {}): Promise<RunOutcome> {
  return api.explain(file('mlp3_seed1_notebook.onnx'), {
    input: { kind: 'file', uri: file('inputs/mlp3_seed1_notebook.json') },
    explainedOutput: 0,
    useDefaults: true,
    ...extra,
  });
}

/** A full-backward Metropolis-Hastings run far too long to finish during a test. */
function longRun(): Promise<RunOutcome> {
  return explainMlp3({
    method: 'full-backward',
    rootFinder: 'metropolis-hastings',
    options: { metropolisHastings: { steps: 5_000_000, warmup: 100, chains: 4 }, maxCost: 1e15 },
  });
}

async function setSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration('dtdLens').update(key, value, vscode.ConfigurationTarget.Workspace);
}

/** The inspector page for `summary` of `uri`, with the CSP source and nonce taken from the page shown (so the two compare equal). */
function inspectorPageHtmlOf(shown: string, summary: ModelSummary, uri: vscode.Uri): string {
  const nonce = shown.match(/<script nonce="([^"]*)">/)?.[1] ?? '';
  const cspSource = shown.match(/img-src (.*?) data:/)?.[1] ?? '';
  return inspectorPageHtml(cspSource, nonce, uri.path.slice(uri.path.lastIndexOf('/') + 1), inspectorBodyHtml(summary));
}

const fixture = () => JSON.parse(readFileSync(file('inputs/mlp3_seed1_notebook.json').fsPath, 'utf8'));

test('activates and returns its API', async () => {
  const ext = vscode.extensions.getExtension<DtdLensApi>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is installed in the development host`);
  api = await ext.activate();
  assert.ok(ext.isActive);
  assert.equal(typeof api.explain, 'function');
  ws = vscode.workspace.workspaceFolders![0].uri;
  assert.ok(existsSync(file('mlp3_seed1_notebook.onnx').fsPath), 'the test workspace has the fixture model');
});

test('every contributed command is registered', async () => {
  const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
  const contributed = (ext.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
  assert.ok(contributed.length >= 8);
  for (const c of ['dtdLens.explainOutput', 'dtdLens.openVisualizer', 'dtdLens.rerunWithRule', 'dtdLens.compare', 'dtdLens.export', 'dtdLens.showLog']) {
    assert.ok(contributed.includes(c), `${c} is contributed`);
  }
  const registered = new Set(await vscode.commands.getCommands(true));
  const missing = contributed.filter((c) => !registered.has(c));
  assert.deepEqual(missing, [], 'contributed commands without a handler');
  // The views are contributed and resolvable.
  await vscode.commands.executeCommand('dtdLens.runs.focus');
  await vscode.commands.executeCommand('dtdLens.showLog');
});

test('end to end: .onnx + input file → train-free z+ relevance equals the fixture, and the panel draws it', async () => {
  const since = Date.now();
  const out = await explainMlp3({ rule: 'z+', method: 'train-free' });
  assert.equal(out.status, 'ok', JSON.stringify(out.error));
  const r = out.result!;
  const fx = fixture();
  assert.deepEqual(r.input, fx.input.x[0].map((v: number) => v), 'the input came from the JSON file');
  // The fixtures README's tolerances (§10), as test/unit/engine-fixtures.test.ts: forward rel 1e-12, train-free relevance rel 1e-8 / abs 1e-11.
  assertClose([r.explainedValue], [fx.forward.explained_logit], 1e-12, 1e-15, 'f(x)');
  assertClose([r.explainedValue], [fx.forward.output[0]], 1e-12, 1e-15, 'f(x) = output 0');
  assertClose(r.relevance[0], fx.train_free.rules['z+'].input_relevance, 1e-8, 1e-11, 'z+ input relevance');
  measurements.trainFreeRunMs = out.durationMs!;
  const ev = await api.waitForRendered('panel', since, 20000);
  assert.deepEqual(ev.summary.nodesPerLayer, r.activations.map((a) => a.length), 'the webview drew every unit of every layer');
  assert.ok(ev.summary.flows > 0, 'the webview drew relevance flows');
  measurements.renderMs = ev.summary.renderMs;
  // The run is in the Recent Runs store, with its result on disk.
  const run = api.runs().find((x) => x.id === out.runId)!;
  assert.equal(run.status, 'ok');
  assert.equal(run.rule, 'z+');
});

test('the side view shows the latest explanation', async () => {
  const since = Date.now();
  await vscode.commands.executeCommand('dtdLens.latest.focus');
  const ev = await api.waitForRendered('view', since - 60000, 20000);
  assert.ok(ev.summary.layers > 0);
  assert.ok(api.visualizers.viewResolved);
  // The host told the side view it is the side bar: it drew its own ~300 px layout (webview/sidebar.ts), the panel its own.
  assert.equal(ev.summary.view, 'sidebar', JSON.stringify(ev.summary));
  assert.ok(api.rendered.filter((e) => e.target === 'panel').every((e) => e.audit || e.summary.view === 'panel'), 'the panel drew the panel layout');
});

test('dtdLens.topK reaches the engine: with 20 a unit lists all its flows (more than 8), with 3 at most 3 and the rest aggregated', async () => {
  // w2 searches along w: every input with a non-zero weight carries relevance, so a 10-wide layer gives a unit 10 flows.
  const flowsPerUnit = (r: NonNullable<RunOutcome['result']>) =>
    r.flows.flatMap((f) => {
      const count = new Map<number, number>();
      for (const x of f.top) count.set(x.to, (count.get(x.to) ?? 0) + 1);
      return [...count.values()];
    });
  await setSetting('topK', 20);
  try {
    const wide = await explainMlp3({ rule: 'w2', method: 'train-free' });
    assert.equal(wide.status, 'ok', JSON.stringify(wide.error));
    const r = wide.result!;
    assert.equal(r.options.topK, 20, 'the engine ran with topK 20');
    assert.deepEqual(r.flows.map((f) => f.k), r.flows.map(() => 20));
    const counts = flowsPerUnit(r);
    assert.ok(Math.max(...counts) > 8, `some unit lists more than 8 flows (most: ${Math.max(...counts)})`);
    assert.ok(Math.max(...counts) <= 20);
    await setSetting('topK', 3);
    const narrow = await explainMlp3({ rule: 'w2', method: 'train-free' });
    assert.equal(narrow.status, 'ok', JSON.stringify(narrow.error));
    const n = narrow.result!;
    assert.equal(n.options.topK, 3);
    assert.deepEqual(n.flows.map((f) => f.k), n.flows.map(() => 3));
    assert.ok(Math.max(...flowsPerUnit(n)) === 3, 'at most 3 flows per unit, and some unit has 3');
    assert.ok(n.flows.some((f) => f.rest.some((v) => v !== 0)), 'the flows left out are aggregated in rest');
    assert.deepEqual(n.relevance, r.relevance, 'topK changes what is listed, not the relevance');
  } finally {
    await setSetting('topK', undefined);
  }
});

test('.safetensors with a random input (seed): the explained output is > 0', async () => {
  const out = await api.explain(file('mlp3_seed1_notebook.safetensors'), { input: { kind: 'random', seed: 7 }, explainedOutput: 0, useDefaults: true });
  assert.equal(out.status, 'ok', JSON.stringify(out.error));
  assert.ok(out.result!.explainedValue > 0);
  assert.equal(out.result!.input.length, 10);
  assert.ok(out.result!.input.every((v) => v >= 0), 'random inputs are non-negative');
});

test('re-run with another rule, compare both, open a run from the tree', async () => {
  const first = await explainMlp3({ rule: 'z+' });
  assert.equal(first.status, 'ok');
  const second = await api.rerunWithRule(first.runId!, 'w2');
  assert.equal(second.status, 'ok', JSON.stringify(second.error));
  assert.deepEqual(second.result!.input, first.result!.input, 'same input');
  assert.equal(second.result!.explainedOutput, 0);
  assert.notDeepEqual(second.result!.relevance[0], first.result!.relevance[0], 'w2 and z+ give different input relevance');
  // A per-layer rule text, as the dtdLens.rule setting allows.
  const perLayer = await api.rerunWithRule(first.runId!, 'layer1=w2;*=z+');
  assert.equal(perLayer.status, 'ok', JSON.stringify(perLayer.error));
  assert.equal(perLayer.result!.rules.length, 3);
  assert.match(perLayer.result!.rules[0], /w2/);
  assert.match(perLayer.result!.rules[2], /z\+/);
  let since = Date.now();
  assert.equal(await api.compare(first.runId!, second.runId!), true);
  await api.waitForRendered('panel', since, 20000);
  since = Date.now();
  assert.equal(await vscode.commands.executeCommand('dtdLens.openRun', first.runId), true);
  await api.waitForRendered('panel', since, 20000);
});

test('a convolutional classifier as TF.js model.json (+ shard) and as .keras explains a PNG image with zB at the pixels, with a heatmap shape', async () => {
  const input = { kind: 'file' as const, uri: file('inputs/image.png') };
  const runs = [];
  for (const model of ['cnn-tfjs/model.json', 'cnn.keras']) {
    const out = await api.explain(file(model), { input, explainedOutput: 0, useDefaults: true, rule: 'layer1=zB=0,1;*=z+' });
    assert.equal(out.status, 'ok', `${model}: ${JSON.stringify(out.error ?? out.result?.message)}`);
    const r = out.result!;
    assert.deepEqual(r.shapes?.[0], [3, 10, 10], `${model}: the input relevance has the image's shape`);
    assert.equal(r.relevance[0]!.length, 300);
    assert.ok(Math.abs(r.relevance[0]!.reduce((a, b) => a + b, 0) - r.explainedValue) < 1e-9 * Math.max(1, Math.abs(r.explainedValue)), `${model}: conservation`);
    runs.push(r);
  }
  // The same network in two formats gives the same explanation.
  assert.deepEqual(runs[0].relevance[0], runs[1].relevance[0]);
  // dtdLens.image.* decides the preprocessing when the model has no sidecar: 0..255 instead of 0..1.
  await setSetting('image.scale', '0..255');
  try {
    const scaled = await api.explain(file('cnn.keras'), { input, explainedOutput: 0, useDefaults: true, rule: 'layer1=zB=0,255;*=z+' });
    assert.equal(scaled.status, 'ok', JSON.stringify(scaled.error));
    runs[1].input.forEach((v, i) => assert.ok(Math.abs(scaled.result!.input[i] - 255 * v) < 1e-9, `pixel value ${i}`));
  } finally {
    await setSetting('image.scale', undefined);
  }
}, 60000);

test('a folder of images opens the dataset gallery (the page draws every item); clicking an item opens its full explanation in the visualizer', async () => {
  const out = await api.explainDataset(file('images'), { model: file('cnn.keras'), output: 'argmax', useDefaults: true });
  assert.equal(out.status, 'ok', JSON.stringify(out.error));
  const g = out.reply!.gallery;
  assert.deepEqual(g.items.map((i) => i.inputName), ['a.png', 'b.png', 'c.png'], 'sorted names');
  assert.deepEqual(g.shape, [3, 10, 10]);
  assert.equal(g.summary.inputs, 3);
  assert.ok(out.panel?.visible, 'the gallery panel is shown');
  assert.equal(await waitFor('the gallery page to draw', () => Promise.race([out.rendered!, sleep(100).then(() => 0)]), 20000), 3, 'the gallery drew its three items');
  // What a click on item 2 in the gallery does (the page posts {type: 'openItem', inputIndex}; test/webview/gallery.test.ts clicks it).
  const since = Date.now();
  const item = g.items[2];
  const run = await out.openItem!(item.inputIndex);
  assert.equal(run.status, 'ok', JSON.stringify(run.error));
  const r = run.result!;
  assert.equal(r.explainedOutput, item.explainedOutput);
  assert.deepEqual(r.input, out.reply!.inputs[2], 'the full explanation is of that input');
  assertClose(r.relevance[0]!, item.inputRelevance!, 1e-3, 1e-9, 'the full explanation has the heatmap the gallery drew');
  assert.ok(Math.abs(r.explainedValue - item.explainedValue) < 1e-9 * Math.max(1, Math.abs(item.explainedValue)));
  const ev = await api.waitForRendered('panel', since, 20000);
  // The visualizer draws every layer (wide conv layers up to its cap of units).
  assert.equal(ev.summary.nodesPerLayer.length, r.activations.length, 'the visualizer drew every layer of the full explanation');
  ev.summary.nodesPerLayer.forEach((n, l) => assert.ok(n > 0 && n <= r.activations[l].length, `layer ${l}: ${n} units drawn of ${r.activations[l].length}`));
  assert.equal(api.runs()[0].input.label, 'images: c.png');
  out.panel!.dispose();
}, 90000);

test('the root audit: research numbers, a chart in the panel, and a CSV', async () => {
  const since = Date.now();
  const out = await api.audit(file('mlp3_seed1_notebook.onnx'), { inputs: 300, rules: ['z+'], rootFinder: 'polytope', seed: 0, sanity: [], saveTo: file('exports/audit.csv') });
  assert.equal(out.status, 'ok', JSON.stringify(out));
  if (out.status !== 'ok') return;
  const tf = out.audit.rows.find((r) => r.method === 'train-free')!;
  // The research network: a substantial share of inputs has a z+ root outside its region.
  assert.ok(tf.shareInputsWithRootOutside > 0.25 && tf.shareInputsWithRootOutside < 0.55, String(tf.shareInputsWithRootOutside));
  assert.equal(out.audit.rows.find((r) => r.method === 'full-backward')!.shareRootsOutside, 0);
  const drawn = await waitFor('the audit chart', () => api.rendered.find((e) => e.target === 'panel' && e.at >= since && e.audit));
  assert.deepEqual(drawn.audit, { rows: 2, bars: 6 });
  const csv = readFileSync(file('exports/audit.csv').fsPath, 'utf8').trim().split('\n');
  assert.equal(csv.length, 3);
  assert.match(csv[0], /^rule,method,rootFinder,inputs,failedInputs,roots,shareInputsWithRootOutside,shareRootsOutside/);
  assert.match(csv[1], /^z\+,train-free,linear,300,0,/);
}, 60000);

test('a full-backward run is stored as its view plus a page file; reopened from Recent Runs it draws, and a tree node\'s children are served from disk', async () => {
  let since = Date.now();
  const out = await explainMlp3({ method: 'full-backward', rootFinder: 'linear', rule: 'z+' });
  assert.equal(out.status, 'ok', JSON.stringify(out.error));
  const r = out.result!;
  assert.equal(r.tree, null, 'the message carries no whole tree');
  assert.equal(r.paged?.run, out.runId);
  const top = r.paged!.tree!.top;
  assert.ok(top.length > 0 && r.paged!.tree!.entries > top.length);
  // The progress stayed until the panel drew: 'drawn' came before the run returned, and the last progress is Done.
  await api.waitForDrawn('panel', since, 1);
  const events = api.progressEvents.filter((e) => e.runId === out.runId);
  assert.equal(events.at(-1)?.stage, 'Done');
  assert.ok(events.some((e) => e.stage === 'Drawing'), JSON.stringify(events.map((e) => e.stage)));
  // Reopen from Recent Runs: the small part is read and drawn; the tree's pages come from the page file.
  since = Date.now();
  assert.equal(await vscode.commands.executeCommand('dtdLens.openRun', out.runId), true);
  await api.waitForDrawn('panel', since, 20000);
  const topPage = (await api.page(out.runId!, 'tree:')) as { entry: null; children: { path: string[] }[] };
  assert.deepEqual(topPage.children.map((c) => c.path), top.map((c) => c.path));
  const parent = top.find((e) => (e.children ?? 0) > 0)!;
  const node = (await api.page(out.runId!, `tree:${parent.path.join('/')}`)) as { entry: { path: string[]; root: number[] }; children: { path: string[] }[] };
  assert.deepEqual(node.entry.path, parent.path);
  assert.equal(node.entry.root.length, r.model.inputSize);
  assert.equal(node.children.length, parent.children);
  assert.ok(node.children.every((c) => c.path.slice(0, parent.path.length).join('/') === parent.path.join('/')));
  await assert.rejects(api.page(out.runId!, 'tree:layer9/root_0'), /no page/);
}, 60000);

test('export as JSON, SVG and PNG', async () => {
  const out = await explainMlp3();
  const json = await api.exportRun(out.runId!, 'json', file('exports/run.json'));
  assert.ok(json);
  const parsed = JSON.parse(readFileSync(json.fsPath, 'utf8'));
  assert.equal(parsed.schema, 'dtd-lens/result@3');
  assert.deepEqual(parsed.relevance, out.result!.relevance);
  const svg = await api.exportRun(out.runId!, 'svg', file('exports/run.svg'));
  assert.ok(svg, `SVG export failed: ${JSON.stringify(api.notices.at(-1))}`);
  const svgText = readFileSync(svg.fsPath, 'utf8');
  assert.match(svgText, /<svg[\s>]/);
  const png = await api.exportRun(out.runId!, 'png', file('exports/run.png'));
  assert.ok(png, `PNG export failed: ${JSON.stringify(api.notices.at(-1))}`);
  const bytes = readFileSync(png.fsPath);
  assert.deepEqual([...bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'PNG signature');
}, 60000);

test('baselines on demand: a CNN explanation opened in the visualizer has none until the user asks; Compute Baselines stores them and the panel draws gradient × input next to it', async () => {
  const since = Date.now();
  const out = await api.explain(file('cnn.keras'), { input: { kind: 'file', uri: file('inputs/image.png') }, explainedOutput: 0, useDefaults: true, method: 'lrp', rule: 'epsilon' });
  assert.equal(out.status, 'ok', JSON.stringify(out.error));
  const r = out.result!;
  assert.equal(r.baselines, null, 'the run computed no baselines');
  assert.equal(r.timings.baselines, undefined);
  const first = await api.waitForRendered('panel', since, 20000);
  assert.equal(first.summary.baseline, undefined, 'the panel draws the result alone');
  const plain = await api.exportRun(out.runId!, 'json', file('exports/cnn-plain.json'));
  assert.equal(JSON.parse(readFileSync(plain!.fsPath, 'utf8')).baselines, null, 'the stored run has none');
  // The user asks (the command; the compare menu in the panel posts the same request: test/webview/baselines.test.ts).
  const asked = Date.now();
  const b = await api.computeBaselines(out.runId!);
  assert.ok(b?.result.baselines, `no baselines: ${JSON.stringify(api.notices.at(-1))}`);
  const base = b.result.baselines;
  assert.equal(base.gradient.length, 300);
  base.gradientTimesInput.forEach((g, i) => assert.equal(g, base.gradient[i] * r.input[i], `gradient × input at ${i}`));
  assert.equal(Object.keys(base.lrp).length, 9, 'eight LRP rules and the special-first-layer composite');
  // For the run's model, input, output and precision: LRP ε = 1e-6 as a baseline is the run's own relevance.
  assertClose(base.lrp['epsilon_1e-6'].relevance, r.relevance[0]!, 1e-12, 1e-15, 'LRP epsilon baseline = the LRP epsilon run');
  assert.equal(b.reply.precision, r.precision);
  const drawn = await waitFor('the panel to draw a baseline', () => api.rendered.find((e) => e.target === 'panel' && e.at >= asked && e.summary.baseline === 'gradientTimesInput'), 20000);
  assert.deepEqual(drawn.summary.nodesPerLayer.length, r.activations.length);
  // Stored with the run: the JSON export and the run reopened carry them; asking again computes nothing.
  const json = await api.exportRun(out.runId!, 'json', file('exports/cnn-baselines.json'));
  assert.deepEqual(JSON.parse(readFileSync(json!.fsPath, 'utf8')).baselines, JSON.parse(JSON.stringify(base)));
  const again = await api.computeBaselines(out.runId!);
  assert.deepEqual(again?.result.baselines, base);
  const reopened = Date.now();
  assert.equal(await vscode.commands.executeCommand('dtdLens.openRun', out.runId), true);
  await api.waitForRendered('panel', reopened, 20000);
  measurements.baselinesOnDemandMs = b.reply.ms;
}, 90000);

test('cancelling a long full-backward run ends it (the engine stops or is replaced) and the extension stays usable', async () => {
  // Warm engine, known pid.
  assert.equal((await explainMlp3()).status, 'ok');
  const pidBefore = api.engine.pid!;
  const run = longRun();
  await waitFor('the long run to be busy in the engine', () => api.engine.busy, 10000);
  // Let it get into the sampling: two progress reports with a growing fraction.
  const running = await waitFor('the long run in Recent Runs', () => api.runs().find((r) => r.status === 'running'), 10000);
  await waitFor('the long run to report progress', () => new Set(api.progressEvents.filter((p) => p.runId === running.id && p.fraction !== undefined).map((p) => p.fraction)).size >= 2, 30000);
  assert.ok(api.engine.busy, 'still running (the run is long enough to cancel)');
  assert.equal(api.cancelActiveRun(), true);
  const out = await run;
  // Engine side: Cancel → the request settled (progress notification gone). Host side: the run's bookkeeping done too.
  measurements.cancelLatencyMs = api.engine.lastCancelLatencyMs!;
  assert.equal(out.status, 'cancelled');
  assert.equal(out.runId, running.id);
  assert.equal(api.engine.busy, false, 'no request left in the engine');
  // The run has ended in the engine: either the engine stopped it itself (and answers at once) or it was killed.
  measurements.cancelKilledEngine = api.engine.pid === pidBefore && pidAlive(pidBefore) ? 0 : 1;
  if (api.engine.pid === pidBefore && pidAlive(pidBefore)) {
    const pingMs = await api.engine.ping();
    measurements.pingAfterCancelMs = pingMs;
    assert.ok(Number.isFinite(pingMs), 'the engine answers again');
  } else {
    // SIGKILL is delivered and reaped asynchronously: the process may outlive the settled request by a few ms.
    await waitFor('the old engine process to be gone', () => !pidAlive(pidBefore), 10000);
  }
  assert.equal(api.runs().find((r) => r.id === out.runId)?.status, 'cancelled');
  // The run showed stages and a growing fraction while it ran.
  const progress = api.progressEvents.filter((p) => p.runId === out.runId);
  assert.ok(progress.length >= 2, `progress events: ${JSON.stringify(progress)}`);
  assert.ok(progress.every((p) => typeof p.stage === 'string' && p.stage.length > 0));
  const fractions = progress.map((p) => p.fraction).filter((f): f is number => f !== undefined);
  assert.ok(fractions.length >= 2 && fractions[fractions.length - 1] > fractions[0], `fractions ${fractions.join(', ')}`);
  const next = await explainMlp3();
  assert.equal(next.status, 'ok', 'a run after the cancel works');
}, 60000);

test('cancel when the engine does not react: the process is killed, the next run gets a fresh engine', async () => {
  assert.equal((await explainMlp3()).status, 'ok');
  const pid = api.engine.pid!;
  const run = longRun();
  await waitFor('the long run to be busy', () => api.engine.busy, 10000);
  await sleep(300);
  process.kill(pid, 'SIGSTOP'); // a frozen engine cannot see the cancel message
  assert.equal(api.cancelActiveRun(), true);
  const out = await run;
  measurements.cancelKillLatencyMs = api.engine.lastCancelLatencyMs!;
  assert.equal(out.status, 'cancelled');
  assert.equal(api.runs().find((r) => r.id === out.runId)?.status, 'cancelled');
  await waitFor('the frozen engine to be killed', () => !pidAlive(pid), 5000);
  const spawns = api.engine.spawnCount;
  const next = await explainMlp3();
  assert.equal(next.status, 'ok');
  assert.notEqual(api.engine.pid, pid);
  assert.equal(api.engine.spawnCount, spawns + 1);
}, 60000);

test('a corrupt model gives an error message naming the file, and no crash', async () => {
  const notices = api.notices.length;
  const out = await api.explain(file('corrupt.onnx'), { input: { kind: 'random', seed: 1 }, explainedOutput: 0, useDefaults: true });
  assert.equal(out.status, 'error');
  assert.equal(out.error!.code, 'bad-model', out.error!.message);
  assert.match(out.error!.message, /corrupt\.onnx/);
  const shown = api.notices.slice(notices);
  assert.equal(shown.length, 1);
  assert.equal(shown[0].level, 'error');
  assert.match(shown[0].message, /corrupt\.onnx/);
  const truncated = await api.explain(file('truncated.safetensors'), { input: { kind: 'random', seed: 1 }, explainedOutput: 0, useDefaults: true });
  assert.equal(truncated.status, 'error');
  assert.match(truncated.error!.message, /truncated\.safetensors/);
  assert.equal((await explainMlp3()).status, 'ok', 'the extension and the engine keep working');
});

test('hostile files in the workspace: a model symlinked to /dev/zero, a sidecar and a shard that leave the folder — refused by name, the host stays alive', async () => {
  if (process.platform === 'win32') return;
  const cases: [string, RegExp, RegExp][] = [
    ['hostile/zero.onnx', /^zero\.onnx: the model is a device, not a regular file/, /zero\.onnx/],
    ['hostile/leaky.safetensors', /^leaky\.dtd\.json: the sidecar leads outside the model's folder/, /leaky\.dtd\.json/],
    ['hostile/escape-tfjs/model.json', /^weights\/group1-shard1of1\.bin: the weight file of model\.json leads outside the model's folder/, /group1-shard1of1\.bin/],
  ];
  const hostPid = process.pid;
  for (const [rel, message, named] of cases) {
    const notices = api.notices.length;
    const started = Date.now();
    const out = await api.explain(file(rel), { input: { kind: 'random', seed: 1 }, explainedOutput: 0, useDefaults: true });
    assert.equal(out.status, 'error', `${rel}: ${JSON.stringify(out)}`);
    assert.match(out.error!.message, message, rel);
    assert.doesNotMatch(out.error!.message, /root:|\/etc|\/dev\/|bytes|MB/, `${rel}: nothing of the target`);
    assert.ok(Date.now() - started < 10000, `${rel}: refused at once`);
    const shown = api.notices.slice(notices);
    assert.equal(shown.length, 1, JSON.stringify(shown));
    assert.equal(shown[0].level, 'error');
    assert.match(shown[0].message, named);
    assert.doesNotMatch(shown[0].message, /root:/);
  }
  // The inspector reads the same way.
  const zero = file('hostile/zero.onnx');
  await vscode.commands.executeCommand('vscode.openWith', zero, 'dtdLens.modelInspector');
  const inspected = await waitFor('the inspector to show the refusal', () => api.inspected.get(zero.toString()), 15000);
  assert.match(inspected.error ?? '', /zero\.onnx: the model is a device/);
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  assert.equal(process.pid, hostPid);
  assert.equal((await explainMlp3()).status, 'ok', 'the extension host and the engine keep working');
}, 60000);
test('names from a file that are command links: the notifications show them as text, the host stays alive', async () => {
  // VS Code's notification link syntax (vs/base/common/linkedText.ts): any match would be a clickable command.
  const LINK = /\[([^\]]+)\]\(((?:https?:\/\/|command:|file:)[^\)\s]+)(?: (["'])(.+?)(\3))?\)/i;
  const link = '[click](command:workbench.action.quit)';
  // Written here and removed after, so the UI suite's model picker sees the usual workspace.
  // A JSON network whose layer is named like a link (its weights do not fit, so the error names it), and a file named like one.
  mkdirSync(file('link-layer').fsPath, { recursive: true });
  writeFileSync(file('link-layer/model.json').fsPath, JSON.stringify({ input_size: 2, layers: [{ name: link, in_features: 2, out_features: 1, weight: [[1, 2, 3]], bias: [0] }] }));
  writeFileSync(file(`${link}.onnx`).fsPath, Buffer.from('not a protobuf \u0000\u00ff garbage '.repeat(20), 'latin1'));
  try {
    const notices = api.notices.length;
    const layer = await api.explain(file('link-layer/model.json'), { input: { kind: 'random', seed: 1 }, explainedOutput: 0, useDefaults: true });
    assert.equal(layer.status, 'error');
    assert.equal(layer.error!.code, 'bad-model', layer.error!.message);
    assert.match(layer.error!.message, /layer '［click］（command:workbench\.action\.quit）'/);
    const named = await api.explain(file(`${link}.onnx`), { input: { kind: 'random', seed: 1 }, explainedOutput: 0, useDefaults: true });
    assert.equal(named.status, 'error');
    const shown = api.notices.slice(notices);
    assert.equal(shown.length, 2, JSON.stringify(shown));
    for (const n of shown) {
      assert.equal(n.level, 'error');
      assert.ok(!LINK.test(n.message), `a link in the notification: ${n.message}`);
      assert.ok(!/[\u0000-\u001f]/.test(n.message));
      assert.match(n.message, /click/, 'the name is still shown, as text');
    }
    assert.match(shown[0].message, /model\.json/);
  } finally {
    rmSync(file('link-layer').fsPath, { recursive: true, force: true });
    rmSync(file(`${link}.onnx`).fsPath, { force: true });
  }
  assert.equal((await explainMlp3()).status, 'ok', 'the extension host and the engine keep working');
});

test('a model over dtdLens.maxModelSizeMB is refused before it is read', async () => {
  await setSetting('maxModelSizeMB', 0.001); // ~1 KB; the model is ~2 KB
  try {
    const spawns = api.engine.spawnCount;
    const out = await explainMlp3();
    assert.equal(out.status, 'error');
    assert.equal(out.error!.code, 'too-large');
    assert.match(out.error!.message, /dtdLens\.maxModelSizeMB/);
    assert.equal(api.engine.spawnCount, spawns);
  } finally {
    await setSetting('maxModelSizeMB', undefined);
  }
  assert.equal((await explainMlp3()).status, 'ok');
});

test('dtdLens.inputShape: [C, H, W] reaches the webview settings; an invalid value or the empty default gives none', async () => {
  try {
    assert.equal(api.visualizers.settings().inputShape, null, 'default [] = from the model');
    await setSetting('inputShape', [1, 28, 28]);
    assert.deepEqual(api.visualizers.settings().inputShape, [1, 28, 28]);
    await setSetting('inputShape', [784]);
    assert.equal(api.visualizers.settings().inputShape, null, 'not [C, H, W]');
    await setSetting('inputShape', [1, 0, 28]);
    assert.equal(api.visualizers.settings().inputShape, null, 'not positive');
  } finally {
    await setSetting('inputShape', undefined);
  }
  assert.equal(api.visualizers.settings().inputShape, null);
});

test('a killed engine is replaced on the next run; a crash mid-run is reported with "Show Log"', async () => {
  assert.equal((await explainMlp3()).status, 'ok');
  const pid = api.engine.pid!;
  const exited = new Promise<void>((resolve) => {
    const sub = api.engine.onExit((p) => p === pid && (sub.dispose(), resolve()));
  });
  process.kill(pid, 'SIGKILL');
  await exited;
  const out = await explainMlp3();
  assert.equal(out.status, 'ok');
  assert.notEqual(api.engine.pid, pid);

  // Killed during a run.
  const notices = api.notices.length;
  const run = longRun();
  await waitFor('the long run to be busy', () => api.engine.busy, 10000);
  process.kill(api.engine.pid!, 'SIGKILL');
  const crashed = await run;
  assert.equal(crashed.status, 'error');
  assert.equal(crashed.error!.code, 'engine-crashed');
  const shown = api.notices.slice(notices);
  assert.ok(shown.some((n) => n.level === 'error' && n.actions.includes('Show Log') && /engine/.test(n.message)), JSON.stringify(shown));
  assert.equal((await explainMlp3()).status, 'ok', 'the next run starts a fresh engine');
}, 60000);

test('a hung engine is stopped after dtdLens.engineTimeoutSeconds', async () => {
  await setSetting('engineTimeoutSeconds', 2);
  try {
    assert.equal((await explainMlp3()).status, 'ok');
    const pid = api.engine.pid!;
    const run = longRun();
    await waitFor('the long run to be busy', () => api.engine.busy, 10000);
    process.kill(pid, 'SIGSTOP');
    const out = await run;
    assert.equal(out.status, 'error');
    assert.equal(out.error!.code, 'engine-timeout');
    assert.match(out.error!.message, /engineTimeoutSeconds/);
    await waitFor('the hung engine to be killed', () => !pidAlive(pid), 5000);
  } finally {
    await setSetting('engineTimeoutSeconds', undefined);
  }
  assert.equal((await explainMlp3()).status, 'ok');
}, 60000);

test('the model inspector (custom editor) lists layers and parameters; a corrupt model shows the error', async () => {
  const uri = file('mlp3_seed1_notebook.onnx');
  await vscode.commands.executeCommand('vscode.openWith', uri, 'dtdLens.modelInspector');
  const shown = await waitFor('the inspector to show the model', () => api.inspected.get(uri.toString()), 15000);
  assert.ok(shown.summary, shown.error);
  assert.deepEqual(
    shown.summary.layers.map((l) => [l.inFeatures, l.outFeatures, l.parameters]),
    [
      [10, 10, 110],
      [10, 10, 110],
      [10, 2, 22],
    ],
  );
  // The page: a chain (no joins), the input shape on top, and the loader's (empty) list of assumptions shown.
  const html = shown.html ?? '';
  assert.equal(html, inspectorPageHtmlOf(html, shown.summary, uri), 'the page is the one modelInspectorHtml.ts draws for this summary');
  assert.deepEqual([...html.matchAll(/<tr id="layer-(\d+)" class="([^"]*)"/g)].map((m) => [m[1], m[2]]), [['0', 'input-row'], ['1', 'layer'], ['2', 'layer'], ['3', 'layer']]);
  assert.match(html, /Input: <strong>10<\/strong>/);
  assert.match(html, /What DTD Lens assumed<\/h2>\s*<p class="muted">The loader reported no assumptions/);
  const bad = file('corrupt.onnx');
  await vscode.commands.executeCommand('vscode.openWith', bad, 'dtdLens.modelInspector');
  const badShown = await waitFor('the inspector to show the error', () => api.inspected.get(bad.toString()), 15000);
  assert.equal(badShown.summary, undefined);
  assert.match(badShown.error!, /corrupt\.onnx/);
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
});

// DEPENDS ON THE ONNX GRAPH LOADER (Add/Concat and branching tensors). Until that work is merged the engine
// refuses res_basic_seed20.onnx ("feeds 2 nodes (a branch)") and this test fails with a message saying so.
test('the model inspector on a residual ONNX network shows its add joins, what they read, and the loader notes [needs the ONNX graph loader]', async () => {
  const uri = file('res_basic_seed20.onnx');
  assert.ok(existsSync(uri.fsPath), 'workspace.ts copies res_basic_seed20.onnx from the residual fixtures into the test workspace');
  await vscode.commands.executeCommand('vscode.openWith', uri, 'dtdLens.modelInspector');
  const shown = await waitFor('the inspector to show the residual model', () => api.inspected.get(uri.toString()), 20000);
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  if (!shown.summary) {
    assert.fail(`the engine refused res_basic_seed20.onnx — this test needs the ONNX loader to read Add (residual joins) and branching tensors: ${shown.error}`);
  }
  const s = shown.summary;
  const html = shown.html ?? '';
  assert.equal(html, inspectorPageHtmlOf(html, s, uri), 'the page is the one modelInspectorHtml.ts draws for this summary');
  assert.deepEqual(s.inputShape, [3, 16, 16]);
  assert.deepEqual(s.layers[s.layers.length - 1].outShape, [10]);
  // RESIDUAL.md: block1 (identity skip) and block2 (projection skip: a 1×1 stride-2 conv) each end in an Add.
  const adds = s.layers.map((l, i) => ({ l, k: i + 1 })).filter((x) => x.l.kind === 'add');
  assert.equal(adds.length, 2, `two residual adds: ${s.layers.map((l) => `${l.name}:${l.kind}`).join(', ')}`);
  for (const { l, k } of adds) {
    assert.equal(l.inputs?.length, 2, `add ${l.name} reads two tensors`);
    assert.ok(l.inputs!.every((t) => t < k), 'joins read earlier tensors');
    // Its row is marked as a join and names both sources.
    const row = html.match(new RegExp(`<tr id="layer-${k}" class="([^"]*)"[^>]*>([\\s\\S]*?)</tr>`));
    assert.ok(row, `a row for layer ${k}`);
    assert.match(row[1], /\bjoin\b/);
    assert.match(row[2], /join of 2/);
    for (const t of l.inputs!) assert.match(row[2], new RegExp(`data-target="${t}"`), `the row of ${l.name} links to tensor ${t}`);
  }
  const skips = adds[1].l.inputs!.map((t) => s.layers[t - 1]);
  assert.ok(
    skips.some((l) => l?.kind === 'conv2d' && l.kernel?.join('×') === '1×1' && l.stride?.join('×') === '2×2'),
    `block2's add reads the 1×1 stride-2 projection: ${JSON.stringify(skips.map((l) => [l?.name, l?.kind, l?.kernel, l?.stride]))}`,
  );
  // The loader's notes (ONNX keeps the BatchNormalizations; they are folded) are listed, not hidden.
  assert.ok(s.notes.some((n) => /BatchNormalization/.test(n)), `notes about the folded BatchNorms: ${JSON.stringify(s.notes)}`);
  const listed = [...(html.match(/<section class="assumed"[\s\S]*?<\/section>/)?.[0] ?? '').matchAll(/<li>/g)].length;
  assert.equal(listed, s.notes.length, 'every note is listed under "What DTD Lens assumed"');
}, 60000);

export async function run(): Promise<void> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  const output = join(ext?.extensionPath ?? process.cwd(), 'test-output');
  await runAll(output);
}
