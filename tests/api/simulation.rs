//! A randomized multi-device simulation over the real HTTP API: devices
//! edit overlapping inspections offline, push and pull in random orders,
//! lose answers and replay batches. At the end every device's pulled state
//! equals the server's, and every pushed value is accounted for.

use crate::helpers::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// An offline edit of one record: (base version, fields, changed_at).
type Pending = (i64, Map<String, Value>, Map<String, Value>);

struct Device {
    id: String,
    token: String,
    cursor: Option<String>,
    /// What the phone holds: id -> (version, fields).
    local: BTreeMap<String, (i64, Map<String, Value>)>,
    /// Edits made offline, not yet batched: id -> (base, fields, changed_at).
    pending: BTreeMap<String, Pending>,
    /// Batches sent whose answers were lost: (batch id, items).
    outbox: Vec<(String, Vec<Value>)>,
    /// Every acknowledged batch: id -> (items, answer).
    acked: HashMap<String, (Vec<Value>, Value)>,
    skew_s: i64,
}

impl Device {
    fn new(app: &TestApp, user: &str, rng: &mut StdRng) -> Device {
        Device {
            id: uuid(),
            token: app.login(user, PASSWORD),
            cursor: None,
            local: BTreeMap::new(),
            pending: BTreeMap::new(),
            outbox: Vec::new(),
            acked: HashMap::new(),
            skew_s: rng.random_range(-300..300),
        }
    }

    fn reapply_pending(&mut self, id: &str) {
        if let (Some((_, f, _)), Some((_, local))) = (self.pending.get(id), self.local.get_mut(id))
        {
            for (k, v) in f {
                local.insert(k.clone(), v.clone());
            }
        }
    }

    fn take_answer(&mut self, items: &[Value], answer: &Value) {
        for r in answer["results"].as_array().unwrap() {
            if r["status"] == "rejected" {
                continue;
            }
            let id = r["id"].as_str().unwrap().to_string();
            if r["deleted"] == true {
                // Even a replayed old answer never brings a deleted record
                // back: every result says whether it is deleted.
                self.local.remove(&id);
                continue;
            }
            let fields = r["fields"].as_object().unwrap().clone();
            let v = r["version"].as_i64().unwrap();
            if self.local.get(&id).is_none_or(|(lv, _)| *lv <= v) {
                self.local.insert(id.clone(), (v, fields));
                self.reapply_pending(&id);
            }
        }
        let _ = items;
    }

    fn pull(&mut self, app: &TestApp) {
        let (pages, cursor) = app.pull_all(&self.token, self.cursor.as_deref());
        for p in &pages {
            if p["reset"] == true {
                self.local.clear();
            }
            for i in p["changes"]["inspections"].as_array().unwrap() {
                let id = i["id"].as_str().unwrap().to_string();
                self.local.insert(
                    id.clone(),
                    (
                        i["version"].as_i64().unwrap(),
                        i["fields"].as_object().unwrap().clone(),
                    ),
                );
                self.reapply_pending(&id);
            }
            for id in p["deleted"]["inspections"].as_array().unwrap() {
                self.local.remove(id.as_str().unwrap());
            }
        }
        self.cursor = Some(cursor);
    }

    fn edit(&mut self, id: &str, rng: &mut StdRng, now_s: i64) {
        let Some((version, local)) = self.local.get_mut(id) else {
            return;
        };
        let at = chrono::DateTime::from_timestamp(1_795_000_000 + now_s + self.skew_s, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let entry = self
            .pending
            .entry(id.to_string())
            .or_insert_with(|| (*version, Map::new(), Map::new()));
        for _ in 0..rng.random_range(1..=2) {
            let (path, value) = match rng.random_range(0..5) {
                0 => ("title", json!(format!("标题{}", rng.random_range(0..5)))),
                1 => ("notes", json!(format!("记录{}", rng.random_range(0..5)))),
                2 => (
                    "severity",
                    json!(["low", "medium", "high", "critical"][rng.random_range(0..4)]),
                ),
                3 => ("answers.outfall_flowing", json!(rng.random_bool(0.5))),
                _ => ("answers.score", json!(rng.random_range(0..=10))),
            };
            local.insert(path.into(), value.clone());
            entry.1.insert(path.into(), value);
            entry.2.insert(path.into(), json!(at));
        }
    }

    fn batch_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let items: Vec<Value> = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(id, (base, fields, changed))| json!({"id": id, "base_version": base, "fields": fields, "changed_at": changed}))
            .collect();
        self.outbox.push((uuid(), items));
    }

    /// Sends the oldest unanswered batch; the answer may be "lost".
    fn push(&mut self, app: &TestApp, lose_answer: bool) {
        self.batch_pending();
        let Some((batch, items)) = self.outbox.first().cloned() else {
            return;
        };
        let answer = app
            .push_batch(&self.token, &self.id, &batch, items.clone(), vec![])
            .ok(200);
        if let Some((_, first)) = self.acked.get(&batch) {
            assert_eq!(first, &answer, "a replayed batch got another answer");
        }
        if lose_answer {
            // The server has it; the phone never heard. It will resend.
            self.acked.entry(batch).or_insert((items, answer));
            return;
        }
        self.outbox.remove(0);
        self.take_answer(&items, &answer);
        self.acked.entry(batch).or_insert((items, answer));
    }
}

fn simulate(seed: u64) {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut devices = vec![
        Device::new(&app, "liming", &mut rng),
        Device::new(&app, "liming", &mut rng),
        Device::new(&app, "zhoumin", &mut rng),
        Device::new(&app, "wangfang", &mut rng),
    ];
    // Liming's phone records four inspections; Wangfang one of her own.
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = uuid();
        app.push(
            &devices[0].token,
            &devices[0].id,
            vec![new_inspection(
                &id,
                &d,
                json!({"title": format!("排口{i}"), "status": "draft"}),
                T0,
            )],
            vec![],
        )
        .ok(200);
        ids.push(id);
    }
    let hers = uuid();
    app.push(
        &devices[3].token,
        &devices[3].id,
        vec![new_inspection(&hers, &d, json!({"title": "王芳的"}), T0)],
        vec![],
    )
    .ok(200);
    for dev in devices.iter_mut() {
        dev.pull(&app);
    }

    let mut now_s = 0;
    for _ in 0..160 {
        now_s += rng.random_range(1..120);
        let k = rng.random_range(0..devices.len());
        let dev = &mut devices[k];
        match rng.random_range(0..10) {
            0..=4 => {
                let held: Vec<String> = dev.local.keys().cloned().collect();
                if !held.is_empty() {
                    let id = held[rng.random_range(0..held.len())].clone();
                    dev.edit(&id, &mut rng, now_s);
                }
            }
            5..=7 => {
                let lose = rng.random_bool(0.25);
                dev.push(&app, lose);
            }
            8 => dev.pull(&app),
            _ => {
                // Replay an acknowledged batch: same answer, no change.
                if let Some(batch) = dev.acked.keys().next().cloned() {
                    let (items, first) = dev.acked[&batch].clone();
                    let again = app
                        .push_batch(&dev.token, &dev.id, &batch, items, vec![])
                        .ok(200);
                    assert_eq!(first, again);
                }
            }
        }
        if rng.random_ratio(1, 80) {
            // Liming's phone deletes one record now and then.
            let victim = ids[rng.random_range(0..ids.len())].clone();
            let dev = &mut devices[0];
            if let Some((v, _)) = dev.local.get(&victim) {
                let item = json!({"id": victim, "base_version": v, "deleted": true, "fields": {}});
                dev.outbox.push((uuid(), vec![item]));
            }
        }
    }

    // Back in coverage: everyone sends everything, then pulls.
    for dev in devices.iter_mut() {
        dev.batch_pending();
        while !dev.outbox.is_empty() {
            dev.push(&app, false);
        }
    }
    for dev in devices.iter_mut() {
        dev.pull(&app);
    }

    // The server's state, from a fresh pull by the group's coordinator.
    let coord = app.login("zhoumin", PASSWORD);
    let (pages, _) = app.pull_all(&coord, None);
    let mut server: BTreeMap<String, (i64, Map<String, Value>)> = BTreeMap::new();
    let mut conflicts: HashMap<String, Value> = HashMap::new();
    for p in &pages {
        for i in p["changes"]["inspections"].as_array().unwrap() {
            server.insert(
                i["id"].as_str().unwrap().into(),
                (
                    i["version"].as_i64().unwrap(),
                    i["fields"].as_object().unwrap().clone(),
                ),
            );
        }
        for c in p["changes"]["conflicts"].as_array().unwrap() {
            conflicts.insert(c["id"].as_str().unwrap().into(), c.clone());
        }
    }
    for (k, dev) in devices.iter().enumerate() {
        let scope: BTreeMap<String, (i64, Map<String, Value>)> = server
            .iter()
            .filter(|(id, _)| k == 2 || (k == 3) == (**id == hers))
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        assert_eq!(
            dev.local, scope,
            "seed {seed}: device {k} differs from the server"
        );
    }

    // Every value every answered push carried is in its answer's record or
    // in the conflict log.
    let mut checked = 0;
    for dev in &devices {
        for (items, answer) in dev.acked.values() {
            for (item, res) in items.iter().zip(answer["results"].as_array().unwrap()) {
                assert_ne!(res["status"], "rejected", "seed {seed}: {res}");
                for (path, value) in item["fields"].as_object().unwrap() {
                    let kept = &res["fields"][path] == value;
                    let logged = res["conflicts"].as_array().into_iter().flatten().any(|c| {
                        c["field"] == path.as_str()
                            && &c["discarded"] == value
                            && conflicts.contains_key(c["conflict_id"].as_str().unwrap())
                    });
                    assert!(
                        kept || logged,
                        "seed {seed}: {path}={value} of {} unaccounted: {res}",
                        item["id"]
                    );
                    checked += 1;
                }
            }
        }
    }
    eprintln!(
        "seed {seed}: {checked} values checked, {} conflicts, {} records",
        conflicts.len(),
        server.len()
    );
    assert!(
        checked > 20,
        "the simulation pushed too little to prove anything ({checked})"
    );
}

#[test]
fn devices_converge_and_nothing_is_lost() {
    for seed in [7, 11, 2026] {
        simulate(seed);
    }
}
