// The one parser for rule text, for every method: a rule with its parameter
// ("z+", "gamma=0.5", "zB=0,1", "zB=[l1 l2 l3],[h1 h2 h3]", "epsilon=1e-6")
// and a rule per layer, zennit-style composites ("layer1=zB=0,1;*=z+"): a
// layer by name or 1-based index, by type ("dense", "conv"), or '*' for the
// rest, the most specific key winning. Names and aliases, parameters and the
// methods a rule applies to all come from the vocabulary (protocol/rules.ts).

import { DtdError } from '../errors';
import { findRule, RULE_PRESET_NAMES, RULE_PRESETS, rulesFor, ruleUsage, type KnownRule, type Method, type RuleSpec } from '../../protocol';
import { quoteName } from '../../protocol';

/** What the parser needs of a layer: its name and, when known, its type (pooling layers take no rule). */
export interface RuleLayer {
  name: string;
  kind?: string;
}

/** Layer kinds that take no rule: pooling (winner takes all / proportional), joins (Norm / slices) and affine layers (gradient). */
const NO_RULE = new Set(['maxpool2d', 'avgpool2d', 'add', 'concat', 'affine']);
/** Layer types a per-layer key may name, and the layer kinds each covers. */
const TYPE_KEYS: Record<string, readonly string[]> = { dense: ['dense'], conv: ['conv2d', 'convtranspose2d'], conv2d: ['conv2d'], convtranspose: ['convtranspose2d'] };

/** A named composite (protocol RULE_PRESETS) as per-layer rule text for these layers. */
function presetText(name: string, layers: readonly RuleLayer[]): string | null {
  const p = RULE_PRESETS[name.trim().toLowerCase()];
  if (!p) return null;
  const first = layers.findIndex((l) => l.kind === 'dense' || l.kind === 'conv2d' || l.kind === 'convtranspose2d');
  return `${p.first && first >= 0 ? `${first + 1}=${p.first};` : ''}conv=${p.conv};dense=${p.dense};*=z+`;
}

function ruleWord(method: Method): string {
  return method === 'lrp' ? 'LRP rule' : 'rule';
}

/** "z+ (or zplus), …" for a method, from the vocabulary. */
export function rulesHelp(method: Method): string {
  return rulesFor(method)
    .map((r) => ruleUsage(r) + (r.aliases.length ? ` (or ${r.aliases.join(', ')})` : ''))
    .join(', ');
}

function unknownRule(token: string, method: Method): DtdError {
  const head = `Unknown ${ruleWord(method)} '${token}'.`;
  return new DtdError('bad-usage', `${head} Rules for method ${method}: ${rulesHelp(method)}. Per layer: "layer1=zB=0,1;*=z+".${method === 'lrp' ? ` Named composites: ${RULE_PRESET_NAMES.join(', ')}.` : ''}`);
}

function notForMethod(r: KnownRule, method: Method): DtdError {
  return new DtdError('bad-usage', `Rule ${r.name} applies to method ${r.methods.join(', ')} only, not ${method}. Rules for method ${method}: ${rulesHelp(method)}.`);
}

/** The vocabulary entry for a name or alias that applies to `method`, or a bad-usage error naming the token. */
export function lookupRule(name: string, method: Method): KnownRule {
  const r = findRule(name);
  if (!r) throw unknownRule(name.trim(), method);
  if (!r.methods.includes(method)) throw notForMethod(r, method);
  return r;
}

/** Box bounds "LOW,HIGH": scalars or per channel "[l1 l2 l3],[h1 h2 h3]", LOW ≤ HIGH everywhere. */
function parseBounds(text: string, rule: string): { low: number | number[]; high: number | number[] } {
  const bad = () => new DtdError('bad-usage', `Rule ${rule}: bounds must be LOW,HIGH with LOW ≤ HIGH (e.g. "${rule}=0,1") or per channel "${rule}=[l1 l2 l3],[h1 h2 h3]"; got '${text}'.`);
  const one = (t: string): number | number[] => {
    const s = t.trim();
    if (s.startsWith('[') && s.endsWith(']')) {
      const v = s.slice(1, -1).trim().split(/[\s,]+/).filter(Boolean).map(Number);
      if (!v.length || v.some((n) => !Number.isFinite(n))) throw bad();
      return v;
    }
    const n = s === '' ? NaN : Number(s);
    if (!Number.isFinite(n)) throw bad();
    return n;
  };
  const m = /^\s*(\[[^\]]*\]|[^,[\]]+)\s*,\s*(\[[^\]]*\]|[^,[\]]+)\s*$/.exec(text);
  if (!m) throw bad();
  const low = one(m[1]), high = one(m[2]);
  const lows = Array.isArray(low) ? low : [low], highs = Array.isArray(high) ? high : [high];
  if (Array.isArray(low) && Array.isArray(high) && low.length !== high.length) throw bad();
  for (let i = 0; i < Math.max(lows.length, highs.length); i++) {
    if (!(lows[Math.min(i, lows.length - 1)] <= highs[Math.min(i, highs.length - 1)])) throw bad();
  }
  return { low, high };
}

/** One rule from text, e.g. "z+", "zplus", "gamma=0.5", "zB=0,1", "epsilon=1e-6"; `method` says which rules apply. */
export function parseRule(text: string, method: Method = 'train-free'): RuleSpec {
  const t = text.trim();
  const eq = t.indexOf('=');
  const rule = lookupRule(eq < 0 ? t : t.slice(0, eq), method);
  const arg = eq < 0 ? null : t.slice(eq + 1).trim();
  const p = rule.param;
  if (!p) {
    if (arg !== null) throw new DtdError('bad-usage', `Rule ${rule.name} takes no parameter (got '${t}').`);
    return { name: rule.name };
  }
  if (p.kind === 'box') return { name: rule.name, ...(arg === null ? p.default : parseBounds(arg, rule.name)) };
  if (arg === null) return { name: rule.name, [p.key]: p.default };
  const v = Number(arg);
  if (arg === '' || !Number.isFinite(v) || v < 0) throw new DtdError('bad-usage', `Rule ${rule.name}: ${p.symbol} must be a number ≥ 0, got '${arg}'.`);
  return { name: rule.name, [p.key]: v };
}

/** A rule given as an object: its name may be an alias (made canonical); it must apply to `method`. */
export function checkRuleSpec(spec: RuleSpec, method: Method): RuleSpec {
  const r = lookupRule(String(spec?.name ?? ''), method);
  return r.name === spec.name ? spec : { ...spec, name: r.name };
}

/** The canonical text of a rule with its parameter: "z+", "gamma=0.25", "zB=0,1", "zB=[0 0 0],[1 1 1]", "epsilon=0.000001". */
export function ruleToText(spec: RuleSpec): string {
  const r = findRule(spec.name);
  const p = r?.param;
  if (!r || !p) return spec.name;
  if (p.kind === 'box') return `${r.name}=${fmtBound(spec.low ?? p.default.low)},${fmtBound(spec.high ?? p.default.high)}`;
  return `${r.name}=${spec[p.key] ?? p.default}`;
}
function fmtBound(b: number | number[]): string {
  return Array.isArray(b) ? `[${b.join(' ')}]` : String(b);
}

/** Whether text is a per-layer map (its first key names a layer, a type or '*') rather than one rule. */
function isLayerMap(text: string, layers: readonly RuleLayer[]): boolean {
  if (text.includes(';')) return true;
  const eq = text.indexOf('=');
  if (eq < 0) return false;
  const key = text.slice(0, eq).trim();
  if (key === '*' || /^layer\d+$/i.test(key) || /^\d+$/.test(key) || layers.some((l) => l.name === key)) return true;
  return key.toLowerCase() in TYPE_KEYS && !findRule(key);
}

/**
 * A rule for every layer. `rule`: one rule (text or object) for all layers, one
 * object per layer, or text "layer1=zB=0,1;*=z+" — keys are a layer's name or
 * 1-based index ("layer2", "2"), a type ("dense", "conv") or '*'; a layer takes
 * its own key's rule, else its type's, else '*'. Pooling layers take no rule
 * (z+ stands in when none is given). Default: z+ everywhere.
 */
export function parseRuleMap(rule: string | RuleSpec | readonly RuleSpec[] | undefined, layers: readonly RuleLayer[], method: Method): RuleSpec[] {
  const n = layers.length;
  if (rule === undefined) return layers.map((): RuleSpec => ({ name: 'z+' }));
  if (Array.isArray(rule)) {
    if (rule.length !== n) throw new DtdError('bad-usage', `${rule.length} rules given for ${n} layers.`);
    return rule.map((r) => checkRuleSpec(r, method));
  }
  if (typeof rule !== 'string') {
    const spec = checkRuleSpec(rule as RuleSpec, method);
    return layers.map(() => spec);
  }
  const text = presetText(rule, layers) ?? rule.trim();
  if (!isLayerMap(text, layers)) {
    const spec = parseRule(text, method);
    return layers.map(() => spec);
  }
  const word = ruleWord(method);
  const byLayer: (RuleSpec | null)[] = layers.map(() => null);
  const byType = new Map<string, RuleSpec>();
  let fallback: RuleSpec | null = null;
  for (const part of text.split(';').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new DtdError('bad-usage', `Per-layer ${word} '${part}' must look like layer1=zB=0,1 or *=z+.`);
    const key = part.slice(0, eq).trim();
    const spec = parseRule(part.slice(eq + 1), method);
    if (key === '*') {
      fallback = spec;
      continue;
    }
    let idx = layers.findIndex((l) => l.name === key);
    const m = /^layer(\d+)$/i.exec(key) ?? /^(\d+)$/.exec(key);
    if (idx < 0 && m) idx = Number(m[1]) - 1;
    if (idx < 0 && key.toLowerCase() in TYPE_KEYS) {
      for (const kind of TYPE_KEYS[key.toLowerCase()]) byType.set(kind, spec);
      continue;
    }
    if (idx < 0 || idx >= n) {
      throw new DtdError('bad-usage', `Per-layer ${word} names '${key}', but the network's layers are ${layers.map((l) => l.name).join(', ')} (or layer1..layer${n}, a type ${Object.keys(TYPE_KEYS).join('/')}, or '*').`);
    }
    byLayer[idx] = spec;
  }
  return byLayer.map((s, i) => {
    const kind = layers[i].kind;
    const r = s ?? (kind !== undefined ? byType.get(kind) : undefined) ?? fallback;
    if (r) return r;
    if (kind !== undefined && NO_RULE.has(kind)) return { name: 'z+' }; // pooling, join and affine layers take no rule
    throw new DtdError('bad-usage', `No ${word} for ${quoteName(layers[i].name)}: add '*=z+' (or another rule) for the remaining layers.`);
  });
}
