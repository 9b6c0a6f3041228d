//! A randomized multi-device simulation over the real HTTP API: devices
//! edit overlapping inspections and their photos offline, push and pull
//! (in pages smaller than the data) in random orders, lose answers and
//! replay batches; one phone's clock runs far ahead of the server's; the
//! coordinator approves records (which locks them against later edits)
//! and an inspector moves to another group. At the end every device's
//! pulled state equals the server's, and every pushed value is accounted
//! for.

use crate::helpers::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// An offline edit of one record: (base version, fields, changed_at).
type Pending = (i64, Map<String, Value>, Map<String, Value>);

/// A photo as a phone holds it: (inspection, version, caption).
type HeldPhoto = (String, i64, Value);

/// Pages smaller than the data, so `has_more` paging is exercised.
const PAGE: u32 = 3;

struct Device {
    id: String,
    user: String,
    token: String,
    cursor: Option<String>,
    /// What the phone holds: id -> (version, fields).
    local: BTreeMap<String, (i64, Map<String, Value>)>,
    photos: BTreeMap<String, HeldPhoto>,
    /// Edits made offline, not yet batched: id -> (base, fields, changed_at).
    pending: BTreeMap<String, Pending>,
    pending_photos: Vec<Value>,
    /// Batches sent whose answers were lost: (batch id, items, photos).
    outbox: Vec<(String, Vec<Value>, Vec<Value>)>,
    /// Every acknowledged batch: id -> (items, photos, answer).
    acked: HashMap<String, (Vec<Value>, Vec<Value>, Value)>,
    skew_s: i64,
}

impl Device {
    fn new(app: &TestApp, user: &str, skew_s: i64) -> Device {
        Device {
            id: uuid(),
            user: user.into(),
            token: app.login(user, PASSWORD),
            cursor: None,
            local: BTreeMap::new(),
            photos: BTreeMap::new(),
            pending: BTreeMap::new(),
            pending_photos: Vec::new(),
            outbox: Vec::new(),
            acked: HashMap::new(),
            skew_s,
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

    fn take_answer(&mut self, answer: &Value) {
        for r in answer["results"].as_array().unwrap() {
            let id = r["id"].as_str().unwrap().to_string();
            if r["status"] == "rejected" && r["fields"].is_null() {
                // Refused and unknown to the server: the phone drops it.
                self.photos.remove(&id);
                continue;
            }
            if r["kind"] == "photo" {
                if r["deleted"] == true {
                    self.photos.remove(&id);
                } else if let Some(p) = self.photos.get_mut(&id) {
                    p.1 = r["version"].as_i64().unwrap();
                    p.2 = r["fields"]["caption"].clone();
                }
                continue;
            }
            if r["deleted"] == true {
                // Even a replayed old answer never brings a deleted record
                // back: every result says whether it is deleted.
                self.local.remove(&id);
                continue;
            }
            let fields = r["fields"].as_object().unwrap().clone();
            let v = r["version"].as_i64().unwrap();
            if r["status"] == "rejected" {
                // Locked: the server's state replaces the phone's edit.
                self.pending.remove(&id);
            }
            if self.local.get(&id).is_none_or(|(lv, _)| *lv <= v) {
                self.local.insert(id.clone(), (v, fields));
                self.reapply_pending(&id);
            }
        }
    }

    fn pull(&mut self, app: &TestApp) {
        let (pages, cursor) = app.pull_pages(&self.token, self.cursor.as_deref(), PAGE);
        for p in &pages {
            if p["reset"] == true {
                self.local.clear();
                self.photos.clear();
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
            for ph in p["changes"]["photos"].as_array().unwrap() {
                self.photos.insert(
                    ph["id"].as_str().unwrap().into(),
                    (
                        ph["inspection_id"].as_str().unwrap().into(),
                        ph["version"].as_i64().unwrap(),
                        ph["caption"].clone(),
                    ),
                );
            }
            for id in p["deleted"]["photos"].as_array().unwrap() {
                self.photos.remove(id.as_str().unwrap());
            }
        }
        self.cursor = Some(cursor);
    }

    fn at(&self, now_s: i64) -> String {
        chrono::DateTime::from_timestamp(1_795_000_000 + now_s + self.skew_s, 0)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    fn edit(&mut self, id: &str, rng: &mut StdRng, now_s: i64) {
        let at = self.at(now_s);
        let Some((version, local)) = self.local.get_mut(id) else {
            return;
        };
        let entry = self
            .pending
            .entry(id.to_string())
            .or_insert_with(|| (*version, Map::new(), Map::new()));
        for _ in 0..rng.random_range(1..=2) {
            let (path, value) = match rng.random_range(0..6) {
                0 => ("title", json!(format!("标题{}", rng.random_range(0..5)))),
                1 => ("notes", json!(format!("记录{}", rng.random_range(0..5)))),
                2 => (
                    "severity",
                    json!(["low", "medium", "high", "critical"][rng.random_range(0..4)]),
                ),
                3 => ("answers.outfall_flowing", json!(rng.random_bool(0.5))),
                4 => ("status", json!("submitted")),
                _ => ("answers.score", json!(rng.random_range(0..=10))),
            };
            local.insert(path.into(), value.clone());
            entry.1.insert(path.into(), value);
            entry.2.insert(path.into(), json!(at));
        }
    }

    /// A new photo of a held record, or a new caption of a held photo.
    fn photo(&mut self, rng: &mut StdRng, now_s: i64) {
        let at = self.at(now_s);
        let held: Vec<(String, HeldPhoto)> = self
            .photos
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !held.is_empty() && rng.random_bool(0.5) {
            let (id, (insp, version, _)) = &held[rng.random_range(0..held.len())];
            let caption = json!(format!("说明{}", rng.random_range(0..4)));
            let bytes = format!("photo {id}");
            self.pending_photos.push(json!({"id": id, "inspection_id": insp,
                "sha256": sha256_hex(bytes.as_bytes()), "bytes": bytes.len(), "content_type": "image/jpeg",
                "caption": caption, "base_version": version, "changed_at": {"caption": at}}));
            if let Some(p) = self.photos.get_mut(id) {
                p.2 = caption;
            }
            return;
        }
        let records: Vec<String> = self.local.keys().cloned().collect();
        if records.is_empty() {
            return;
        }
        let insp = records[rng.random_range(0..records.len())].clone();
        let id = uuid();
        let bytes = format!("photo {id}");
        let caption = json!("排口");
        self.pending_photos.push(json!({"id": id, "inspection_id": insp,
            "sha256": sha256_hex(bytes.as_bytes()), "bytes": bytes.len(), "content_type": "image/jpeg",
            "caption": caption, "changed_at": {"caption": at}}));
        self.photos.insert(id, (insp, 0, caption));
    }

    fn batch_pending(&mut self) {
        if self.pending.is_empty() && self.pending_photos.is_empty() {
            return;
        }
        let items: Vec<Value> = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(id, (base, fields, changed))| json!({"id": id, "base_version": base, "fields": fields, "changed_at": changed}))
            .collect();
        let photos = std::mem::take(&mut self.pending_photos);
        self.outbox.push((uuid(), items, photos));
    }

    /// Sends the oldest unanswered batch; the answer may be "lost".
    fn push(&mut self, app: &TestApp, lose_answer: bool) {
        self.batch_pending();
        let Some((batch, items, photos)) = self.outbox.first().cloned() else {
            return;
        };
        let answer = app
            .push_batch(&self.token, &self.id, &batch, items.clone(), photos.clone())
            .ok(200);
        if let Some((_, _, first)) = self.acked.get(&batch) {
            assert_eq!(first, &answer, "a replayed batch got another answer");
        }
        if lose_answer {
            // The server has it; the phone never heard. It will resend.
            self.acked.entry(batch).or_insert((items, photos, answer));
            return;
        }
        self.outbox.remove(0);
        self.take_answer(&answer);
        self.acked.entry(batch).or_insert((items, photos, answer));
    }
}

fn simulate(seed: u64) {
    let app = TestApp::spawn();
    let d = District::new(&app);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut devices = vec![
        Device::new(&app, "liming", rng.random_range(-300..300)),
        // This phone's clock runs a year ahead: every time it sends is
        // clamped to the server's.
        Device::new(&app, "liming", 365 * 86_400),
        Device::new(&app, "zhoumin", rng.random_range(-300..300)),
        Device::new(&app, "wangfang", rng.random_range(-300..300)),
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
    let (mut approvals, mut moved) = (0, false);
    for step in 0..200 {
        now_s += rng.random_range(1..120);
        let k = rng.random_range(0..devices.len());
        let dev = &mut devices[k];
        match rng.random_range(0..12) {
            0..=4 => {
                let held: Vec<String> = dev.local.keys().cloned().collect();
                if !held.is_empty() {
                    let id = held[rng.random_range(0..held.len())].clone();
                    dev.edit(&id, &mut rng, now_s);
                }
            }
            5 if dev.user != "zhoumin" => dev.photo(&mut rng, now_s),
            5..=7 => {
                let lose = rng.random_bool(0.25);
                dev.push(&app, lose);
            }
            8 => dev.pull(&app),
            9 if dev.user == "zhoumin" => {
                // The coordinator approves what is submitted: locked.
                let queue = app
                    .get("/api/v1/inspections?review_status=submitted", &dev.token)
                    .ok(200);
                if let Some(i) = queue["items"].as_array().unwrap().first() {
                    let r = app.post(
                        &format!("/api/v1/inspections/{}/reviews", i["id"].as_str().unwrap()),
                        &dev.token,
                        &json!({"decision": "approve", "version": i["version"]}),
                    );
                    assert_eq!(r.status, 201, "{}", r.text);
                    approvals += 1;
                }
            }
            _ => {
                // Replay an acknowledged batch: same answer, no change.
                if let Some(batch) = dev.acked.keys().next().cloned() {
                    let (items, photos, first) = dev.acked[&batch].clone();
                    let again = app
                        .push_batch(&dev.token, &dev.id, &batch, items, photos)
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
                dev.outbox.push((uuid(), vec![item], vec![]));
            }
        }
        if step == 100 {
            // Wangfang moves to group B: her cursor resets; her own record
            // stays hers (and stays in group A's queue).
            app.patch(
                &format!("/api/v1/users/{}", d.inspector_a2),
                &app.admin,
                &json!({"group_id": d.group_b}),
            )
            .ok(200);
            moved = true;
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
    let (pages, _) = app.pull_pages(&coord, None, 7);
    let mut server: BTreeMap<String, (i64, Map<String, Value>)> = BTreeMap::new();
    let mut server_photos: BTreeMap<String, HeldPhoto> = BTreeMap::new();
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
        for ph in p["changes"]["photos"].as_array().unwrap() {
            server_photos.insert(
                ph["id"].as_str().unwrap().into(),
                (
                    ph["inspection_id"].as_str().unwrap().into(),
                    ph["version"].as_i64().unwrap(),
                    ph["caption"].clone(),
                ),
            );
        }
        for c in p["changes"]["conflicts"].as_array().unwrap() {
            conflicts.insert(c["id"].as_str().unwrap().into(), c.clone());
        }
    }
    for (k, dev) in devices.iter().enumerate() {
        let mine = |id: &str| k == 2 || (k == 3) == (id == hers);
        let scope: BTreeMap<String, (i64, Map<String, Value>)> = server
            .iter()
            .filter(|(id, _)| mine(id))
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        assert_eq!(
            dev.local, scope,
            "seed {seed}: device {k} differs from the server"
        );
        let photos: BTreeMap<String, HeldPhoto> = server_photos
            .iter()
            .filter(|(_, p)| mine(&p.0))
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect();
        assert_eq!(
            dev.photos, photos,
            "seed {seed}: device {k}'s photos differ from the server"
        );
    }

    // Every value every answered push carried is in its answer's record or
    // in the conflict log; the only refusals are of locked records.
    let (mut checked, mut locked, mut clamped) = (0, 0, 0);
    for dev in &devices {
        for (items, photos, answer) in dev.acked.values() {
            let results = answer["results"].as_array().unwrap();
            let pushed = items.iter().chain(photos).map(|i| {
                let fields = match i.get("fields") {
                    Some(f) => f.as_object().unwrap().clone(),
                    None => Map::from_iter([("caption".to_string(), i["caption"].clone())]),
                };
                (i["id"].clone(), fields)
            });
            for ((id, fields), res) in pushed.zip(results) {
                assert_eq!(&id, &res["id"]);
                clamped += res["clamped"].as_array().map_or(0, Vec::len);
                if res["status"] == "rejected" {
                    assert_eq!(res["error"]["code"], "locked", "seed {seed}: {res}");
                    locked += 1;
                    continue;
                }
                for (path, value) in &fields {
                    let kept = &res["fields"][path] == value;
                    let logged = res["conflicts"].as_array().into_iter().flatten().any(|c| {
                        c["field"].as_str().unwrap().ends_with(path.as_str())
                            && &c["discarded"] == value
                            && conflicts.contains_key(c["conflict_id"].as_str().unwrap())
                    });
                    assert!(
                        kept || logged,
                        "seed {seed}: {path}={value} of {id} unaccounted: {res}"
                    );
                    checked += 1;
                }
            }
        }
    }
    eprintln!(
        "seed {seed}: {checked} values checked, {} conflicts, {} records, {} photos, \
         {approvals} approvals, {locked} refused as locked, {clamped} clamped",
        conflicts.len(),
        server.len(),
        server_photos.len()
    );
    assert!(moved);
    assert!(
        checked > 20 && clamped > 0 && !server_photos.is_empty(),
        "the simulation did too little to prove anything ({checked} values, {clamped} clamped)"
    );
}

#[test]
fn devices_converge_and_nothing_is_lost() {
    for seed in [7, 11, 2026] {
        simulate(seed);
    }
}
