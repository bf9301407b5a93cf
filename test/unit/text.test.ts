// Text from a file is data, never markup (protocol/text.ts): names are quoted,
// escaped and capped; whole messages can never carry a link VS Code would
// render, a control character or an unbounded length; describing any value
// never throws; approxBytes bounds a reply's size cheaply.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { approxBytes, capText, describeValue, escapeName, LIMITS, logText, plainText, quoteName, quoteNames } from '../../extension/protocol';

/** VS Code's notification link syntax (vs/base/common/linkedText.ts), verbatim. */
const VSCODE_LINK = /\[([^\]]+)\]\(((?:https?:\/\/|command:|file:)[^\)\s]+)(?: (["'])(.+?)(\3))?\)/gi;
const hasLink = (s: string) => new RegExp(VSCODE_LINK.source, 'gi').test(s);
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200b-\u200f]/;
const LINK_NAME = '[click](command:workbench.action.quit)';

describe('quoteName / escapeName', () => {
  test('a markdown command link becomes inert look-alike text in quotes', () => {
    const q = quoteName(LINK_NAME);
    assert.equal(q, "'［click］（command:workbench.action.quit）'");
    assert.ok(!hasLink(q));
    assert.ok(!hasLink(`DTD Lens: model.onnx: node ${q} (Foo) is not supported.`));
    assert.ok(!/[[\]()]/.test(escapeName(LINK_NAME)));
  });

  test('links with arguments, https and file links, HTML and backticks are neutralised', () => {
    for (const name of [
      '[x](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22rm%22%7D)',
      '[x](https://evil.example "title")',
      '[x](file:///etc/passwd)',
      '<img src=x onerror=alert(1)>',
      '`code` and <b>bold</b>',
    ]) {
      const q = quoteName(name);
      assert.ok(!hasLink(q), q);
      assert.ok(!/[<>`[\]()]/.test(q), q);
    }
  });

  test('control, bidi and zero-width characters become visible escapes', () => {
    const q = quoteName('a\nb\u0000c\u001b[31md\u202ee\u200bf\u2066g');
    assert.ok(!CONTROL.test(q), q);
    assert.match(q, /\\u000a/);
    assert.match(q, /\\u202e/);
    // A zero-width character between `]` and `(` cannot hide a link once stripped elsewhere.
    assert.ok(!hasLink(plainText(`x ${'[a]\u200b(command:x)'} y`)));
  });

  test('single quotes inside the name are escaped; plain names stay readable', () => {
    assert.equal(quoteName("it's"), "'it\\'s'");
    assert.equal(quoteName('features.0.weight'), "'features.0.weight'");
    assert.equal(quoteName('/features/features.0/Conv'), "'/features/features.0/Conv'");
    assert.equal(quoteName(42), "'42'");
  });

  test('long names are capped with an ellipsis, whole code points only', () => {
    const q = escapeName('x'.repeat(10_000));
    assert.equal(Array.from(q).length, LIMITS.nameChars);
    assert.ok(q.endsWith('…'));
    const astral = escapeName('😀'.repeat(500), 10);
    assert.equal(Array.from(astral).length, 10);
    assert.ok(!/[\ud800-\udbff](?![\udc00-\udfff])/.test(astral), 'no half surrogate pair');
    assert.equal(escapeName('😀😀', 2), '😀😀');
    assert.equal(capText('abc', 3), 'abc');
    assert.equal(capText('abcd', 3), 'ab…');
  });

  test('10 000 names: a list shows ten and counts the rest', () => {
    const names = Array.from({ length: 10_000 }, (_, i) => `layer${i}.[x](command:y)`);
    const s = quoteNames(names);
    assert.ok(s.length < 10 * (LIMITS.nameChars + 4) + 40, `${s.length} chars`);
    assert.match(s, /and 9990 more$/);
    assert.ok(!hasLink(s));
    assert.equal(quoteNames(['a', 'b']), "'a', 'b'");
  });
});

describe('plainText (a whole message for a notification)', () => {
  test('no markdown link survives, shapes keep their brackets', () => {
    const msg = `model.json: layer ${LINK_NAME} expects [1, 28, 28] but gets [784].`;
    const p = plainText(msg);
    assert.ok(!hasLink(p), p);
    assert.match(p, /\[1, 28, 28\]/);
    assert.ok(!hasLink(plainText('[a]  (command:x) [b](command:y)')));
    assert.ok(!hasLink(plainText('[a]\n(command:x)')));
  });

  test('control characters and ANSI sequences are removed, line breaks become spaces', () => {
    const p = plainText('one\ntwo\r\nthree\u0007 \u001b[31mred\u001b[0m \u001b]8;;https://x\u0007link\u001b]8;;\u0007 \u202eevil');
    assert.ok(!CONTROL.test(p), JSON.stringify(p));
    assert.equal(p, 'one two three red link evil');
  });

  test('a message of hundreds of KB is capped', () => {
    const keys = Array.from({ length: 10_000 }, (_, i) => `'model.layers.${i}.mlp.down_proj.weight'`).join(', ');
    const p = plainText(`model.safetensors: these tensors are not Linear weights: ${keys}.`);
    assert.equal(Array.from(p).length, LIMITS.messageChars);
    assert.ok(p.endsWith('…'));
    assert.equal(plainText('short'), 'short');
  });

  test('anything can be passed', () => {
    assert.equal(plainText(undefined), 'undefined');
    assert.equal(plainText(Symbol('s')), 'Symbol(s)');
    assert.equal(plainText(Object.create(null)), '[object Object]');
  });
});

describe('logText (a log line)', () => {
  test('keeps line breaks but indents continuation lines, so no line can be forged', () => {
    const l = logText('error: bad\n2024-01-01 00:00:00.000 [info] engine: all good\u001b[2K');
    assert.equal(l, 'error: bad\n    2024-01-01 00:00:00.000 [info] engine: all good');
    assert.ok(!hasLink(logText(`x ${LINK_NAME}`)));
    assert.ok(logText('y'.repeat(1e6)).length <= LIMITS.logLineChars);
  });
});

describe('describeValue never throws', () => {
  test('BigInt, cycles, deep nesting, typed arrays, huge arrays, maps', () => {
    const cyclic: Record<string, unknown> = { type: 'explain', id: 1 };
    cyclic.self = cyclic;
    let deep: unknown = 0;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const cases: unknown[] = [
      { type: 'explain', id: 10n },
      cyclic,
      deep,
      new Uint8Array(1e6),
      new Array(1e6).fill(1),
      new Map<unknown, unknown>([[1n, cyclic]]),
      Symbol('x'),
      () => 1,
      'z'.repeat(1e6),
      Object.create(null),
      new Date(0),
      new Error('boom'),
    ];
    for (const c of cases) {
      const d = describeValue(c);
      assert.equal(typeof d, 'string');
      assert.ok(Array.from(d).length <= 200, d);
    }
    assert.match(describeValue({ id: 10n }), /10n/);
    assert.match(describeValue(cyclic), /\[cycle\]/);
    assert.match(describeValue(new Uint8Array(3)), /Uint8Array\(3 bytes\)/);
    assert.equal(describeValue({ a: [1, 'b', null] }), '{"a":[1,"b",null]}');
  });
});

describe('approxBytes', () => {
  test('counts numbers, strings and typed arrays; stops past the limit; ends on cycles', () => {
    assert.ok(approxBytes(new Array(1000).fill(1.5)) >= 8000);
    assert.ok(approxBytes(new Float64Array(1000)) >= 8000);
    assert.ok(approxBytes('x'.repeat(5000)) >= 5000);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.ok(approxBytes(cyclic, 1e4) > 1e4);
    const huge = { a: new Array(1e7).fill(0) };
    const t = Date.now();
    assert.ok(approxBytes(huge, 1e5) > 1e5);
    assert.ok(Date.now() - t < 200, 'stops early');
  });
});
