//! A fleet at work, all at once, over HTTP: inspectors' phones (one with
//! two devices that edit the same fields) push new records with photos,
//! edits and deletes; an admin moves and reassigns routes; a coordinator
//! reviews and resolves conflicts; and three devices pull incrementally
//! with small pages the whole time: an inspector, the group's coordinator
//! and a district-wide coordinator.
//!
//! At the end each puller's incremental state equals a fresh pull from the
//! start, and every value every answered push carried is in its answer's
//! record or in the conflict log.
//!
//! `FIELDSYNC_FLEET_SECS` runs it longer (default 6 s of traffic);
//! `FIELDSYNC_FLEET_SEED` changes the seed (default 2026).

use crate::helpers::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const KINDS: [&str; 9] = [
    "groups",
    "sites",
    "templates",
    "routes",
    "inspections",
    "photos",
    "reviews",
    "followups",
    "conflicts",
];

/// What a device holds after pulling: kind -> id -> object.
type State = BTreeMap<String, BTreeMap<String, Value>>;

/// An object as a device keeps it, without what is derived on each read
/// (signed URLs that expire, checks against the site's current position).
fn normalized(kind: &str, v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("urls");
        o.remove("checks");
        if kind == "inspections"
            && let Some(photos) = o.get_mut("photos").and_then(Value::as_array_mut)
        {
            for p in photos {
                if let Some(p) = p.as_object_mut() {
                    p.remove("urls");
                    p.remove("checks");
                }
            }
        }
    }
    v
}

fn apply_page(state: &mut State, page: &Value) {
    if page["reset"] == true {
        state.clear();
    }
    for kind in KINDS {
        for obj in page["changes"][kind].as_array().into_iter().flatten() {
            let id = obj["id"].as_str().unwrap().to_string();
            state
                .entry(kind.to_string())
                .or_default()
                .insert(id, normalized(kind, obj));
        }
    }
    for (kind, ids) in page["deleted"].as_object().into_iter().flatten() {
        for id in ids.as_array().into_iter().flatten() {
            if let Some(m) = state.get_mut(kind) {
                m.remove(id.as_str().unwrap());
            }
        }
    }
    state.retain(|_, m| !m.is_empty());
}

/// Pulls pages of `limit` until `has_more` is false.
fn pull_into(
    app: &TestApp,
    token: &str,
    cursor: &mut Option<String>,
    state: &mut State,
    limit: u32,
) {
    loop {
        let path = match cursor {
            Some(c) => format!("/api/v1/sync/pull?limit={limit}&cursor={c}"),
            None => format!("/api/v1/sync/pull?limit={limit}"),
        };
        let page = app.get(&path, token).ok(200);
        apply_page(state, &page);
        *cursor = Some(page["cursor"].as_str().unwrap().to_string());
        if page["has_more"] == false {
            return;
        }
    }
}

/// One phone of an inspector: what it pushed and what it was answered.
struct Phone {
    device: String,
    token: String,
    /// id -> version the phone last heard.
    held: BTreeMap<String, i64>,
    answered: Vec<(Vec<Value>, Value)>,
}

impl Phone {
    fn new(app: &TestApp, user: &str) -> Phone {
        Phone {
            device: uuid(),
            token: app.login(user, PASSWORD),
            held: BTreeMap::new(),
            answered: Vec::new(),
        }
    }

    fn push(&mut self, app: &TestApp, items: Vec<Value>, photos: Vec<Value>) {
        let r = app.push(&self.token, &self.device, items.clone(), photos);
        let answer = r.ok(200);
        for res in answer["results"].as_array().unwrap() {
            if res["kind"] == "inspection"
                && let Some(v) = res["version"].as_i64()
            {
                self.held.insert(res["id"].as_str().unwrap().to_string(), v);
            }
        }
        self.answered.push((items, answer));
    }
}

fn stamp(rng: &mut StdRng, skew_s: i64) -> String {
    // Phones' clocks disagree, some of them running ahead of the server by
    // more than the ten minutes the merge accepts.
    let now = chrono::Utc::now().timestamp() + skew_s + rng.random_range(-30..30);
    chrono::DateTime::from_timestamp(now, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn random_fields(rng: &mut StdRng, n: usize) -> Map<String, Value> {
    let mut f = Map::new();
    for _ in 0..n {
        let (k, v) = match rng.random_range(0..6) {
            0 => ("title", json!(format!("排口{}", rng.random_range(0..9)))),
            1 => ("notes", json!(format!("河水{}", rng.random_range(0..9)))),
            2 => (
                "severity",
                json!(["low", "medium", "high"][rng.random_range(0..3)]),
            ),
            3 => ("answers.outfall_flowing", json!(rng.random_bool(0.5))),
            4 => ("answers.score", json!(rng.random_range(0..=10))),
            _ => (
                "status",
                json!(if rng.random_bool(0.4) {
                    "submitted"
                } else {
                    "draft"
                }),
            ),
        };
        f.insert(k.into(), v);
    }
    f
}

fn item(id: &str, base: i64, fields: Map<String, Value>, at: &str) -> Value {
    let changed: Map<String, Value> = fields.keys().map(|k| (k.clone(), json!(at))).collect();
    json!({"id": id, "base_version": base, "fields": fields, "changed_at": changed})
}

/// An inspector's work: new records with photo metadata in batches of
/// five, edits of held records, now and then a delete. With two phones,
/// the second edits the same records from a stale base.
fn inspector_loop(
    app: &TestApp,
    d: &District,
    user: &str,
    site: &str,
    phones: usize,
    seed: u64,
    stop: &AtomicBool,
) -> Vec<Phone> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ps: Vec<Phone> = (0..phones).map(|_| Phone::new(app, user)).collect();
    let skew = [0, 900, -400];
    let mut ids: Vec<String> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let k = rng.random_range(0..ps.len());
        let at = stamp(&mut rng, skew[k % skew.len()]);
        match rng.random_range(0..10) {
            0..=3 => {
                let mut items = Vec::new();
                let mut photos = Vec::new();
                for _ in 0..5 {
                    let id = uuid();
                    let mut it = item(&id, 0, random_fields(&mut rng, 3), &at);
                    it["site_id"] = json!(site);
                    it["template_id"] = json!(d.template);
                    items.push(it);
                    let bytes = format!("photo of {id}");
                    photos.push(json!({"id": uuid(), "inspection_id": id,
                        "sha256": sha256_hex(bytes.as_bytes()), "bytes": bytes.len(),
                        "content_type": "image/jpeg", "caption": "排口", "taken_at": at}));
                    ids.push(id);
                }
                ps[k].push(app, items, photos);
            }
            4..=7 if !ids.is_empty() => {
                // Edits of held records; the other phone's base is stale.
                let mut items = Vec::new();
                for _ in 0..rng.random_range(1..=3) {
                    let id = ids[rng.random_range(0..ids.len())].clone();
                    let base = ps[k].held.get(&id).copied().unwrap_or(0);
                    items.push(item(&id, base, random_fields(&mut rng, 2), &at));
                }
                items.dedup_by(|a, b| a["id"] == b["id"]);
                ps[k].push(app, items, vec![]);
            }
            8 if !ids.is_empty() => {
                let id = ids[rng.random_range(0..ids.len())].clone();
                let base = ps[k].held.get(&id).copied().unwrap_or(0);
                let mut it = item(&id, base, Map::new(), &at);
                it["deleted"] = json!(true);
                it["changed_at"]["deleted"] = json!(at);
                ps[k].push(app, vec![it], vec![]);
            }
            _ if !ids.is_empty() => {
                // A photo's caption edited on one phone, then another.
                let id = ids[rng.random_range(0..ids.len())].clone();
                let bytes = format!("second photo of {id}");
                let photo = json!({"id": uuid(), "inspection_id": id,
                    "sha256": sha256_hex(bytes.as_bytes()), "bytes": bytes.len(),
                    "content_type": "image/jpeg", "caption": format!("近景{}", rng.random_range(0..3)),
                    "changed_at": {"caption": at}});
                ps[k].push(app, vec![], vec![photo]);
            }
            _ => {}
        }
    }
    ps
}

#[test]
fn a_fleet_pushing_and_pulling_at_once_loses_and_skips_nothing() {
    let secs: u64 = std::env::var("FIELDSYNC_FLEET_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let seed: u64 = std::env::var("FIELDSYNC_FLEET_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2026);
    let app = Arc::new(TestApp::spawn_with(|c| {
        c.workers = Some(4);
        c.read_pool = 4;
    }));
    let d = Arc::new(District::new(&app));
    app.user("quyu", "coordinator", None);
    let stop = Arc::new(AtomicBool::new(false));
    let pulls = Arc::new(AtomicUsize::new(0));

    // The writers.
    let mut inspectors = Vec::new();
    for (k, (user, site, phones)) in [
        ("liming", d.site_a.clone(), 2),
        ("wangfang", d.site_a.clone(), 1),
        ("chengang", d.site_b.clone(), 1),
    ]
    .into_iter()
    .enumerate()
    {
        let (app, d, stop) = (Arc::clone(&app), Arc::clone(&d), Arc::clone(&stop));
        inspectors.push(std::thread::spawn(move || {
            inspector_loop(&app, &d, user, &site, phones, seed + k as u64, &stop)
        }));
    }
    let admin = {
        let (app, d, stop) = (Arc::clone(&app), Arc::clone(&d), Arc::clone(&stop));
        std::thread::spawn(move || {
            // Routes move between the groups and change hands: the scope of
            // the pullers changes under them.
            let mut rng = StdRng::seed_from_u64(seed + 10);
            let mut moves = 0;
            while !stop.load(Ordering::Relaxed) {
                let (route, to_a) = if rng.random_bool(0.5) {
                    (&d.route_a, rng.random_bool(0.5))
                } else {
                    (&d.route_b, rng.random_bool(0.5))
                };
                let (group, site) = if to_a {
                    (&d.group_a, &d.site_a)
                } else {
                    (&d.group_b, &d.site_b)
                };
                let assignee = match (to_a, rng.random_range(0..3)) {
                    (true, 0) => json!(d.inspector_a),
                    (true, 1) => json!(d.inspector_a2),
                    _ => Value::Null,
                };
                app.patch(
                    &format!("/api/v1/routes/{route}"),
                    &app.admin,
                    &json!({"group_id": group, "assignee_id": assignee,
                            "stops": [{"site_id": site, "template_id": d.template}]}),
                )
                .ok(200);
                moves += 1;
                std::thread::sleep(Duration::from_millis(rng.random_range(20..120)));
            }
            moves
        })
    };
    let reviewer = {
        let (app, stop) = (Arc::clone(&app), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(seed + 20);
            let token = app.login("zhoumin", PASSWORD);
            let mut done = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let queue = app
                    .get(
                        "/api/v1/inspections?review_status=submitted&limit=5",
                        &token,
                    )
                    .ok(200);
                for i in queue["items"].as_array().unwrap() {
                    let decision = if rng.random_bool(0.5) {
                        "approve"
                    } else {
                        "return"
                    };
                    let r = app.post(
                        &format!("/api/v1/inspections/{}/reviews", i["id"].as_str().unwrap()),
                        &token,
                        &json!({"decision": decision, "comment": "请补充", "version": i["version"]}),
                    );
                    // Moved on since the queue was read: stale, never a 5xx.
                    assert!(matches!(r.status, 201 | 409), "{}", r.text);
                    done.0 += (r.status == 201) as usize;
                }
                let open = app
                    .get("/api/v1/conflicts?status=open&limit=3", &token)
                    .ok(200);
                for c in open["items"].as_array().unwrap() {
                    let keep = if rng.random_bool(0.5) {
                        "kept"
                    } else {
                        "discarded"
                    };
                    let r = app.post(
                        &format!("/api/v1/conflicts/{}/resolve", c["id"].as_str().unwrap()),
                        &token,
                        &json!({"keep": keep}),
                    );
                    assert!(matches!(r.status, 200 | 409), "{}", r.text);
                    done.1 += (r.status == 200) as usize;
                }
                std::thread::sleep(Duration::from_millis(rng.random_range(10..60)));
            }
            done
        })
    };

    // The pullers.
    let mut pullers = Vec::new();
    for user in ["liming", "zhoumin", "quyu"] {
        let (app, stop, pulls) = (Arc::clone(&app), Arc::clone(&stop), Arc::clone(&pulls));
        pullers.push(std::thread::spawn(move || {
            let token = app.login(user, PASSWORD);
            let mut cursor = None;
            let mut state = State::new();
            while !stop.load(Ordering::Relaxed) {
                pull_into(&app, &token, &mut cursor, &mut state, 50);
                pulls.fetch_add(1, Ordering::Relaxed);
            }
            (user, token, cursor, state)
        }));
    }

    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let phones: Vec<Phone> = inspectors
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let moves = admin.join().unwrap();
    let (reviews, resolves) = reviewer.join().unwrap();
    let ran = started.elapsed();

    // Everyone comes back into coverage once more and pulls to the end.
    let mut checked_states = 0;
    for h in pullers {
        let (user, token, mut cursor, mut state) = h.join().unwrap();
        pull_into(&app, &token, &mut cursor, &mut state, 50);
        let mut fresh = State::new();
        pull_into(&app, &token, &mut None, &mut fresh, 500);
        for kind in KINDS {
            let (a, b) = (
                state.get(kind).cloned().unwrap_or_default(),
                fresh.get(kind).cloned().unwrap_or_default(),
            );
            let missed: Vec<&String> = b.keys().filter(|k| !a.contains_key(*k)).collect();
            let extra: Vec<&String> = a.keys().filter(|k| !b.contains_key(*k)).collect();
            let stale: Vec<&String> = a
                .iter()
                .filter(|(k, v)| b.get(*k).is_some_and(|w| w != *v))
                .map(|(k, _)| k)
                .collect();
            assert!(
                missed.is_empty() && extra.is_empty() && stale.is_empty(),
                "seed {seed}: {user}'s incremental {kind} differ from a fresh pull: \
                 {} missed {missed:?}, {} extra {extra:?}, {} stale {stale:?}",
                missed.len(),
                extra.len(),
                stale.len()
            );
        }
        checked_states += fresh.values().map(BTreeMap::len).sum::<usize>();
    }

    // Every value every answered push carried is in its answer's record or
    // in the conflict log.
    let (pages, _) = app.pull_all(&app.admin, None);
    let logged: HashMap<String, Value> = pages
        .iter()
        .flat_map(|p| {
            p["changes"]["conflicts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| (c["id"].as_str().unwrap().to_string(), c))
        .collect();
    let (mut values, mut in_log, mut rejected) = (0, 0, 0);
    for phone in &phones {
        for (items, answer) in &phone.answered {
            let results = answer["results"].as_array().unwrap();
            for (item, res) in items.iter().zip(results) {
                assert_eq!(item["id"], res["id"]);
                assert!(
                    res["deleted"].is_boolean(),
                    "every result says deleted: {res}"
                );
                if res["status"] == "rejected" {
                    // Refused out loud (a locked record): nothing silent.
                    assert_eq!(res["error"]["code"], "locked", "{res}");
                    rejected += 1;
                    continue;
                }
                for (path, value) in item["fields"].as_object().unwrap() {
                    values += 1;
                    if &res["fields"][path] == value {
                        continue;
                    }
                    let note = res["conflicts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|c| c["field"] == path.as_str() && &c["discarded"] == value);
                    let note = note.unwrap_or_else(|| {
                        panic!("seed {seed}: {path}={value} of {} lost: {res}", item["id"])
                    });
                    let c = &logged[note["conflict_id"].as_str().unwrap()];
                    assert_eq!(&c["discarded"], value);
                    in_log += 1;
                }
            }
        }
    }
    eprintln!(
        "fleet (seed {seed}, {ran:?}): {} pushes, {values} values ({in_log} in the conflict log, \
         {rejected} items refused as locked), {moves} route moves, {reviews} reviews, \
         {resolves} resolves, {} incremental pulls, {checked_states} objects compared",
        phones.iter().map(|p| p.answered.len()).sum::<usize>(),
        pulls.load(Ordering::Relaxed),
    );
    assert!(values > 100 && in_log > 0 && moves > 5 && reviews > 0);
}
