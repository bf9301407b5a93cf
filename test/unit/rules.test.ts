// The rule registry (engine/rules/registry.ts over protocol/rules.ts) and its
// one parser (engine/rules/parse.ts): aliases, per-layer maps for every method,
// errors that list the registry's names, and that each record's kernels are
// the ones the methods run.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveLrpRules, lrpRuleText } from '../../extension/engine/baselines';
import { isDtdError } from '../../extension/engine/errors';
import { explain } from '../../extension/engine/explain';
import type { Network } from '../../extension/engine/network';
import { direction, directionDerivative, parseRule, resolveRules, singleNeuronRoot } from '../../extension/engine/rules';
import { lookupRule, parseRule as parseRuleFor, parseRuleMap, ruleToText, type RuleLayer } from '../../extension/engine/rules/parse';
import { ruleRecord, RULE_REGISTRY } from '../../extension/engine/rules/registry';
import { findRule, METHODS, RULES, RULE_NAMES, rulesFor, type Method, type RuleSpec } from '../../extension/protocol';

function dense(name: string, W: number[][], b: number[]) {
  return { kind: 'dense' as const, name, inFeatures: W[0].length, outFeatures: W.length, weight: Float64Array.from(W.flat()), bias: Float64Array.from(b), activation: 'relu' as const };
}
/** The 3-3-1 network of the engine issue: f(x) = 0.65 at x = (1, 1, 2). */
const net331: Network = {
  inputSize: 3,
  layers: [dense('layer1', [[1, -0.5, 0.5], [-1, 2, 0.25], [-1, -1, 0.5]], [-0.25, -0.5, -0.5]), dense('layer2', [[1, -0.5, 0.8]], [-0.1])],
  outputSelection: null,
  source: { format: 'test', file: 'net331' },
  notes: [],
};
const x331 = [1, 1, 2];

/** Expects a bad-usage DtdError whose message matches every pattern; returns the message. */
function usageError(fn: () => unknown, ...patterns: RegExp[]): string {
  let message = '';
  assert.throws(fn, (e: unknown) => {
    assert.ok(isDtdError(e), `not a DtdError: ${String(e)}`);
    assert.equal(e.code, 'bad-usage');
    message = e.message;
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
  return message;
}

const ALIASES: [string, string][] = [
  ['zplus', 'z+'],
  ['ZPlus', 'z+'],
  ['wsquare', 'w2'],
  ['zbox', 'zB'],
  ['zb', 'zB'],
  ['lrp0', 'x'],
  ['LRP-0', 'x'],
  ['alpha2_beta1', 'alpha2beta1'],
  ['eps', 'epsilon'],
  ['γ', 'gamma'],
];

describe('the rule registry', () => {
  test('one record per vocabulary name, with the kernels its methods need', () => {
    assert.deepEqual(RULE_REGISTRY.map((r) => r.name), [...RULE_NAMES]);
    assert.deepEqual([...RULE_NAMES], ['z+', 'w2', 'x', 'gamma', 'zB', '0', 'pinv', 'epsilon', 'alpha2beta1']);
    for (const r of RULE_REGISTRY) {
      const m = r.methods as readonly Method[];
      assert.equal(!!r.dtd, m.includes('train-free') || m.includes('full-backward'), `${r.name}: DTD kernels ⇔ a DTD method`);
      assert.equal(!!r.lrp, m.includes('lrp'), `${r.name}: LRP kernel ⇔ method lrp`);
      if (m.includes('full-backward')) assert.notEqual(r.dtd!.root.kind, 'layer', `${r.name}: full-backward needs a root per unit`);
      assert.ok(r.summary.length > 10, `${r.name} has a summary`);
    }
  });
  test('names and aliases are unique after normalisation', () => {
    const seen = new Map<string, string>();
    for (const r of RULES) {
      for (const s of [r.name, ...r.aliases]) {
        const k = s.toLowerCase().replace(/[-_\s]/g, '');
        assert.ok(!seen.has(k), `'${s}' (${r.name}) collides with ${seen.get(k)}`);
        seen.set(k, r.name);
      }
    }
  });
  test('aliases parse to the same record and the same rule, for every method the rule applies to', () => {
    for (const [alias, name] of ALIASES) {
      assert.equal(findRule(alias)?.name, name, alias);
      assert.equal(ruleRecord(alias), ruleRecord(name), `${alias}: same record`);
      for (const m of findRule(name)!.methods) {
        assert.deepEqual(parseRuleFor(alias, m), parseRuleFor(name, m), `${alias} (${m})`);
      }
    }
    assert.deepEqual(parseRule('zbox=0,2'), { name: 'zB', low: 0, high: 2 });
    assert.deepEqual(parseRule('zplus'), { name: 'z+' });
    assert.deepEqual(parseRuleFor('wsquare', 'lrp'), { name: 'w2' });
    assert.deepEqual(parseRuleFor('epsilon', 'lrp'), { name: 'epsilon', epsilon: 1e-6 });
    assert.deepEqual(parseRuleFor('eps=0.01', 'lrp'), { name: 'epsilon', epsilon: 0.01 });
    // Objects may use an alias too; it becomes the canonical name.
    assert.deepEqual(resolveRules({ name: 'zplus' } as unknown as RuleSpec, 2, ['a', 'b']), [{ name: 'z+' }, { name: 'z+' }]);
  });
  test('parameters: defaults, values, per-channel boxes, and canonical text that parses back', () => {
    assert.deepEqual(parseRule('gamma'), { name: 'gamma', gamma: 0.25 });
    assert.deepEqual(parseRule('zB'), { name: 'zB', low: 0, high: 1 });
    assert.deepEqual(parseRule('zB=[0 -1],[1 2]'), { name: 'zB', low: [0, -1], high: [1, 2] });
    for (const m of METHODS) {
      for (const r of rulesFor(m)) {
        const spec = parseRuleFor(r.name, m);
        assert.deepEqual(parseRuleFor(ruleToText(spec), m), spec, `${r.name} (${m}) round-trips through '${ruleToText(spec)}'`);
      }
    }
    assert.equal(ruleToText({ name: 'zB', low: [0, 0], high: [1, 2] }), 'zB=[0 0],[1 2]');
    usageError(() => parseRule('gamma=-1'), /γ must be a number ≥ 0, got '-1'/);
    usageError(() => parseRule('gamma='), /γ must be a number ≥ 0/);
    usageError(() => parseRule('z+=1'), /Rule z\+ takes no parameter/);
    usageError(() => parseRule('zbox=1,0'), /Rule zB: bounds must be LOW,HIGH with LOW ≤ HIGH/);
    usageError(() => parseRule('zB=0'), /bounds/);
  });
});

describe('one parser for rule text and per-layer maps', () => {
  const layers = (n: number): RuleLayer[] => Array.from({ length: n }, (_, i) => ({ name: `layer${i + 1}`, kind: 'dense' }));
  test('a per-layer map parses the same for the DTD methods and LRP', () => {
    const text = 'layer1=zbox=0,1;*=zplus';
    const want = [{ name: 'zB', low: 0, high: 1 }, { name: 'z+' }, { name: 'z+' }];
    for (const m of METHODS) assert.deepEqual(parseRuleMap(text, layers(3), m), want, m);
    assert.deepEqual(resolveRules(text, 3, ['layer1', 'layer2', 'layer3']), want);
    assert.deepEqual(resolveLrpRules(text, { ...net331, layers: [...net331.layers, { ...net331.layers[1], name: 'layer3' }] }, true), want.map((r) => ({ ...r, zeroBias: true })));
    // Names, 1-based indices, canonical and zennit spellings mixed.
    assert.deepEqual(parseRuleMap('2=w2; layer1 = gamma=0.5 ;*=x', layers(3), 'lrp'), [{ name: 'gamma', gamma: 0.5 }, { name: 'w2' }, { name: 'x' }]);
  });
  test('layers by type, the most specific key winning; pooling layers take no rule', () => {
    const conv: RuleLayer[] = [
      { name: 'conv1', kind: 'conv2d' },
      { name: 'pool', kind: 'maxpool2d' },
      { name: 'conv2', kind: 'conv2d' },
      { name: 'fc', kind: 'dense' },
    ];
    for (const m of ['train-free', 'lrp'] as const) {
      assert.deepEqual(
        parseRuleMap('conv1=zB=0,1;conv=gamma;dense=w2', conv, m),
        [{ name: 'zB', low: 0, high: 1 }, { name: 'z+' }, { name: 'gamma', gamma: 0.25 }, { name: 'w2' }],
        m,
      );
      assert.deepEqual(parseRuleMap('dense=x;*=z+', conv, m).map((r) => r.name), ['z+', 'z+', 'z+', 'x']);
    }
    usageError(() => parseRuleMap('conv=z+', conv, 'train-free'), /No rule for 'fc': add '\*=z\+'/);
    usageError(() => parseRuleMap('conv=z+', conv, 'lrp'), /No LRP rule for 'fc'/);
  });
  test('map errors name the bad key and the layers', () => {
    usageError(() => resolveRules('layer7=z+;*=w2', 2, ['layer1', 'layer2']), /names 'layer7'/, /layer1, layer2/);
    usageError(() => resolveRules('layer1;*=w2', 2, ['layer1', 'layer2']), /'layer1' must look like layer1=zB=0,1 or \*=z\+/);
    usageError(() => resolveRules('layer1=z+', 2, ['layer1', 'layer2']), /No rule for 'layer2'/);
    usageError(() => parseRuleMap([{ name: 'z+' }], layers(2), 'train-free'), /1 rules given for 2 layers/);
  });
  test('an unknown rule is a usage error that names the token and lists the registry names for the method', () => {
    for (const m of METHODS) {
      const msg = usageError(() => parseRuleMap('layer1=zplux;*=z+', layers(2), m), new RegExp(`Unknown ${m === 'lrp' ? 'LRP rule' : 'rule'} 'zplux'`), new RegExp(`Rules for method ${m}:`));
      const listed = msg.slice(msg.indexOf(':') + 1);
      for (const r of RULES) {
        const token = r.name.replace(/[+]/g, '\\+');
        const applies = (r.methods as readonly Method[]).includes(m);
        assert.equal(new RegExp(`(^|[ ,|])${token}(\\[|[ ,.(]|$)`).test(listed), applies, `${m}: '${r.name}' listed ⇔ it applies (${msg})`);
      }
      assert.match(msg, /z\+ \(or zplus\)/);
    }
  });
  test('a rule of another method says which methods take it', () => {
    usageError(() => parseRule('epsilon=1e-3'), /Rule epsilon applies to method lrp only, not train-free/);
    usageError(() => parseRuleMap('alpha2beta1', [{ name: 'a' }], 'full-backward'), /Rule alpha2beta1 applies to method lrp only/);
    usageError(() => parseRuleMap('pinv', [{ name: 'a' }], 'full-backward'), /Rule pinv applies to method train-free only, not full-backward/);
    usageError(() => parseRuleMap('*=0', [{ name: 'a' }], 'lrp'), /Rule 0 applies to method train-free, full-backward only, not lrp/);
    assert.equal(lookupRule('ZBOX', 'lrp').name, 'zB');
  });
});

describe('the methods dispatch through the records', () => {
  test('DTD search directions and their derivatives come from the records', () => {
    const w = [1, -2, 0.5], a = [2, 3, 4];
    const v = (spec: RuleSpec) => Array.from(direction(spec, w, a, new Float64Array(3)));
    assert.deepEqual(v({ name: 'z+' }), [2, 0, 4]);
    assert.deepEqual(v({ name: 'w2' }), [1, -2, 0.5]);
    assert.deepEqual(v({ name: 'x' }), [2, 3, 4]);
    assert.deepEqual(v({ name: 'gamma', gamma: 0.5 }), [3, 3, 6]);
    assert.deepEqual(v({ name: 'zB', low: 1, high: 5 }), [1, -2, 3]);
    assert.deepEqual([1, -2].map((wi) => directionDerivative({ name: 'gamma', gamma: 0.5 }, wi)), [1.5, 1]);
    assert.deepEqual([1, -2].map((wi) => directionDerivative({ name: 'z+' }, wi)), [1, 0]);
    assert.equal(directionDerivative({ name: 'pinv' }, 1), 0);
    assert.deepEqual(Array.from(singleNeuronRoot({ name: '0' }, w, a, 1).root!), [0, 0, 0]);
    assert.throws(() => singleNeuronRoot({ name: 'pinv' }, w, a, 1), /layer rule/);
    // z+: v·w = 2 + 2 = 4, t = 2/4, root = a − t·v.
    assert.deepEqual(Array.from(singleNeuronRoot({ name: 'z+' }, w, a, 2).root!), [1, 3, 2]);
    assert.throws(() => direction({ name: 'epsilon' }, w, a, new Float64Array(3)), /LRP rule/);
  });
  test('aliases give the same numbers as the canonical names (train-free and LRP)', async () => {
    const pairs: [string, string, Method][] = [
      ['zplus', 'z+', 'train-free'],
      ['layer1=zbox=0,2;*=zplus', 'layer1=zB=0,2;*=z+', 'train-free'],
      ['wsquare', 'w2', 'lrp'],
      ['layer1=zbox=0,2;*=zplus', 'layer1=zB=0,2;*=z+', 'lrp'],
    ];
    for (const [alias, name, method] of pairs) {
      const a = await explain(net331, x331, { rule: alias, method, baselines: false });
      const b = await explain(net331, x331, { rule: name, method, baselines: false });
      assert.deepEqual(a.relevance, b.relevance, `${alias} = ${name} (${method})`);
      assert.deepEqual(a.rules, b.rules, 'results name the rules canonically');
    }
    const lrp = await explain(net331, x331, { rule: 'layer1=zbox=0,2;*=zplus', method: 'lrp', zeroBias: true, baselines: false });
    assert.deepEqual(lrp.rules, ['zB=0,2', 'z+ (zero bias)']);
    assert.equal(lrpRuleText({ name: 'epsilon', epsilon: 1e-6, zeroBias: false }, net331.layers[0]), 'epsilon=0.000001');
  });
  test('LRP x (LRP-0) is the ε rule with only the stabiliser', async () => {
    const x0 = await explain(net331, x331, { rule: 'x', method: 'lrp', baselines: false });
    const eps = await explain(net331, x331, { rule: 'epsilon=1e-6', method: 'lrp', baselines: false });
    assert.deepEqual(x0.relevance, eps.relevance);
    assert.deepEqual(x0.rules, ['x', 'x']);
  });
});
