//! The server's and the field app's expression evaluators agree: random
//! expressions over random answers (a fixed seed per run, printed; set
//! `EXPR_SEED` to replay one), evaluated by `fieldsync::expr` and by
//! `webui/field/app/expr.js` under node, must give the same value of the
//! same type, or both refuse. The shared corpus (`tests/expr/`) checks each
//! against what XLSForm means; this checks them against each other where
//! nobody wrote a case.

use crate::client_js::node;
use fieldsync::expr::{Answers, Value, eval, parse};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value as Json, json};

const KEYS: [&str; 6] = ["a", "b", "c", "d", "e", "r"];
const TEXTS: [&str; 14] = [
    "",
    " 2 ",
    "yes",
    "no",
    "a b",
    "a",
    "b",
    "2024-01-01",
    "2024-12-31",
    "中",
    "7.5",
    "-3",
    "abc",
    "1e3",
];

fn leaf(rng: &mut StdRng) -> String {
    match rng.random_range(0..7) {
        0 => ["0", "1", "2", "3.5", ".5", "10", "100000000000000000000"][rng.random_range(0..7)]
            .to_string(),
        1 | 2 => format!("'{}'", TEXTS[rng.random_range(0..TEXTS.len())]),
        3 | 4 => format!("${{{}}}", KEYS[rng.random_range(0..KEYS.len())]),
        5 => ".".to_string(),
        _ => ["true()", "false()"][rng.random_range(0..2)].to_string(),
    }
}

fn expr(rng: &mut StdRng, depth: u32) -> String {
    if depth == 0 || rng.random_bool(0.25) {
        return leaf(rng);
    }
    let d = depth - 1;
    match rng.random_range(0..12) {
        0..=4 => {
            const OPS: [&str; 13] = [
                "or", "and", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "div", "mod",
            ];
            let op = OPS[rng.random_range(0..OPS.len())];
            let l = expr(rng, d);
            let r = expr(rng, d);
            format!("({l} {op} {r})")
        }
        5 => format!("-{}", expr(rng, d)),
        6 => format!("not({})", expr(rng, d)),
        7 => {
            let l = expr(rng, d);
            format!("selected({l}, {})", expr(rng, d))
        }
        8 => format!("count-selected({})", expr(rng, d)),
        9 => format!("string-length({})", expr(rng, d)),
        10 => {
            let c = expr(rng, d);
            let t = expr(rng, d);
            format!("if({c}, {t}, {})", expr(rng, d))
        }
        _ => "count(${r})".to_string(),
    }
}

fn answer(rng: &mut StdRng) -> Json {
    match rng.random_range(0..8) {
        0 => Json::Null,
        1 => json!(rng.random_bool(0.5)),
        2 => json!(rng.random_range(-3..10)),
        3 => json!([0.5, 7.5, -0.25, 1e21, 3.0][rng.random_range(0..5)]),
        4 | 5 => json!(TEXTS[rng.random_range(0..TEXTS.len())]),
        6 => json!(["a", "b", "c"][..rng.random_range(0..4)]),
        _ => json!(
            (0..rng.random_range(0..3))
                .map(|i| json!({"a": i, "b": "x"}))
                .collect::<Vec<_>>()
        ),
    }
}

fn encode(v: &Result<Value, fieldsync::expr::ExprError>) -> Json {
    match v {
        Err(_) => json!({"error": true}),
        Ok(Value::Bool(b)) => json!({"b": b}),
        Ok(Value::Str(s)) => json!({"s": s}),
        Ok(Value::Num(n)) if n.is_nan() => json!({"n": "NaN"}),
        Ok(Value::Num(n)) if n.is_infinite() => {
            json!({"n": if *n > 0.0 { "Infinity" } else { "-Infinity" }})
        }
        Ok(Value::Num(n)) => json!({"n": n}),
    }
}

fn same(a: &Json, b: &Json) -> bool {
    match (
        a.get("n").and_then(Json::as_f64),
        b.get("n").and_then(Json::as_f64),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[test]
fn the_server_and_the_field_app_evaluate_alike() {
    let Some(node) = node() else {
        assert!(
            std::env::var_os("FIELDSYNC_REQUIRE_NODE").is_none(),
            "node 20 or later is required here"
        );
        eprintln!("the cross-evaluator test needs Node 20 or later");
        return;
    };
    let seed: u64 = std::env::var("EXPR_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("EXPR_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cases = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..3000 {
        let src = expr(&mut rng, 4);
        let mut top = Map::new();
        for k in KEYS {
            if rng.random_bool(0.8) {
                top.insert(k.to_string(), answer(&mut rng));
            }
        }
        let row: Option<Map<String, Json>> = rng.random_bool(0.3).then(|| {
            let mut r = Map::new();
            r.insert("a".into(), answer(&mut rng));
            r
        });
        let current = rng.random_bool(0.7).then(|| answer(&mut rng));
        let got = parse(&src).and_then(|e| {
            eval(
                &e,
                Answers {
                    top: &top,
                    row: row.as_ref(),
                    current: current.as_ref(),
                },
            )
        });
        ours.push(encode(&got));
        let mut c = json!({"expr": src, "top": top});
        if let Some(r) = row {
            c["row"] = Json::Object(r);
        }
        if let Some(v) = current {
            c["current"] = v;
        }
        cases.push(c);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = std::process::Command::new(node)
        .arg("tests/js/expr-run.mjs")
        .arg(&file)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<Json> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs.len(), ours.len());
    let differ: Vec<String> = cases
        .iter()
        .zip(ours.iter().zip(&theirs))
        .filter(|(_, (a, b))| !same(a, b))
        .take(10)
        .map(|(c, (a, b))| format!("{c}\n  server {a}\n  app    {b}"))
        .collect();
    assert!(
        differ.is_empty(),
        "EXPR_SEED={seed}: the evaluators differ:\n{}",
        differ.join("\n")
    );
}
