// Evaluates a file of cases ([{expr, top, row?, current?}]) with the field
// app's evaluator and prints the results as JSON: the cross-evaluator
// property test (tests/api/client_js.rs) compares them with the server's.
import { readFileSync } from 'node:fs';
import { parse, evaluate } from '../../src/webui/field/app/expr.js';

const enc = (v) => ('n' in v && !Number.isFinite(v.n) ? { n: String(v.n) } : v);
const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const out = cases.map((c) => {
  try {
    return enc(evaluate(parse(c.expr), { top: c.top ?? {}, row: c.row, current: c.current }));
  } catch (e) {
    if (!e.reason) throw e;
    return { error: true };
  }
});
process.stdout.write(JSON.stringify(out));
