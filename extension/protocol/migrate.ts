// Reading results written by older versions (Recent Runs, saved JSON): each
// schema is upgraded to the current one here, and nowhere else.
//   @1 → @2: tree entries renamed to the glossary (relevanceOfUnit → relevanceAtInput,
//   unresolvedRelevance → relevanceAtRoot, relevanceSum → passedOn, rootRelevance →
//   upperRelevance, rootLogit/inputLogit → outputAtRoot/outputAtInput) and their
//   checks gathered in `checks` as a root's; layer diagnostics gain `conserved`;
//   `provenance` (engine version unknown, no model hash).
//   @2 → @3: a result may leave parts out of its message (`paged`, protocol/pages.ts: the
//   root tree below its top level, large layers); a @2 result has everything inline, which
//   @3 still allows, so only the schema changes. The host splits an old stored run into
//   its view and a page file the first time it opens it (runStore.ts).

import { checkDefinitions, isConserved, relevanceVanishes } from './checks';
import { RESULT_SCHEMA, type ExplainResult } from './result';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function upgradeTreeEntry(e: Obj): Obj {
  const { relevanceOfUnit, unresolvedRelevance, relevanceSum, rootRelevance, rootLogit, inputLogit, inRegion, inDomain, crossing, ...rest } = e;
  return {
    ...rest,
    relevanceAtInput: relevanceOfUnit,
    relevanceAtRoot: unresolvedRelevance,
    passedOn: relevanceSum,
    upperRelevance: rootRelevance,
    outputAtRoot: rootLogit,
    outputAtInput: inputLogit,
    checks: {
      relevanceZero: relevanceVanishes(Number(unresolvedRelevance), Number(relevanceOfUnit)),
      inRegion: inRegion === true,
      inDomain: inDomain === true,
      crossing: inRegion === true ? null : typeof crossing === 'string' ? crossing : null,
    },
  };
}

/** The result in the current schema, or null when it is not a result this version can read. */
export function upgradeResult(v: unknown): ExplainResult | null {
  if (!isObj(v)) return null;
  if (v.schema === RESULT_SCHEMA) return v as unknown as ExplainResult;
  if (v.schema === 'dtd-lens/result@2') return { ...v, schema: RESULT_SCHEMA } as unknown as ExplainResult;
  if (v.schema !== 'dtd-lens/result@1') return null;
  const diagnostics = isObj(v.diagnostics) ? v.diagnostics : { layers: [] };
  const layers = Array.isArray(diagnostics.layers) ? diagnostics.layers : [];
  return {
    ...v,
    schema: RESULT_SCHEMA,
    provenance: { engineVersion: 'unknown (schema 1)', modelSha256: null },
    tree: Array.isArray(v.tree) ? v.tree.map((e) => (isObj(e) ? upgradeTreeEntry(e) : e)) : null,
    diagnostics: {
      ...diagnostics,
      checkDefinitions: checkDefinitions(v.method === 'full-backward' && v.rootFinder !== 'linear' ? 'gradient' : 'pattern'),
      layers: layers.map((d) => (isObj(d) ? { ...d, conserved: isConserved(Number(d.relevanceSum), Number(d.explainedValue)) } : d)),
    },
  } as unknown as ExplainResult;
}
