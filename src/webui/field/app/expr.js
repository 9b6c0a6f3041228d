// The checklist's expression language in the field app: the same grammar
// and the same values as the server's (src/expr/); both run the corpus in
// tests/expr/ and a property test holds them to the same results. Read
// src/expr/eval.rs for the rules of values; nothing here uses eval().

export const MAX_LEN = 4096;
export const MAX_DEPTH = 100;
export const MAX_STEPS = 10000;

export class ExprError extends Error {
  constructor(at, reason) {
    super(`第 ${at + 1} 个字符处:${reason}`);
    this.at = at;
    this.reason = reason;
  }
}

const FUNCS = {
  not: 1, selected: 2, 'count-selected': 1, count: 1, if: 3, 'string-length': 1, true: 0, false: 0,
};
const KEYWORDS = new Set(['and', 'or', 'div', 'mod']);
const isSpace = (c) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isDigit = (c) => c >= '0' && c <= '9';
const isAlpha = (c) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

function tokens(src) {
  const out = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    const start = i;
    if (isSpace(c)) { i += 1; continue; }
    let tok;
    if (c === "'" || c === '"') {
      const end = src.indexOf(c, i + 1);
      if (end < 0) throw new ExprError(start, '引号没有配对');
      tok = { t: 'str', v: src.slice(i + 1, end).join('') };
      i = end + 1;
    } else if (c === '$') {
      if (src[i + 1] !== '{') throw new ExprError(start, '引用须写成 ${名称}');
      const end = src.indexOf('}', i + 2);
      if (end < 0) throw new ExprError(start, '引用缺少 }');
      const name = src.slice(i + 2, end).join('');
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ExprError(start, `“${name}”不是检查项的编号`);
      tok = { t: 'ref', v: name };
      i = end + 1;
    } else if (isDigit(c) || c === '.') {
      let j = i;
      while (j < src.length && isDigit(src[j])) j += 1;
      if (j < src.length && src[j] === '.') {
        j += 1;
        while (j < src.length && isDigit(src[j])) j += 1;
      }
      const text = src.slice(i, j).join('');
      i = j;
      tok = text === '.' ? { t: 'dot' } : { t: 'num', v: parseFloat(text) };
    } else if (isAlpha(c)) {
      let j = i;
      while (j < src.length && (isAlpha(src[j]) || isDigit(src[j]) || src[j] === '-')) j += 1;
      const name = src.slice(i, j).join('');
      i = j;
      tok = KEYWORDS.has(name) ? { t: 'op', v: name } : { t: 'name', v: name };
    } else if (c === '(') { i += 1; tok = { t: '(' }; }
    else if (c === ')') { i += 1; tok = { t: ')' }; }
    else if (c === ',') { i += 1; tok = { t: ',' }; }
    else if ((c === '!' || c === '<' || c === '>') && src[i + 1] === '=') { i += 2; tok = { t: 'op', v: `${c}=` }; }
    else if ('=<>+-*'.includes(c)) { i += 1; tok = { t: 'op', v: c }; }
    else throw new ExprError(start, `不认识的符号“${c}”`);
    tok.at = start;
    out.push(tok);
  }
  return out;
}

const LEVELS = [['or'], ['and'], ['=', '!='], ['<', '<=', '>', '>='], ['+', '-'], ['*', 'div', 'mod']];

function node(at, e, below) {
  if (below + 1 > MAX_DEPTH) throw new ExprError(at, `嵌套超过 ${MAX_DEPTH} 层`);
  e.depth = below + 1;
  return e;
}

/** Parses an expression into a tree, or throws an ExprError saying where and why. */
export function parse(text) {
  const src = Array.from(String(text));
  if (src.length > MAX_LEN) throw new ExprError(MAX_LEN, `表达式超过 ${MAX_LEN} 个字符`);
  const toks = tokens(src);
  if (toks.length === 0) throw new ExprError(0, '表达式是空的');
  let at = 0;
  let depth = 0;
  const pos = () => (at < toks.length ? toks[at].at : src.length);
  const deeper = () => {
    depth += 1;
    if (depth > MAX_DEPTH) throw new ExprError(pos(), `嵌套超过 ${MAX_DEPTH} 层`);
  };
  const expect = (t, reason) => {
    if (toks[at]?.t === t) at += 1;
    else throw new ExprError(pos(), reason);
  };
  const level = (n) => {
    if (n === LEVELS.length) return unary();
    let left = level(n + 1);
    while (toks[at]?.t === 'op' && LEVELS[n].includes(toks[at].v)) {
      const p = pos();
      const op = toks[at].v;
      at += 1;
      const right = level(n + 1);
      left = node(p, { k: 'bin', op, l: left, r: right }, Math.max(left.depth, right.depth));
    }
    return left;
  };
  const unary = () => {
    if (toks[at]?.t === 'op' && toks[at].v === '-') {
      const p = pos();
      at += 1;
      deeper();
      const inner = unary();
      depth -= 1;
      return node(p, { k: 'neg', x: inner }, inner.depth);
    }
    return primary();
  };
  const primary = () => {
    const p = pos();
    const tok = toks[at];
    if (!tok) throw new ExprError(p, '表达式不完整');
    at += 1;
    switch (tok.t) {
      case 'str': return { k: 'str', v: tok.v, depth: 1 };
      case 'num': return { k: 'num', v: tok.v, depth: 1 };
      case 'ref': return { k: 'ref', v: tok.v, depth: 1 };
      case 'dot': return { k: 'cur', depth: 1 };
      case '(': {
        deeper();
        const inner = level(0);
        depth -= 1;
        expect(')', '缺少 )');
        return inner;
      }
      case 'name': {
        if (!Object.hasOwn(FUNCS, tok.v)) throw new ExprError(p, `不支持的函数“${tok.v}”`);
        expect('(', '函数名后须有 (');
        deeper();
        const args = [];
        let deepest = 0;
        if (toks[at]?.t !== ')') {
          for (;;) {
            const a = level(0);
            deepest = Math.max(deepest, a.depth);
            args.push(a);
            if (toks[at]?.t === ',') at += 1;
            else break;
          }
        }
        depth -= 1;
        expect(')', '缺少 )');
        if (args.length !== FUNCS[tok.v]) throw new ExprError(p, `${tok.v}() 需要 ${FUNCS[tok.v]} 个参数`);
        if (tok.v === 'count' && args[0].k !== 'ref') throw new ExprError(p, 'count() 的参数须是 ${重复组}');
        return node(p, { k: 'call', f: tok.v, args }, deepest);
      }
      default:
        throw new ExprError(p, '这里缺少一个值');
    }
  };
  const e = level(0);
  if (at < toks.length) throw new ExprError(pos(), '多出了内容');
  return e;
}

// Values: { s: text } | { n: number } | { b: boolean }.

/** XPath's number() of a text. */
export function textNumber(s) {
  let a = 0;
  let z = s.length;
  while (a < z && isSpace(s[a])) a += 1;
  while (z > a && isSpace(s[z - 1])) z -= 1;
  const t = s.slice(a, z);
  return /^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)$/.test(t) ? parseFloat(t) : NaN;
}

export function numberText(n) {
  if (Number.isNaN(n)) return 'NaN';
  if (n === 0) return '0';
  return String(n);
}

export function truth(v) {
  if ('b' in v) return v.b;
  if ('n' in v) return v.n !== 0 && !Number.isNaN(v.n);
  return v.s !== '';
}

export function number(v) {
  if ('n' in v) return v.n;
  if ('b' in v) return v.b ? 1 : 0;
  return textNumber(v.s);
}

export function text(v) {
  if ('s' in v) return v.s;
  if ('b' in v) return v.b ? 'true' : 'false';
  return numberText(v.n);
}

function answer(v) {
  if (v === undefined || v === null) return { s: '' };
  if (typeof v === 'boolean') return { s: v ? 'yes' : 'no' };
  if (typeof v === 'number') return { n: v };
  if (typeof v === 'string') return { s: v };
  if (Array.isArray(v)) return { s: v.filter((x) => typeof x === 'string').join(' ') };
  return { s: '' };
}

function lookup(a, key) {
  if (a.row && Object.hasOwn(a.row, key)) return a.row[key];
  return a.top && Object.hasOwn(a.top, key) ? a.top[key] : undefined;
}

const words = (s) => s.split(/[ \t\r\n]/).filter((w) => w !== '');

function equal(a, b) {
  if ('b' in a || 'b' in b) return truth(a) === truth(b);
  if ('n' in a || 'n' in b) {
    const x = number(a);
    const y = number(b);
    return Number.isNaN(x) || Number.isNaN(y) ? null : x === y;
  }
  return a.s === b.s;
}

/** -1, 0, 1, or null when the two do not compare. */
function order(a, b) {
  const cmp = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
  if ('s' in a && 's' in b) {
    const nx = textNumber(a.s);
    const ny = textNumber(b.s);
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) return cmp(nx, ny);
    if (a.s === '' || b.s === '') return null;
    // By code point, as the server compares (not by UTF-16 unit).
    const x = Array.from(a.s, (c) => c.codePointAt(0));
    const y = Array.from(b.s, (c) => c.codePointAt(0));
    for (let i = 0; i < Math.min(x.length, y.length); i += 1) if (x[i] !== y[i]) return cmp(x[i], y[i]);
    return cmp(x.length, y.length);
  }
  const x = number(a);
  const y = number(b);
  return Number.isNaN(x) || Number.isNaN(y) ? null : cmp(x, y);
}

function binary(op, a, b) {
  const o = () => order(a, b);
  switch (op) {
    case 'or': return { b: truth(a) || truth(b) };
    case 'and': return { b: truth(a) && truth(b) };
    case '=': return { b: equal(a, b) === true };
    case '!=': return { b: equal(a, b) !== true };
    case '<': { const r = o(); return { b: r !== null && r < 0 }; }
    case '<=': { const r = o(); return { b: r !== null && r <= 0 }; }
    case '>': { const r = o(); return { b: r !== null && r > 0 }; }
    case '>=': { const r = o(); return { b: r !== null && r >= 0 }; }
    case '+': return { n: number(a) + number(b) };
    case '-': return { n: number(a) - number(b) };
    case '*': return { n: number(a) * number(b) };
    case 'div': return { n: number(a) / number(b) };
    default: return { n: number(a) % number(b) };
  }
}

/**
 * Evaluates a parsed expression. `answers`: { top: {key: answer}, row?: {key: answer}, current?: answer }.
 * Returns { s } | { n } | { b }; throws an ExprError past MAX_STEPS.
 */
export function evaluate(e, answers) {
  let steps = 0;
  const ev = (x) => {
    steps += 1;
    if (steps > MAX_STEPS) throw new ExprError(0, `计算超过 ${MAX_STEPS} 步`);
    switch (x.k) {
      case 'str': return { s: x.v };
      case 'num': return { n: x.v };
      case 'ref': return answer(lookup(answers, x.v));
      case 'cur': return answer(answers.current);
      case 'neg': return { n: -number(ev(x.x)) };
      case 'bin':
        if (x.op === 'or') return { b: truth(ev(x.l)) || truth(ev(x.r)) };
        if (x.op === 'and') return { b: truth(ev(x.l)) && truth(ev(x.r)) };
        { const a = ev(x.l); return binary(x.op, a, ev(x.r)); }
      default: return call(x.f, x.args);
    }
  };
  const call = (f, args) => {
    switch (f) {
      case 'true': return { b: true };
      case 'false': return { b: false };
      case 'not': return { b: !truth(ev(args[0])) };
      case 'if': return truth(ev(args[0])) ? ev(args[1]) : ev(args[2]);
      case 'selected': {
        const list = text(ev(args[0]));
        const want = text(ev(args[1])).replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
        return { b: words(list).includes(want) };
      }
      case 'count-selected': return { n: words(text(ev(args[0]))).length };
      case 'string-length': return { n: Array.from(text(ev(args[0]))).length };
      default: {
        const v = lookup(answers, args[0].v);
        if (Array.isArray(v)) return { n: v.length };
        if (v === undefined || v === null || v === '') return { n: 0 };
        return { n: 1 };
      }
    }
  };
  return ev(e);
}
