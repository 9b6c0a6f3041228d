// The field app's checklist rules on the cases the server's run too
// (tests/expr/checklists.json; the Rust side: src/inspection/checklist.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { compile, checks } from '../../src/webui/field/app/checklist.js';

const cases = JSON.parse(readFileSync(new URL('../expr/checklists.json', import.meta.url), 'utf8'));

test('the shared checklist cases', () => {
  assert.ok(cases.length >= 10);
  for (const c of cases) {
    const got = checks(compile(c.items), c.fields, new Set(c.photos ?? []));
    delete got.hidden;
    assert.deepEqual(got, c.want, c.name);
  }
});

test('a hidden section hides its items and a hidden row item its path', () => {
  const c = cases.find((x) => x.name.startsWith('无水流'));
  const got = checks(compile(c.items), c.fields);
  for (const k of ['flow', 'color', 'odor', 'odor_kind']) assert.ok(got.hidden.has(k), k);
  assert.ok(!got.hidden.has('overflow'));
});
