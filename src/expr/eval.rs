//! Evaluation, as XLSForm (XPath 1.0) does it for the subset we take:
//!
//! - An answer reads as: unanswered (absent, `null`) the empty string;
//!   `true`/`false` as `'yes'`/`'no'`; a number as a number; a list of
//!   options as the options joined by spaces; a repeat (a list of rows) as
//!   the empty string (use `count()`).
//! - `=` and `!=`: with a boolean on either side, as booleans; else with a
//!   number on either side, as numbers (a text that is no number is NaN:
//!   `=` false, `!=` true); else as texts.
//! - `< <= > >=`: with a number or boolean on either side, as numbers (NaN:
//!   false); two texts that are both numbers, as numbers; else an empty text
//!   on either side is false (an unanswered item compares to nothing), and
//!   other texts compare by code point (ISO dates order right).
//! - A text is a number when it is one as XPath writes them: optional
//!   spaces, an optional `-`, digits with an optional fraction (`12`,
//!   `-0.5`, `.5`); anything else (`1e3`, `+1`, `0x10`, ``) is NaN.
//! - Truth: a number other than 0 and NaN; a text that is not empty (so
//!   `'no'` is true: compare it, `${x} = 'yes'`).
//! - A number as text: integers without a fraction, `NaN`, `Infinity`,
//!   otherwise the shortest text that reads back the same (JavaScript's).

use super::parse::{Expr, Func, Op, is_space};
use super::{ExprError, MAX_STEPS};
use serde_json::{Map, Value as Json};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
}

/// What an expression reads: the record's answers by item key, the row of
/// a repeat the item is in (its own items are found there first), and the
/// item's own answer for `.`.
#[derive(Debug, Clone, Copy)]
pub struct Answers<'a> {
    pub top: &'a Map<String, Json>,
    pub row: Option<&'a Map<String, Json>>,
    pub current: Option<&'a Json>,
}

impl Value {
    pub fn truth(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Num(n) => *n != 0.0 && !n.is_nan(),
            Value::Str(s) => !s.is_empty(),
        }
    }

    pub fn number(&self) -> f64 {
        match self {
            Value::Num(n) => *n,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Str(s) => text_number(s),
        }
    }

    pub fn text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Bool(b) => if *b { "true" } else { "false" }.to_string(),
            Value::Num(n) => number_text(*n),
        }
    }
}

/// XPath's `number()` of a text.
pub fn text_number(s: &str) -> f64 {
    let t = s.trim_matches(is_space);
    let digits = t.strip_prefix('-').unwrap_or(t);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    let ok = all_digits(int)
        && frac.is_none_or(all_digits)
        && (!int.is_empty() || frac.is_some_and(|f| !f.is_empty()));
    if ok {
        t.parse().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

/// A number as a text, as JavaScript's `String(n)` writes it.
pub fn number_text(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if n == 0.0 {
        return "0".into();
    }
    let a = n.abs();
    if (1e-6..1e21).contains(&a) {
        return format!("{n}");
    }
    let s = format!("{n:e}");
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
        _ => s,
    }
}

fn answer(v: Option<&Json>) -> Value {
    match v {
        None | Some(Json::Null) => Value::Str(String::new()),
        Some(Json::Bool(b)) => Value::Str(if *b { "yes" } else { "no" }.into()),
        Some(Json::Number(n)) => Value::Num(n.as_f64().unwrap_or(f64::NAN)),
        Some(Json::String(s)) => Value::Str(s.clone()),
        Some(Json::Array(items)) => Value::Str(
            items
                .iter()
                .filter_map(Json::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Some(Json::Object(_)) => Value::Str(String::new()),
    }
}

fn lookup<'a>(a: &Answers<'a>, key: &str) -> Option<&'a Json> {
    a.row.and_then(|r| r.get(key)).or_else(|| a.top.get(key))
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_space).filter(|w| !w.is_empty())
}

fn equal(a: &Value, b: &Value) -> Option<bool> {
    use Value::*;
    match (a, b) {
        (Bool(_), _) | (_, Bool(_)) => Some(a.truth() == b.truth()),
        (Num(_), _) | (_, Num(_)) => {
            let (x, y) = (a.number(), b.number());
            (!x.is_nan() && !y.is_nan()).then_some(x == y)
        }
        (Str(x), Str(y)) => Some(x == y),
    }
}

fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    use Value::*;
    match (a, b) {
        (Str(x), Str(y)) => {
            let (nx, ny) = (text_number(x), text_number(y));
            if !nx.is_nan() && !ny.is_nan() {
                nx.partial_cmp(&ny)
            } else if x.is_empty() || y.is_empty() {
                None
            } else {
                Some(x.chars().cmp(y.chars()))
            }
        }
        _ => a.number().partial_cmp(&b.number()),
    }
}

struct Run<'a> {
    answers: Answers<'a>,
    steps: usize,
}

impl Run<'_> {
    fn eval(&mut self, e: &Expr) -> Result<Value, ExprError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(ExprError {
                at: 0,
                reason: format!("计算超过 {MAX_STEPS} 步"),
            });
        }
        Ok(match e {
            Expr::Str(s) => Value::Str(s.clone()),
            Expr::Num(n) => Value::Num(*n),
            Expr::Ref(k) => answer(lookup(&self.answers, k)),
            Expr::Current => answer(self.answers.current),
            Expr::Neg(x) => Value::Num(-self.eval(x)?.number()),
            // `or` and `and` look at their right side only when they must.
            Expr::Bin(Op::Or, l, r) => Value::Bool(self.eval(l)?.truth() || self.eval(r)?.truth()),
            Expr::Bin(Op::And, l, r) => Value::Bool(self.eval(l)?.truth() && self.eval(r)?.truth()),
            Expr::Bin(op, l, r) => {
                let a = self.eval(l)?;
                binary(*op, &a, &self.eval(r)?)
            }
            Expr::Call(f, args) => self.call(*f, args)?,
        })
    }

    fn call(&mut self, f: Func, args: &[Expr]) -> Result<Value, ExprError> {
        let arg = |run: &mut Self, i: usize| -> Result<Value, ExprError> {
            match args.get(i) {
                Some(e) => run.eval(e),
                None => Ok(Value::Str(String::new())),
            }
        };
        Ok(match f {
            Func::True => Value::Bool(true),
            Func::False => Value::Bool(false),
            Func::Not => Value::Bool(!arg(self, 0)?.truth()),
            Func::If => {
                if arg(self, 0)?.truth() {
                    arg(self, 1)?
                } else {
                    arg(self, 2)?
                }
            }
            Func::Selected => {
                let list = arg(self, 0)?.text();
                let want = arg(self, 1)?.text();
                let want = want.trim_matches(is_space);
                Value::Bool(words(&list).any(|w| w == want))
            }
            Func::CountSelected => Value::Num(words(&arg(self, 0)?.text()).count() as f64),
            Func::StringLength => Value::Num(arg(self, 0)?.text().chars().count() as f64),
            Func::Count => {
                let n = match args.first() {
                    Some(Expr::Ref(k)) => match lookup(&self.answers, k) {
                        Some(Json::Array(rows)) => rows.len(),
                        None | Some(Json::Null) => 0,
                        Some(Json::String(s)) if s.is_empty() => 0,
                        Some(_) => 1,
                    },
                    _ => 0,
                };
                Value::Num(n as f64)
            }
        })
    }
}

fn binary(op: Op, a: &Value, b: &Value) -> Value {
    match op {
        Op::Or => Value::Bool(a.truth() || b.truth()),
        Op::And => Value::Bool(a.truth() && b.truth()),
        Op::Eq => Value::Bool(equal(a, b) == Some(true)),
        Op::Ne => Value::Bool(equal(a, b) != Some(true)),
        Op::Lt => Value::Bool(order(a, b).is_some_and(|o| o.is_lt())),
        Op::Le => Value::Bool(order(a, b).is_some_and(|o| o.is_le())),
        Op::Gt => Value::Bool(order(a, b).is_some_and(|o| o.is_gt())),
        Op::Ge => Value::Bool(order(a, b).is_some_and(|o| o.is_ge())),
        Op::Add => Value::Num(a.number() + b.number()),
        Op::Sub => Value::Num(a.number() - b.number()),
        Op::Mul => Value::Num(a.number() * b.number()),
        Op::Div => Value::Num(a.number() / b.number()),
        Op::Mod => Value::Num(a.number() % b.number()),
    }
}

/// Evaluates a parsed expression against a record's answers.
pub fn eval(e: &Expr, answers: Answers<'_>) -> Result<Value, ExprError> {
    Run { answers, steps: 0 }.eval(e)
}
