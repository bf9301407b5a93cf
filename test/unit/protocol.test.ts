// package.json's contributions agree with the protocol package: the menus'
// `when` clauses and the custom editor's selector name exactly the model
// formats of protocol/formats.ts, and every `dtdLens.*` setting's default and
// choices are protocol/defaults.ts's. Either side changed alone fails here.
// Also: results stored in schema 1 upgrade to the current schema (protocol/migrate.ts).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  BACKENDS,
  DEFAULT_BACKEND,
  DEFAULT_ENGINE_TIMEOUT_SECONDS,
  DEFAULT_INTERPOLATION,
  DEFAULT_MAX_MODEL_SIZE_MB,
  DEFAULT_MAX_RECENT_RUNS,
  DEFAULT_METHOD,
  DEFAULT_MH,
  DEFAULT_PRECISION,
  DEFAULT_ROOT_FINDER,
  DEFAULT_RULE,
  DEFAULT_SAME_REGION,
  DEFAULT_SEED,
  DEFAULT_TOP_K,
  INPUT_DIALOG_FILTERS,
  INPUT_EXTENSIONS,
  isModelFileName,
  METHODS,
  MODEL_DIALOG_FILTERS,
  MODEL_EXTENSIONS,
  MODEL_FILENAMES,
  MODEL_WHEN_CLAUSE,
  PRECISIONS,
  RESULT_SCHEMA,
  ROOT_FINDERS,
  upgradeResult,
} from '../../extension/protocol';

interface Setting {
  type: string;
  default?: unknown;
  enum?: unknown[];
  enumDescriptions?: string[];
}
interface MenuItem {
  command: string;
  when?: string;
}

const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'));
const contributes = pkg.contributes;
const settings: Record<string, Setting> = contributes.configuration.properties;
const setting = (key: string): Setting => {
  const s = settings[`dtdLens.${key}`];
  assert.ok(s, `package.json contributes the setting dtdLens.${key}`);
  return s;
};

describe('package.json menus and custom editor name the protocol model formats', () => {
  const explain = (menu: string): MenuItem => {
    const items = (contributes.menus[menu] as MenuItem[]).filter((m) => m.command === 'dtdLens.explainOutputFromExplorer');
    assert.equal(items.length, 1, `one Explain Output entry in ${menu}`);
    return items[0];
  };

  test('explorer/context: MODEL_WHEN_CLAUSE, and never on folders', () => {
    assert.equal(explain('explorer/context').when, `${MODEL_WHEN_CLAUSE} && !explorerResourceIsFolder`);
  });

  test('editor/title/context: exactly MODEL_WHEN_CLAUSE', () => {
    assert.equal(explain('editor/title/context').when, MODEL_WHEN_CLAUSE);
  });

  test('the when clause matches every model extension (any case) and model.json, and nothing else', () => {
    const m = /^\(resourceExtname =~ \/(.*)\/i \|\| resourceFilename == (\S+)\)$/.exec(MODEL_WHEN_CLAUSE);
    assert.ok(m, MODEL_WHEN_CLAUSE);
    const ext = new RegExp(m[1], 'i');
    for (const e of MODEL_EXTENSIONS) {
      assert.ok(ext.test(e) && ext.test(e.toUpperCase()), `${e} matches`);
      assert.ok(isModelFileName(`folder/net${e.toUpperCase()}`));
    }
    assert.ok(MODEL_EXTENSIONS.includes('.hdf5' as never), '.hdf5 is a model format');
    for (const e of ['.json', '.txt', '.onnx.bak', '.h', '.p', '.npy']) assert.ok(!ext.test(e), `${e} does not match`);
    assert.deepEqual([m[2]], [...MODEL_FILENAMES]);
  });

  test('the model inspector opens exactly the model extensions and model.json', () => {
    const editors = contributes.customEditors as { viewType: string; selector: { filenamePattern: string }[] }[];
    const inspector = editors.find((e) => e.viewType === 'dtdLens.modelInspector');
    assert.ok(inspector);
    const patterns = inspector.selector.map((s) => s.filenamePattern);
    assert.deepEqual(patterns, [...MODEL_EXTENSIONS.map((e) => `*${e}`), ...MODEL_FILENAMES]);
  });

  test('file dialogs offer every model and every input extension', () => {
    const models = Object.values(MODEL_DIALOG_FILTERS).flat();
    for (const e of MODEL_EXTENSIONS) assert.ok(models.includes(e.slice(1)), `model dialog: ${e}`);
    const inputs = Object.values(INPUT_DIALOG_FILTERS).flat();
    assert.deepEqual([...inputs].sort(), INPUT_EXTENSIONS.map((e) => e.slice(1)).sort());
    for (const e of ['png', 'jpg', 'jpeg']) assert.ok(inputs.includes(e), `input dialog: ${e}`);
  });
});

describe('package.json settings agree with protocol/defaults.ts', () => {
  const choice = (key: string, list: readonly string[], def: string) => {
    const s = setting(key);
    assert.deepEqual(s.enum, [...list], `dtdLens.${key} enum`);
    assert.equal(s.default, def, `dtdLens.${key} default`);
    if (s.enumDescriptions) assert.equal(s.enumDescriptions.length, list.length, `dtdLens.${key}: one description per choice`);
  };

  test('dtdLens.method = METHODS, DEFAULT_METHOD', () => choice('method', METHODS, DEFAULT_METHOD));
  test('dtdLens.rootFinder = ROOT_FINDERS, DEFAULT_ROOT_FINDER', () => choice('rootFinder', ROOT_FINDERS, DEFAULT_ROOT_FINDER));
  test('dtdLens.precision = PRECISIONS, DEFAULT_PRECISION', () => choice('precision', PRECISIONS, DEFAULT_PRECISION));
  test('dtdLens.backend = BACKENDS, DEFAULT_BACKEND', () => choice('backend', BACKENDS, DEFAULT_BACKEND));

  test('scalar defaults', () => {
    const expected: Record<string, unknown> = {
      rule: DEFAULT_RULE,
      seed: DEFAULT_SEED,
      topK: DEFAULT_TOP_K,
      'metropolisHastings.steps': DEFAULT_MH.steps,
      'metropolisHastings.warmup': DEFAULT_MH.warmup,
      'metropolisHastings.chains': DEFAULT_MH.chains,
      'metropolisHastings.initScale': DEFAULT_MH.initScale,
      'metropolisHastings.targetAcceptance': DEFAULT_MH.targetAcceptance,
      'interpolation.batchSize': DEFAULT_INTERPOLATION.batchSize,
      'interpolation.points': DEFAULT_INTERPOLATION.points,
      'interpolation.refinementSteps': DEFAULT_INTERPOLATION.refinementSteps,
      'sameRegion.rtol': DEFAULT_SAME_REGION.rtol,
      'sameRegion.atol': DEFAULT_SAME_REGION.atol,
      engineTimeoutSeconds: DEFAULT_ENGINE_TIMEOUT_SECONDS,
      maxModelSizeMB: DEFAULT_MAX_MODEL_SIZE_MB,
      maxRecentRuns: DEFAULT_MAX_RECENT_RUNS,
    };
    for (const [key, value] of Object.entries(expected)) assert.equal(setting(key).default, value, `dtdLens.${key} default`);
  });

  test('defaults lie within their own bounds', () => {
    for (const [key, s] of Object.entries(settings)) {
      const b = s as Setting & { minimum?: number; maximum?: number };
      if (typeof b.default !== 'number') continue;
      if (b.minimum !== undefined) assert.ok(b.default >= b.minimum, `${key}: default ${b.default} < minimum ${b.minimum}`);
      if (b.maximum !== undefined) assert.ok(b.default <= b.maximum, `${key}: default ${b.default} > maximum ${b.maximum}`);
    }
  });

  test('every setting is checked here or is host-only (a new setting must be added to one of the two)', () => {
    const checked = [
      'method', 'rootFinder', 'precision', 'backend', 'rule', 'seed', 'topK',
      'metropolisHastings.steps', 'metropolisHastings.warmup', 'metropolisHastings.chains', 'metropolisHastings.initScale', 'metropolisHastings.targetAcceptance',
      'interpolation.batchSize', 'interpolation.points', 'interpolation.refinementSteps',
      'sameRegion.rtol', 'sameRegion.atol', 'engineTimeoutSeconds', 'maxModelSizeMB', 'maxRecentRuns',
    ];
    // Image preprocessing: the protocol types it (ImagePreprocessing) without value lists; unset fields take the engine's defaults.
    const hostOnly = ['image.channelOrder', 'image.grayscale', 'image.scale', 'image.mean', 'image.std', 'image.resize', 'inputShape'];
    assert.deepEqual(Object.keys(settings).map((k) => k.replace(/^dtdLens\./, '')).sort(), [...checked, ...hostOnly].sort());
  });
});

describe('upgradeResult: stored results of schema 1', () => {
  // A small full-backward result as version 0.1 stored it: tree entries with the old names.
  const schema1 = {
    schema: 'dtd-lens/result@1',
    status: 'ok',
    statusCode: 'ok',
    message: null,
    model: { name: 'tiny.onnx', format: 'onnx', inputSize: 2, outputSize: 1, layers: [], notes: [] },
    input: [1, 2],
    explainedOutput: 0,
    explainedRow: 0,
    explainedValue: 3,
    method: 'full-backward',
    rules: ['z+'],
    rootFinder: 'metropolis-hastings',
    activations: [[1, 2], [3]],
    preActivations: [[3]],
    relevance: [[1, 2], null],
    roots: [[]],
    flows: [],
    tree: [
      {
        layer: 1,
        path: ['layer1', 'root_0'],
        unit: 0,
        root: [0, 0],
        input: [1, 2],
        relevanceOfUnit: 3,
        relevance: [1, 2],
        relevanceSum: 3,
        unresolvedRelevance: 1e-9,
        taylorResidual: 0,
        gradient: [1, 1],
        rootRelevance: [0],
        rootLogit: 1e-9,
        inputLogit: 3,
        preActivationAtRoot: 0,
        gradAtRootIsZero: false,
        inRegion: false,
        inDomain: true,
        crossing: 'layer1 unit 0 turns off',
      },
      {
        layer: 1,
        path: ['layer1', 'root_1'],
        unit: 0,
        root: [0.5, 1],
        input: [1, 2],
        relevanceOfUnit: 3,
        relevance: [0.5, 1],
        relevanceSum: 1.5,
        unresolvedRelevance: 1.5,
        taylorResidual: 0,
        gradient: [1, 1],
        rootRelevance: [1.5],
        rootLogit: 1.5,
        inputLogit: 3,
        preActivationAtRoot: 1.5,
        gradAtRootIsZero: false,
        inRegion: true,
        inDomain: false,
        crossing: 'ignored: the root is in its region',
      },
    ],
    treeTruncated: false,
    baselines: null,
    diagnostics: {
      layers: [
        { index: 0, name: 'input', relevanceSum: 3, explainedValue: 3, conservationError: 0, negativeMass: 0, rootsTotal: 2, rootsInRegion: 1, rootsInDomain: 1, rootsWithZeroRelevance: 1 },
        { index: 1, name: 'layer1', relevanceSum: 2, explainedValue: 3, conservationError: -1, negativeMass: 0, rootsTotal: 0, rootsInRegion: 0, rootsInDomain: 0, rootsWithZeroRelevance: 0 },
      ],
    },
    backend: 'float64',
    precision: 'float64',
    seed: 0,
    options: {},
    timings: {},
    warnings: [],
  };

  test('upgrades to the current schema with the glossary names and checks on every tree entry', () => {
    const r = upgradeResult(structuredClone(schema1));
    assert.ok(r);
    assert.equal(r.schema, RESULT_SCHEMA);
    assert.equal(RESULT_SCHEMA, 'dtd-lens/result@3');
    assert.deepEqual(r.provenance, { engineVersion: 'unknown (schema 1)', modelSha256: null });
    assert.ok(r.tree);
    const [a, b] = r.tree;
    for (const e of r.tree) {
      for (const old of ['relevanceOfUnit', 'unresolvedRelevance', 'relevanceSum', 'rootRelevance', 'rootLogit', 'inputLogit', 'inRegion', 'inDomain', 'crossing']) {
        assert.ok(!(old in e), `the old name ${old} is gone`);
      }
    }
    assert.equal(a.relevanceAtInput, 3);
    assert.equal(a.relevanceAtRoot, 1e-9);
    assert.equal(a.passedOn, 3);
    assert.deepEqual(a.upperRelevance, [0]);
    assert.equal(a.outputAtRoot, 1e-9);
    assert.equal(a.outputAtInput, 3);
    assert.deepEqual(a.relevance, [1, 2], 'fields without a new name are kept');
    assert.deepEqual(a.path, ['layer1', 'root_0']);
    // 1e-9 ≤ 1e-6·3: the relevance vanishes at the root; outside its region, with the crossing kept.
    assert.deepEqual(a.checks, { relevanceZero: true, inRegion: false, inDomain: true, crossing: 'layer1 unit 0 turns off' });
    // 1.5 > 1e-6·3; in its region: no crossing.
    assert.deepEqual(b.checks, { relevanceZero: false, inRegion: true, inDomain: false, crossing: null });
    assert.equal(b.passedOn, 1.5);
  });

  test('layer diagnostics gain `conserved`, and the check definitions follow the root finder', () => {
    const r = upgradeResult(structuredClone(schema1))!;
    assert.deepEqual(r.diagnostics.layers.map((d) => d.conserved), [true, false]);
    assert.ok(r.diagnostics.checkDefinitions);
    assert.match(r.diagnostics.checkDefinitions.inRegion, /gradient/, 'a sampled finder checks the region by the gradient');
    const linear = upgradeResult({ ...structuredClone(schema1), rootFinder: 'linear' })!;
    assert.match(linear.diagnostics.checkDefinitions!.inRegion, /on\/off pattern/);
    assert.deepEqual(r.input, schema1.input, 'everything else is kept');
    assert.deepEqual(r.relevance, schema1.relevance);
  });

  test('a train-free result without a tree upgrades with tree null', () => {
    const r = upgradeResult({ ...structuredClone(schema1), method: 'train-free', tree: null })!;
    assert.equal(r.tree, null);
    assert.equal(r.schema, RESULT_SCHEMA);
  });

  test('current results pass through; anything else is refused', () => {
    const current = { schema: RESULT_SCHEMA, status: 'ok' };
    assert.equal(upgradeResult(current), current);
    for (const bad of [null, 3, 'x', [], { schema: 'dtd-lens/result@0' }, { schema: 'dtd-lens/audit@1' }, {}]) assert.equal(upgradeResult(bad), null, JSON.stringify(bad));
  });
});
