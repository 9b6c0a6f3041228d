//! The checklist's expression language: the XLSForm subset that ODK users
//! write (`${key}`, `.`, literals, `= != < <= > >=`, `and or not()`,
//! `selected()`, `count-selected()`, `count()`, `if()`, `string-length()`,
//! `+ - * div mod`), parsed into a tree once and evaluated against a
//! record's answers. The field app has the same language in
//! `webui/field/app/expr.js`; both run the corpus in `tests/expr/` and a
//! property test holds them to the same results.
//!
//! Values as XLSForm sees them: an unanswered item is the empty string, a
//! `yes_no` answer reads as `'yes'`/`'no'`, a `multi_choice` answer as its
//! options joined by spaces; numbers compare as numbers, everything else as
//! strings (DESIGN "Checklist logic"; the details are in `eval.rs`).
//!
//! Bounded: an expression is at most [`MAX_LEN`] characters and [`MAX_DEPTH`]
//! levels deep (refused when parsed), and an evaluation takes at most
//! [`MAX_STEPS`] steps; a hostile template is refused, never a stack
//! overflow or a hang.

mod eval;
mod parse;

pub use eval::{Answers, Value, eval};
pub use parse::{Expr, parse};

/// The longest expression a template may hold, in characters.
pub const MAX_LEN: usize = 4096;
/// The deepest nesting of an expression (operators, calls, brackets).
pub const MAX_DEPTH: usize = 100;
/// The most steps (nodes visited) one evaluation may take.
pub const MAX_STEPS: usize = 10_000;

/// Why an expression was refused, in words for the admin (Chinese) with
/// the character position where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub at: usize,
    pub reason: String,
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "第 {} 个字符处:{}", self.at + 1, self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value as Json};

    /// What the corpus says a result is: `{"b": ..}`, `{"n": ..}` (NaN and
    /// the infinities as texts), `{"s": ..}` or `{"error": true}`.
    fn want(v: &Json) -> Option<Value> {
        if let Some(b) = v.get("b").and_then(Json::as_bool) {
            return Some(Value::Bool(b));
        }
        if let Some(s) = v.get("s").and_then(Json::as_str) {
            return Some(Value::Str(s.to_string()));
        }
        match v.get("n")? {
            Json::String(t) => Some(Value::Num(match t.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                _ => f64::NEG_INFINITY,
            })),
            n => Some(Value::Num(n.as_f64()?)),
        }
    }

    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Num(x), Value::Num(y)) => x == y || (x.is_nan() && y.is_nan()),
            _ => a == b,
        }
    }

    /// The corpus both evaluators run (`tests/expr/corpus.json`; the field
    /// app's through `node --test tests/js/expr.test.mjs`).
    #[test]
    fn the_corpus() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/expr/corpus.json");
        let cases: Vec<Json> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert!(cases.len() >= 250, "{} cases", cases.len());
        let empty = Map::new();
        let mut failed = Vec::new();
        for c in &cases {
            let src = c["expr"].as_str().unwrap();
            let top = c.get("top").and_then(Json::as_object).unwrap_or(&empty);
            let row = c.get("row").and_then(Json::as_object);
            let answers = Answers {
                top,
                row,
                current: c.get("current"),
            };
            let got = parse(src).and_then(|e| eval(&e, answers));
            let ok = match (want(&c["want"]), &got) {
                (None, Err(_)) => true,
                (Some(w), Ok(g)) => same(&w, g),
                _ => false,
            };
            if !ok {
                failed.push(format!("{src:.80}: want {}, got {got:?}", c["want"]));
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }

    #[test]
    fn hostile_expressions_are_refused_quickly() {
        let started = std::time::Instant::now();
        let long = format!("'{}'", "a".repeat(1 << 20));
        assert!(parse(&long).is_err());
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).is_err());
        let unary = format!("{}1", "-".repeat(10_000));
        assert!(parse(&unary).is_err());
        let calls = format!("{}1{}", "not(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&calls).is_err());
        let chain = format!("1{}", " or 1".repeat(800));
        assert!(parse(&chain).is_err());
        // Within the length limit, the nesting limit refuses them.
        for src in [
            format!("{}1{}", "(".repeat(2000), ")".repeat(2000)),
            format!("{}1{}", "not(".repeat(800), ")".repeat(800)),
            format!("{}1", "-".repeat(4000)),
        ] {
            let e = parse(&src).unwrap_err();
            assert!(e.reason.contains("嵌套"), "{e}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn an_error_says_where() {
        let e = parse("${a} = = 1").unwrap_err();
        assert_eq!(e.at, 7);
        assert!(e.to_string().starts_with("第 8 个字符处"), "{e}");
        assert!(!e.reason.bytes().any(|b| b.is_ascii_alphabetic()), "{e}");
    }
}
