//! An inspection item applied: an existing record checked against what
//! the phone names, a new one placed (its site, route, stop, checklist
//! version and group, whatever an admin changed since the phone pulled),
//! then merged by field and written through the one write path.

use super::Ctx;
use super::parse::{self, InspectionItem};
use super::wire::{InspectionPush, ItemFail, ItemResult, PushItemKind, Reject, done, rejected};
use crate::db::Conn;
use crate::error::{AppResult, ErrorCode};
use crate::inspection::conflicts;
use crate::inspection::merge::{self, Edit, FieldEdit, Record, Status};
use crate::inspection::write::{Before, Header};
use crate::inspection::{self as insp, ReviewStatus, fields};
use crate::journal;
use crate::reference::templates::{self, Item};
use crate::reference::{routes, sites, users};
use crate::review::followups;
use std::sync::Arc;

impl Ctx<'_> {
    pub(super) fn items(
        &mut self,
        c: &mut Conn,
        template_id: &str,
        version: i32,
    ) -> AppResult<Option<Arc<[Item]>>> {
        let key = (template_id.to_string(), version);
        if let Some(items) = self.checklists.get(&key) {
            return Ok(Some(Arc::clone(items)));
        }
        let Some(items) = templates::version_items(c, template_id, version)? else {
            return Ok(None);
        };
        let items: Arc<[Item]> = items.into();
        self.checklists.insert(key, Arc::clone(&items));
        Ok(Some(items))
    }

    /// The group of a route the caller may hand work in on: one they see
    /// now, one assigned to them, or a whole-group route of a group they
    /// have belonged to. Cancelled and deleted routes count (the phone
    /// held them); `None` for any other.
    fn route_group(&mut self, c: &mut Conn, route: &str) -> AppResult<Option<String>> {
        let row = routes::group_and_assignee(c, route)?;
        let Some((group, assignee)) = row else {
            return Ok(None);
        };
        let ok = self.caller.sees_assignment(&group, assignee.as_deref())
            || assignee.as_deref() == Some(self.caller.id.as_str())
            || (assignee.is_none() && users::was_member(c, &self.caller.id, &group)?);
        Ok(ok.then_some(group))
    }

    /// A new quick report: no site, route, stop or checklist; filed under
    /// the reporter's group.
    fn new_report_header(&mut self, item: &InspectionItem) -> Result<Header, ItemFail> {
        for (name, given) in [
            ("site_id", item.site_id.is_some()),
            ("route_id", item.route_id.is_some()),
            ("stop_id", item.stop_id.is_some()),
            ("template_id", item.template_id.is_some()),
            ("template_version", item.template_version.is_some()),
        ] {
            if given {
                return Err(Reject::field(
                    ErrorCode::InvalidValue,
                    name,
                    "a quick report names no site, route, stop or checklist",
                )
                .into());
            }
        }
        let group_id = self.caller.group_id.as_ref().ok_or_else(|| {
            Reject::new(
                ErrorCode::InvalidValue,
                "a quick report is filed under its reporter's liaison group; this account has none",
            )
        })?;
        Ok(Header {
            id: item.id.to_string(),
            inspector_id: self.caller.id.to_string(),
            group_id: group_id.to_string(),
            kind: insp::RecordKind::Report,
            site_id: None,
            route_id: None,
            stop_id: None,
            template_id: None,
            template_version: None,
        })
    }

    fn new_header(&mut self, c: &mut Conn, item: &InspectionItem) -> Result<Header, ItemFail> {
        if item.kind == Some(insp::RecordKind::Report) {
            return self.new_report_header(item);
        }
        let id = item.id.to_string();
        let site_id = item.site_id.clone().ok_or_else(|| {
            Reject::field(
                ErrorCode::InvalidValue,
                "site_id",
                "a new inspection needs its site",
            )
        })?;
        let template_id = item.template_id.clone().ok_or_else(|| {
            Reject::field(
                ErrorCode::InvalidValue,
                "template_id",
                "a new inspection needs its checklist",
            )
        })?;
        let site = match self.sites.get(&site_id) {
            Some(s) => s.clone(),
            None => {
                let s = sites::group_of(c, &site_id)?;
                self.sites.insert(site_id.clone(), s.clone());
                s
            }
        };
        // Work a phone made offline is handed in whatever an admin changed
        // since it pulled (DESIGN "Edits while phones hold them"): a site
        // that moved or was removed, a route cancelled or deleted, a stop
        // removed, a checklist's newer version, the inspector's own move
        // to another group. The record keeps the group it was made under:
        // its route's; else its site's, when the caller sees it; else the
        // caller's own, when the site was in it before it moved; else the
        // site's, when the caller was in it before they moved.
        let Some((site_group, _)) = site else {
            return Err(Reject::field(ErrorCode::NotFound, "site_id", "no such site").into());
        };
        let route_id = item.route_id.clone();
        let stop_id = item.stop_id.clone();
        let site_left_callers_group = match (&route_id, &self.caller.group_id) {
            (None, Some(own)) if !self.caller.sees_group(&site_group) => {
                journal::was_in_group(c, "site", &site_id, own)?
            }
            _ => false,
        };
        let group_id = match &route_id {
            Some(route) => {
                let group = self.route_group(c, route)?.ok_or_else(|| {
                    Reject::field(ErrorCode::NotFound, "route_id", "no such route")
                })?;
                // The site is the route's group's, now or before it moved:
                // a route is no pass to another group's sites.
                if site_group != group && !journal::was_in_group(c, "site", &site_id, &group)? {
                    return Err(Reject::field(
                        ErrorCode::NotFound,
                        "site_id",
                        "no such site for this route",
                    )
                    .into());
                }
                group
            }
            None if self.caller.sees_group(&site_group) => site_group,
            // The site moved away from the caller's group since.
            None if site_left_callers_group => self
                .caller
                .group_id
                .as_ref()
                .map(|g| g.to_string())
                .unwrap_or_default(),
            // The caller moved away from the site's group since.
            None if users::was_member(c, &self.caller.id, &site_group)? => site_group,
            None => {
                return Err(Reject::field(ErrorCode::NotFound, "site_id", "no such site").into());
            }
        };
        let key = (template_id.clone(), group_id.clone());
        let current = match self.current.get(&key) {
            Some(v) => *v,
            None => {
                let v = templates::current_version_for_group(c, &template_id, &group_id)?;
                self.current.insert(key, v);
                v
            }
        };
        // The checklist as the phone had it: the version it names (an
        // older one stays valid: `checks.template_outdated`), else the
        // current one.
        let template_version = match current {
            Some(cur) => item.template_version.unwrap_or(cur),
            None => {
                return Err(Reject::field(
                    ErrorCode::NotFound,
                    "template_id",
                    "no such checklist for this site",
                )
                .into());
            }
        };
        if self.items(c, &template_id, template_version)?.is_none() {
            return Err(Reject::field(
                ErrorCode::NotFound,
                "template_version",
                "no such checklist version",
            )
            .into());
        }
        if let Some(stop) = &stop_id {
            let Some(route) = &route_id else {
                return Err(Reject::field(
                    ErrorCode::InvalidValue,
                    "stop_id",
                    "a stop needs its route_id",
                )
                .into());
            };
            // A stop since removed (or moved to another site) is applied
            // and flagged (`checks.stop_removed`); a stop of another route
            // is a client's mistake.
            let on_route = routes::route_of_stop(c, stop)?;
            if on_route.is_some_and(|r| r != *route) {
                return Err(Reject::field(
                    ErrorCode::InvalidValue,
                    "stop_id",
                    "the stop belongs to another route",
                )
                .into());
            }
        }
        Ok(Header {
            id,
            inspector_id: self.caller.id.to_string(),
            group_id,
            kind: insp::RecordKind::Inspection,
            site_id: Some(site_id),
            route_id,
            stop_id,
            template_id: Some(template_id),
            template_version: Some(template_version),
        })
    }

    pub(super) fn inspection(
        &mut self,
        c: &mut Conn,
        item: InspectionPush,
    ) -> AppResult<ItemResult> {
        let id = item.id.to_string();
        // Read with the rest of the batch up front; a record this batch
        // already wrote is read again.
        let existing = match self.prefetched.remove(&id) {
            Some(row) if !self.written.contains(&id) => Some(row),
            _ if self.written.contains(&id) => insp::find(c, &id)?,
            _ => None,
        };
        self.written.insert(id.clone());
        let applied = parse::inspection(item)
            .map_err(ItemFail::from)
            .and_then(|item| self.apply_inspection(c, existing.as_ref(), item));
        match applied {
            Ok(r) => Ok(r),
            Err(ItemFail::Reject(r)) => {
                let current = existing
                    .as_ref()
                    .filter(|r| self.may_write(r))
                    .map(|r| r.record().map(|rec| (rec.version, rec.fields, rec.deleted)))
                    .transpose()?;
                Ok(rejected(id, PushItemKind::Inspection, r, current))
            }
            Err(ItemFail::Db(e)) => Err(e),
        }
    }

    fn apply_inspection(
        &mut self,
        c: &mut Conn,
        existing: Option<&insp::Row>,
        item: InspectionItem,
    ) -> Result<ItemResult, ItemFail> {
        let (header, before) = match existing {
            Some(row) => {
                if !self.may_write(row) {
                    return Err(Reject::new(ErrorCode::NotFound, "no such inspection").into());
                }
                check_same(row, &item)?;
                (Header::of(row)?, Some(Before::of(row)?))
            }
            None => (self.new_header(c, &item)?, None),
        };

        let items = match (&header.template_id, header.template_version) {
            (Some(t), Some(v)) => self.items(c, t, v)?,
            _ => None,
        }
        .unwrap_or_else(|| Arc::from(Vec::new()));
        let mut edits = Vec::with_capacity(item.fields.len());
        for (path, value) in item.fields {
            fields::check(&path, &value, &items).map_err(|reason| {
                Reject::field(ErrorCode::InvalidValue, &path, format!("{path}: {reason}"))
            })?;
            if header.kind != insp::RecordKind::Report
                && fields::REPORT_ONLY.contains(&path.as_str())
            {
                return Err(Reject::field(
                    ErrorCode::InvalidValue,
                    &path,
                    format!("{path}: only a quick report has one"),
                )
                .into());
            }
            let changed_at = *item.changed_at.get(&path).ok_or_else(|| {
                Reject::field(
                    ErrorCode::InvalidValue,
                    &path,
                    format!("changed_at is missing for {path}"),
                )
            })?;
            edits.push(FieldEdit {
                path,
                value,
                changed_at,
            });
        }
        let edit = Edit {
            device: self.device.to_string(),
            base_version: item.base_version,
            deleted: item.deleted,
            deleted_at: item.changed_at.get(merge::DELETED).copied(),
            fields: edits,
        };
        let empty = Record::default();
        let record = before.as_ref().map_or(&empty, |b| &b.record);
        let review = before.as_ref().map_or(ReviewStatus::Pending, |b| b.review);
        let mut merged = merge::merge(record, &edit, self.now).map_err(Reject::from)?;
        if before.is_none() && merged.record.version == 0 {
            // A record pushed with no field yet still comes to be.
            merged.record.version = 1;
            merged.status = Status::Applied;
        }
        if header.kind == insp::RecordKind::Report && !merged.record.deleted {
            fields::check_report(&merged.record.fields)
                .map_err(|(path, reason)| Reject::field(ErrorCode::InvalidValue, path, reason))?;
        }
        let held_off = self.held_off(review);
        if held_off && (merged.record.version != record.version || !merged.discards.is_empty()) {
            return Err(Reject::locked(review).into());
        }
        // Only the remembered (changed_at, device) of an equal value may
        // differ: worth keeping, except on a record closed to this caller.
        if !held_off {
            followups::save_record(
                c,
                &header,
                before.as_ref(),
                &merged.record,
                review,
                &self.caller.id,
            )?;
        }
        let notes = conflicts::log(
            c,
            &header.id,
            &header.tag(),
            &merged.discards,
            &mut self.open,
        )?;
        Ok(done(header.id, PushItemKind::Inspection, merged, notes))
    }
}

/// An existing inspection's site, route, stop and checklist never change;
/// a push that names others is refused rather than silently ignored.
fn check_same(row: &insp::Row, item: &InspectionItem) -> Result<(), Reject> {
    let differs = |given: &Option<String>, stored: Option<&str>| {
        given.as_deref().is_some_and(|g| Some(g) != stored)
    };
    if let Some(k) = item.kind
        && k.as_str() != row.kind
    {
        return Err(Reject::field(
            ErrorCode::Immutable,
            "kind",
            "a record's kind is set when it is made and never changes",
        ));
    }
    for (name, given, stored) in [
        ("site_id", &item.site_id, row.site_id.as_deref()),
        ("route_id", &item.route_id, row.route_id.as_deref()),
        ("stop_id", &item.stop_id, row.stop_id.as_deref()),
        ("template_id", &item.template_id, row.template_id.as_deref()),
    ] {
        if differs(given, stored) {
            return Err(Reject::field(
                ErrorCode::Immutable,
                name,
                format!("{name} of an existing inspection cannot change"),
            ));
        }
    }
    if item
        .template_version
        .is_some_and(|v| Some(v) != row.template_version)
    {
        return Err(Reject::field(
            ErrorCode::Immutable,
            "template_version",
            "the checklist version cannot change",
        ));
    }
    Ok(())
}
