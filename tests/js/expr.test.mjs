// The field app's expression evaluator on the corpus the server's runs
// too (tests/expr/corpus.json; the Rust side: src/expr/mod.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse, evaluate } from '../../src/webui/field/app/expr.js';

const cases = JSON.parse(readFileSync(new URL('../expr/corpus.json', import.meta.url), 'utf8'));

function want(w) {
  if ('b' in w) return { b: w.b };
  if ('s' in w) return { s: w.s };
  if ('n' in w) return { n: typeof w.n === 'string' ? Number(w.n) : w.n };
  return null;
}

test('the corpus', () => {
  assert.ok(cases.length >= 250);
  const failed = [];
  for (const c of cases) {
    let got;
    try {
      got = evaluate(parse(c.expr), { top: c.top ?? {}, row: c.row, current: c.current });
    } catch (e) {
      if (!e.reason) throw e;
      got = null;
    }
    const w = want(c.want);
    const ok = w === null ? got === null
      : got !== null && JSON.stringify(Object.keys(w)) === JSON.stringify(Object.keys(got))
        && (Object.is(Object.values(w)[0], Object.values(got)[0]) || Object.values(w)[0] === Object.values(got)[0]);
    if (!ok) failed.push(`${c.expr.slice(0, 80)}: want ${JSON.stringify(c.want)}, got ${JSON.stringify(got)}`);
  }
  assert.deepEqual(failed, []);
});

test('errors are in Chinese and say where', () => {
  try {
    parse('${a} = = 1');
    assert.fail('parsed');
  } catch (e) {
    assert.equal(e.at, 7);
    assert.match(e.message, /^第 8 个字符处/);
    assert.doesNotMatch(e.reason, /[A-Za-z]/);
  }
});

test('hostile expressions are refused, not a stack overflow', () => {
  assert.throws(() => parse(`${'('.repeat(10000)}1${')'.repeat(10000)}`), /字符/);
  assert.throws(() => parse(`'${'a'.repeat(1 << 20)}'`), /字符/);
  assert.throws(() => parse(`${'('.repeat(2000)}1${')'.repeat(2000)}`), /嵌套/);
  assert.throws(() => parse(`${'not('.repeat(800)}1${')'.repeat(800)}`), /嵌套/);
  assert.throws(() => parse(`${'-'.repeat(4000)}1`), /嵌套/);
});
