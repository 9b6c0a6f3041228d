//! The two append-only logs every change writes in its own transaction:
//! `change_log` (what sync pull hands out, by sequence) and `audit_log`
//! (who did what, for admins).

use crate::clock;
use crate::db::Conn;
use crate::db::schema::{audit_log, change_log};
use crate::error::AppResult;
use diesel::prelude::*;
use serde_json::Value;

/// Kinds of synced objects, as pull names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Group,
    Site,
    Template,
    Route,
    Inspection,
    Photo,
    Conflict,
    Review,
    Followup,
}

impl Entity {
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Group => "group",
            Entity::Site => "site",
            Entity::Template => "template",
            Entity::Route => "route",
            Entity::Inspection => "inspection",
            Entity::Photo => "photo",
            Entity::Conflict => "conflict",
            Entity::Review => "review",
            Entity::Followup => "followup",
        }
    }

    pub fn parse(s: &str) -> Option<Entity> {
        Some(match s {
            "group" => Entity::Group,
            "site" => Entity::Site,
            "template" => Entity::Template,
            "route" => Entity::Route,
            "inspection" => Entity::Inspection,
            "photo" => Entity::Photo,
            "conflict" => Entity::Conflict,
            "review" => Entity::Review,
            "followup" => Entity::Followup,
            _ => return None,
        })
    }
}

/// Records that `id` changed; `group_id` is the group whose members see it
/// (None: everybody in the district).
pub fn changed(c: &mut Conn, entity: Entity, id: &str, group_id: Option<&str>) -> AppResult<()> {
    changed_owned(c, entity, id, group_id, None)
}

/// Like [`changed`], for an object that belongs to one inspector (their
/// inspections and what hangs off them), who sees it wherever they are.
/// The object's previous entry is replaced: the log keeps the latest change
/// of each object, under a new, higher sequence number.
pub fn changed_owned(
    c: &mut Conn,
    entity: Entity,
    id: &str,
    group_id: Option<&str>,
    owner_id: Option<&str>,
) -> AppResult<()> {
    diesel::delete(
        change_log::table
            .filter(change_log::entity.eq(entity.as_str()))
            .filter(change_log::entity_id.eq(id)),
    )
    .execute(c)?;
    created_owned(c, entity, id, group_id, owner_id)
}

/// [`changed_owned`] for an object created in this transaction, which has
/// no earlier entry to replace (saves a lookup per row on bulk pushes).
pub fn created_owned(
    c: &mut Conn,
    entity: Entity,
    id: &str,
    group_id: Option<&str>,
    owner_id: Option<&str>,
) -> AppResult<()> {
    diesel::insert_into(change_log::table)
        .values((
            change_log::entity.eq(entity.as_str()),
            change_log::entity_id.eq(id),
            change_log::group_id.eq(group_id),
            change_log::owner_id.eq(owner_id),
            change_log::changed_at.eq(clock::now()),
        ))
        .execute(c)?;
    Ok(())
}

pub struct Audit<'a> {
    pub actor_id: Option<&'a str>,
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: Option<&'a str>,
    pub details: Value,
}

pub fn audit(c: &mut Conn, a: Audit<'_>) -> AppResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(clock::new_id()),
            audit_log::at.eq(clock::now()),
            audit_log::actor_id.eq(a.actor_id),
            audit_log::action.eq(a.action),
            audit_log::object_type.eq(a.object_type),
            audit_log::object_id.eq(a.object_id),
            audit_log::details.eq(a.details.to_string()),
        ))
        .execute(c)?;
    Ok(())
}

/// An admin's change to a synced object: the change log entry that pull
/// hands out and the audit entry, both in the caller's transaction.
pub fn admin_change(
    c: &mut Conn,
    actor_id: &str,
    entity: Entity,
    id: &str,
    group_id: Option<&str>,
    action: &str,
    details: Value,
) -> AppResult<()> {
    changed(c, entity, id, group_id)?;
    audit(
        c,
        Audit {
            actor_id: Some(actor_id),
            action,
            object_type: entity.as_str(),
            object_id: Some(id),
            details,
        },
    )
}
