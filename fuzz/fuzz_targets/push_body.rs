//! A push body as a phone could send it: parsed whole, hashed, each item
//! parsed on its own, its fields checked and merged into a record.
#![no_main]

use fieldsync::inspection::fields;
use fieldsync::inspection::merge::{self, Edit, FieldEdit, Record};
use fieldsync::sync::push::{self, InspectionPush, PhotoPush, PushRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<PushRequest>(data) else {
        return;
    };
    let _ = push::check_batch(&req);
    let _ = req.content_hash();
    let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap_or_default();
    for raw in &req.inspections {
        let Ok(item) = serde_json::from_value::<InspectionPush>(raw.clone()) else {
            continue;
        };
        let mut edits = Vec::new();
        for (path, value) in &item.fields {
            if fields::check(path, value, &[]).is_ok()
                && let Some(t) = item.changed_at.get(path)
            {
                edits.push(FieldEdit {
                    path: path.clone(),
                    value: value.clone(),
                    changed_at: *t,
                });
            }
        }
        let edit = Edit {
            device: "fuzz".into(),
            base_version: item.base_version,
            deleted: item.deleted,
            deleted_at: item.changed_at.get(merge::DELETED).copied(),
            fields: edits,
        };
        if let Ok(m) = merge::merge(&Record::default(), &edit, now) {
            let _ = merge::merge(&m.record, &edit, now);
        }
    }
    for raw in &req.photos {
        let _ = serde_json::from_value::<PhotoPush>(raw.clone());
    }
});
