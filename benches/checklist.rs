//! Checklist logic benchmark (`cargo bench --bench checklist`):
//!
//! 1. The server's `checks` of a 300-item record with logic and 50 repeat
//!    rows (what every read of a record computes), beside a record of
//!    today's flat five-item checklist in the same run.
//! 2. Push throughput of records on a checklist with logic (sections,
//!    failures, a repeat with two rows, item notes) against today's flat
//!    records, alternating in one run on one server.
//! 3. The field app re-evaluating that form on every answer in Chromium
//!    with its CPU slowed 4x (a mid-range phone): conditions, failed marks
//!    and each item's photos redrawn, per answer. Needs Debian's chromium
//!    and chromium-driver (skipped with a message without them).

use fieldsync::inspection::checklist::{Compiled, checks};
use fieldsync::inspection::merge::Fields;
use fieldsync::reference::templates::{Item, check_items};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

mod common;
use common::percentile;

/// 300 items: ten yes/no gates, then ten sections, each shown by its gate
/// and holding 27 items with conditions, failures and scores, then a
/// repeat of five.
fn big_form() -> Value {
    // The gates first: an item after a heading belongs to its section.
    let mut items: Vec<Value> = (0..10)
        .map(|s| json!({"key": format!("gate{s}"), "label": format!("第{s}部分是否适用"), "kind": "yes_no", "required": true}))
        .collect();
    for s in 0..10 {
        items.push(
            json!({"key": format!("sec{s}"), "label": format!("第{s}部分"), "kind": "section",
                          "relevant": format!("${{gate{s}}} = 'yes'")}),
        );
        for i in 0..27 {
            let k = format!("s{s}_{i}");
            let item = match i % 4 {
                0 => {
                    json!({"key": k, "label": "读数", "kind": "number", "fail_when": ". > 50", "score": 1, "required": true})
                }
                1 => {
                    json!({"key": k, "label": "状况", "kind": "choice", "options": ["好", "一般", "差", "无法判断"],
                            "fail_when": ". = '差'", "score": 2, "relevant": format!("${{s{s}_{}}} > 5", i - 1)})
                }
                2 => {
                    json!({"key": k, "label": "是否有问题", "kind": "yes_no", "fail_when": ". = 'yes'",
                            "photo_required_when": ". = 'yes'", "note_required_when": ". = 'yes'", "score": 1})
                }
                _ => json!({"key": k, "label": "说明", "kind": "text",
                            "required_when": format!("${{s{s}_{}}} = 'yes' or ${{s{s}_{}}} > 40", i - 1, i - 3)}),
            };
            items.push(item);
        }
    }
    items.push(json!({"key": "pipes", "label": "排水管", "kind": "repeat", "items": [
        {"key": "d", "label": "管径", "kind": "number", "required": true, "fail_when": ". > 800"},
        {"key": "broken", "label": "破损", "kind": "yes_no"},
        {"key": "bp", "label": "破损照片", "kind": "photo", "relevant": "${broken} = 'yes'", "required": true},
        {"key": "m", "label": "材质", "kind": "choice", "options": ["混凝土", "塑料", "铸铁"]},
        {"key": "n", "label": "备注", "kind": "text", "required_when": "${d} > 500"}
    ]}));
    json!(items)
}

fn record(rows: usize) -> Fields {
    let mut f = Fields::new();
    for s in 0..10 {
        f.insert(format!("answers.gate{s}"), json!(s % 3 != 0));
        for i in 0..27 {
            let k = format!("answers.s{s}_{i}");
            let v = match i % 4 {
                0 => json!((i * 7 + s) % 60),
                1 => json!(["好", "一般", "差"][i % 3]),
                2 => json!(i % 5 == 0),
                _ => json!("正常"),
            };
            f.insert(k, v);
        }
    }
    for r in 0..rows {
        let id = format!("{r:08x}-0000-4000-8000-000000000000");
        f.insert(format!("answers.pipes.{id}._seq"), json!(r));
        f.insert(format!("answers.pipes.{id}.d"), json!(200 + r * 20));
        f.insert(format!("answers.pipes.{id}.broken"), json!(r % 4 == 0));
        f.insert(format!("answers.pipes.{id}.m"), json!("塑料"));
    }
    f
}

fn time<F: FnMut()>(n: usize, mut f: F) -> Vec<f64> {
    let mut out: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

fn line(what: &str, us: &[f64]) {
    let mean = us.iter().sum::<f64>() / us.len() as f64;
    println!(
        "{what:<52} mean {mean:>8.1} us  p50 {:>8.1} us  p99 {:>8.1} us",
        percentile(us, 0.5),
        percentile(us, 0.99)
    );
}

fn main() {
    let items: Vec<Item> = check_items(serde_json::from_value(big_form()).unwrap()).unwrap();
    let count = fieldsync::reference::templates::walk(&items).len();
    let rec = record(50);
    let none = HashSet::new();
    let c = Compiled::new(&items);
    let got = c.checks(&rec, &none);
    println!(
        "checklist benchmark: {count} items, 50 repeat rows, {} fields; the record has {} failed and {} missing",
        rec.len(),
        got.failed.len(),
        got.missing_required.len()
    );
    let n = 2000;
    line(
        "checks, checklist compiled once (a page of records)",
        &time(n, || {
            std::hint::black_box(c.checks(&rec, &none));
        }),
    );
    line(
        "compile + checks (one record alone)",
        &time(n, || {
            std::hint::black_box(checks(&items, &rec, &none));
        }),
    );
    // The reference: today's flat checklist of five items, no logic.
    let flat: Vec<Item> = check_items(
        serde_json::from_value(json!([
            {"key": "outfall_flowing", "label": "排口是否有水流出", "kind": "yes_no", "required": true},
            {"key": "water_color", "label": "水体颜色", "kind": "choice", "required": true, "options": ["清澈", "浑浊", "发黑"]},
            {"key": "odor", "label": "是否有异味", "kind": "yes_no"},
            {"key": "score", "label": "评分", "kind": "score"},
            {"key": "remarks", "label": "说明", "kind": "text"}
        ]))
        .unwrap(),
    )
    .unwrap();
    let mut small = Fields::new();
    small.insert("answers.outfall_flowing".into(), json!(true));
    small.insert("answers.water_color".into(), json!("发黑"));
    let cf = Compiled::new(&flat);
    line(
        "reference: checks of a flat 5-item checklist",
        &time(n, || {
            std::hint::black_box(cf.checks(&small, &none));
        }),
    );
    push();
    app(&big_form());
}

/// Records per second over HTTP, 500 a batch: today's flat record against
/// one on a checklist with logic, alternating (3 rounds of 4,000 each).
fn push() {
    let (_tmp, cl) = common::start_server("bench-password-1");
    let (_g, site, flat_tpl, token) = common::district(&cl, "bench-password-1");
    let admin = cl.login("admin", "bench-password-1");
    let logic_items = json!([
        {"key": "flowing", "label": "排口是否有水流出", "kind": "yes_no", "required": true},
        {"key": "flow", "label": "水流情况", "kind": "section", "relevant": "${flowing} = 'yes'"},
        {"key": "color", "label": "水体颜色", "kind": "choice", "options": ["清澈", "发黑"], "fail_when": ". = '发黑'", "score": 2},
        {"key": "odor", "label": "有无异味", "kind": "yes_no", "fail_when": ". = 'yes'", "score": 1},
        {"key": "odor_kind", "label": "异味类型", "kind": "multi_choice", "options": ["腐臭", "刺鼻"], "relevant": "${odor} = 'yes'"},
        {"key": "overflow", "label": "是否有污水溢流", "kind": "yes_no", "fail_when": ". = 'yes'", "note_required_when": ". = 'yes'",
         "on_fail": {"followup": {"title": "污水溢流整改", "due_days": 3}}},
        {"key": "pipes", "label": "排水管", "kind": "repeat", "items": [
            {"key": "d", "label": "管径", "kind": "number", "fail_when": ". > 800"},
            {"key": "broken", "label": "破损", "kind": "yes_no"}]}
    ]);
    // The same items without their logic: what the records would cost on
    // a checklist that only asks.
    let mut plain_items = logic_items.clone();
    for item in plain_items.as_array_mut().unwrap() {
        for k in [
            "relevant",
            "fail_when",
            "score",
            "note_required_when",
            "on_fail",
        ] {
            item.as_object_mut().unwrap().remove(k);
        }
        if let Some(children) = item.get_mut("items").and_then(Value::as_array_mut) {
            for c in children {
                c.as_object_mut().unwrap().remove("fail_when");
            }
        }
    }
    let make = |name: &str, items: &Value| {
        cl.send(
            "POST",
            "/api/v1/templates",
            &admin,
            Some(&json!({"name": name, "items": items})),
        )["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let logic_tpl = make("排口巡查(含逻辑)", &logic_items);
    let plain_tpl = make("排口巡查(无逻辑)", &plain_items);
    let at = "2026-11-20T02:14:09Z";
    let common_fields = |i: usize| {
        json!({
        "title": format!("桃花河{i}号排口巡查"), "notes": "排口有少量污水流出,水体发黑,有异味,已拍照留存。",
        "severity": "high", "status": "submitted",
        "location": {"lat": 29.8571, "lon": 107.0812, "accuracy_m": 6, "captured_at": at}})
    };
    let flat = |i: usize| {
        let mut f = common_fields(i);
        let o = f.as_object_mut().unwrap();
        o.insert("answers.outfall_flowing".into(), json!(true));
        o.insert("answers.water_color".into(), json!("发黑"));
        o.insert("answers.score".into(), json!(3));
        f
    };
    let with_logic = |i: usize| {
        let mut f = common_fields(i);
        let o = f.as_object_mut().unwrap();
        for (k, v) in [
            ("answers.flowing", json!(true)),
            ("answers.color", json!("发黑")),
            ("answers.odor", json!(true)),
            ("answers.odor_kind", json!(["腐臭"])),
            ("answers.overflow", json!(true)),
            ("item_notes.overflow", json!("井盖破裂,污水外溢")),
            (
                "answers.pipes.aaaaaaaa-0000-4000-8000-000000000001._seq",
                json!(1),
            ),
            (
                "answers.pipes.aaaaaaaa-0000-4000-8000-000000000001.d",
                json!(300),
            ),
            (
                "answers.pipes.bbbbbbbb-0000-4000-8000-000000000002._seq",
                json!(2),
            ),
            (
                "answers.pipes.bbbbbbbb-0000-4000-8000-000000000002.d",
                json!(1000),
            ),
        ] {
            o.insert(k.into(), v);
        }
        f
    };
    let device = uuid::Uuid::new_v4().to_string();
    let run = |tpl: &str, make: &dyn Fn(usize) -> Value, n: usize| -> f64 {
        let t = Instant::now();
        for b in 0..n / 500 {
            let items: Vec<Value> = (0..500)
                .map(|i| {
                    let f = make(b * 500 + i);
                    let changed = Value::Object(f.as_object().unwrap().keys().map(|k| (k.clone(), json!(at))).collect());
                    json!({"id": uuid::Uuid::new_v4().to_string(), "site_id": site, "template_id": tpl,
                           "fields": f, "changed_at": changed})
                })
                .collect();
            cl.send(
                "POST",
                "/api/v1/sync/push",
                &token,
                Some(&json!({"device_id": device,
                "batch_id": uuid::Uuid::new_v4().to_string(), "inspections": items})),
            );
        }
        n as f64 / t.elapsed().as_secs_f64()
    };
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..3 {
        // Alternating which goes first: the database grows under both.
        if round % 2 == 0 {
            b.push(run(&plain_tpl, &with_logic, 4000));
            c.push(run(&logic_tpl, &with_logic, 4000));
        } else {
            c.push(run(&logic_tpl, &with_logic, 4000));
            b.push(run(&plain_tpl, &with_logic, 4000));
        }
        a.push(run(&flat_tpl, &flat, 4000));
    }
    let best = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    let rounds = |v: &[f64]| v.iter().map(|x| x.round()).collect::<Vec<_>>();
    println!(
        "push, 500 a batch (best of 3 rounds of 4,000):\n  the record with logic's 16 fields, its checklist without logic {:.0} records/s {:?}\n  the same record on the checklist with logic {:.0} records/s {:?}: {:.2}x\n  today's flat record (8 fields) {:.0} records/s {:?}",
        best(&b),
        rounds(&b),
        best(&c),
        rounds(&c),
        best(&c) / best(&b),
        best(&a),
        rounds(&a),
    );
}

/// The field app in Chromium, 4x slower CPU: per answer, the time from a
/// changed value to the form redrawn (conditions, failed marks, photos).
fn app(form: &Value) {
    let Some(driver) = Driver::launch() else {
        println!(
            "field app: skipped (install Debian's chromium and chromium-driver to measure it)"
        );
        return;
    };
    let (_tmp, cl) = common::start_server("bench-password-1");
    // Any page of the app's origin: its modules load from there.
    driver.call(
        "/url",
        json!({"url": format!("{}/app/", cl.base.replace("127.0.0.1", "localhost"))}),
    );
    driver.cdp("Emulation.setCPUThrottlingRate", json!({"rate": 4}));
    let script = r#"
        const [template, done] = [arguments[0], arguments[arguments.length - 1]];
        (async () => {
          const { checklistForm } = await import('/app/form.js');
          const values = {};
          const form = checklistForm({ template, values, set: async (p, v) => { values[p] = v; },
            photos: async () => [], addPhoto: async () => 'x', removePhoto: async () => {}, photoUrl: () => null });
          document.body.replaceChildren(form.node);
          await new Promise((r) => setTimeout(r, 50));
          const times = [];
          for (let n = 0; n < 200; n++) {
            const s = n % 10, i = (n * 7) % 27;
            values[`answers.gate${s}`] = true;
            values[`answers.s${s}_${i}`] = i % 4 === 0 ? n % 60 : i % 4 === 1 ? '差' : i % 4 === 2 ? n % 2 === 0 : '说明';
            if (n % 4 === 0) values[`answers.pipes.${String(n).padStart(8, '0')}-0000-4000-8000-000000000000._seq`] = n;
            const t = performance.now();
            form.refresh();
            times.push(performance.now() - t);
          }
          done({ times, fields: document.querySelectorAll('[data-path]').length });
        })().catch((e) => done({ error: String(e) }));
    "#;
    let t = Instant::now();
    let out = driver.call(
        "/execute/async",
        json!({"script": script, "args": [{"name": "大表", "version": 1, "items": form}]}),
    );
    assert!(out.get("error").is_none(), "{out}");
    let mut ms: Vec<f64> = out["times"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    println!(
        "field app, Chromium at 4x CPU throttling, {} answers on the 300-item form ({} elements with a path): per answer mean {mean:.2} ms, p50 {:.2} ms, p99 {:.2} ms ({:.1} s in all)",
        ms.len(),
        out["fields"],
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        t.elapsed().as_secs_f64()
    );
}

/// Just enough WebDriver for the benchmark.
struct Driver {
    base: String,
    session: String,
    agent: ureq::Agent,
    process: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Driver {
    fn launch() -> Option<Driver> {
        if !std::path::Path::new("/usr/bin/chromium").exists() {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let process = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(format!("{base}/status")).call().is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().ok()?;
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking", "--window-size=412,915",
                     format!("--user-data-dir={}", profile.path().display())]}},
            "timeouts": {"script": 300000}}});
        let v: Value = agent
            .post(format!("{base}/session"))
            .send_json(&caps)
            .ok()?
            .body_mut()
            .read_json()
            .ok()?;
        let session = v["value"]["sessionId"].as_str()?.to_string();
        Some(Driver {
            base,
            session,
            agent,
            process,
            _profile: profile,
        })
    }

    fn call(&self, path: &str, body: Value) -> Value {
        let v: Value = self
            .agent
            .post(format!("{}/session/{}{path}", self.base, self.session))
            .send_json(&body)
            .expect("webdriver")
            .body_mut()
            .read_json()
            .expect("webdriver json");
        assert!(v["value"].get("error").is_none(), "webdriver {path}: {v}");
        v["value"].clone()
    }

    fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call("/goog/cdp/execute", json!({"cmd": cmd, "params": params}))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self
            .agent
            .delete(format!("{}/session/{}", self.base, self.session))
            .call();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
