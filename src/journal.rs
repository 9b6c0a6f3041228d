//! The two append-only logs every change writes in its own transaction:
//! `change_log` (what sync pull hands out, by sequence) and `audit_log`
//! (who did what, for admins).

use crate::clock;
use crate::db::Conn;
use crate::db::schema::{audit_log, change_log};
use crate::error::{AppError, AppResult};
use crate::ids::{GroupId, UserId};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use serde_json::Value;

/// Who sees a record and everything that hangs off it (photos, conflicts,
/// reviews): its group and its inspector. Made only from the record
/// itself, so a change is never tagged with another object's scope.
#[derive(Debug, Clone)]
pub struct RecordTag {
    group_id: GroupId,
    owner_id: UserId,
}

impl RecordTag {
    /// Only `inspection::Row::tag` and `write::Header::tag` call this: the
    /// scope is the record's own, never another object's.
    pub(crate) fn of_record(group_id: &str, owner_id: &str) -> RecordTag {
        RecordTag {
            group_id: GroupId::new(group_id),
            owner_id: UserId::new(owner_id),
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    pub fn owner_id(&self) -> &str {
        &self.owner_id
    }
}

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

/// Who sees an object, as pull's ranges read it: its group (None: the
/// whole district) and, for an inspector's own objects (inspections and
/// what hangs off them), the inspector, who sees them wherever they are.
/// Always read from the object itself as it is now in this transaction,
/// never told by the caller: a route logged by a push of another group's
/// inspection stays under its own group.
fn scope_of(c: &mut Conn, entity: Entity, id: &str) -> AppResult<(Option<String>, Option<String>)> {
    use crate::db::schema::{
        conflicts as cf, followups as fu, inspections as ins, photos as ph, reviews as rv,
        routes as ro, sites as si, templates as te,
    };
    let found: Option<(Option<String>, Option<String>)> = match entity {
        Entity::Group => Some((Some(id.to_string()), None)),
        Entity::Site => si::table
            .find(id)
            .select((
                si::group_id.nullable(),
                None::<String>.into_sql::<Nullable<Text>>(),
            ))
            .first(c)
            .optional()?,
        Entity::Template => te::table
            .find(id)
            .select((te::group_id, None::<String>.into_sql::<Nullable<Text>>()))
            .first(c)
            .optional()?,
        Entity::Route => ro::table
            .find(id)
            .select((
                ro::group_id.nullable(),
                None::<String>.into_sql::<Nullable<Text>>(),
            ))
            .first(c)
            .optional()?,
        Entity::Inspection => ins::table
            .find(id)
            .select((ins::group_id.nullable(), ins::inspector_id.nullable()))
            .first(c)
            .optional()?,
        Entity::Photo => ph::table
            .inner_join(ins::table)
            .filter(ph::id.eq(id))
            .select((ins::group_id.nullable(), ins::inspector_id.nullable()))
            .first(c)
            .optional()?,
        Entity::Conflict => cf::table
            .inner_join(ins::table)
            .filter(cf::id.eq(id))
            .select((ins::group_id.nullable(), ins::inspector_id.nullable()))
            .first(c)
            .optional()?,
        Entity::Review => rv::table
            .inner_join(ins::table)
            .filter(rv::id.eq(id))
            .select((ins::group_id.nullable(), ins::inspector_id.nullable()))
            .first(c)
            .optional()?,
        Entity::Followup => fu::table
            .find(id)
            .select((fu::group_id.nullable(), fu::owner_id.nullable()))
            .first(c)
            .optional()?,
    };
    found.ok_or_else(|| AppError::internal(format!("change of a missing {} {id}", entity.as_str())))
}

/// Records a change of an inspection record or of something that hangs off
/// it (`Inspection`, `Photo`, `Conflict`, `Review`), tagged with the
/// record's own scope: the [`RecordTag`] can only be made from the record,
/// and saves the lookup on bulk pushes. `new`: created in this transaction.
pub fn record_changed(
    c: &mut Conn,
    entity: Entity,
    id: &str,
    tag: &RecordTag,
    new: bool,
) -> AppResult<()> {
    if !new {
        forget(c, entity, id)?;
    }
    insert(c, entity, id, Some(tag.group_id()), Some(tag.owner_id()))
}

fn forget(c: &mut Conn, entity: Entity, id: &str) -> AppResult<()> {
    crate::db::execute(
        c,
        diesel::delete(
            change_log::table
                .filter(change_log::entity.eq(entity.as_str()))
                .filter(change_log::entity_id.eq(id)),
        ),
    )?;
    Ok(())
}

fn insert(
    c: &mut Conn,
    entity: Entity,
    id: &str,
    group_id: Option<&str>,
    owner_id: Option<&str>,
) -> AppResult<()> {
    crate::db::execute(
        c,
        diesel::insert_into(change_log::table).values((
            change_log::entity.eq(entity.as_str()),
            change_log::entity_id.eq(id),
            change_log::group_id.eq(group_id),
            change_log::owner_id.eq(owner_id),
            change_log::changed_at.eq(clock::now()),
        )),
    )?;
    Ok(())
}

/// Records that `id` changed, in the caller's transaction: pull hands the
/// object out once, at its latest state, to whoever sees it now. The
/// object's previous entry is replaced under a new, higher sequence number.
pub fn changed(c: &mut Conn, entity: Entity, id: &str) -> AppResult<()> {
    forget(c, entity, id)?;
    created(c, entity, id)
}

/// [`changed`] for an object created in this transaction, which has no
/// earlier entry to replace.
pub fn created(c: &mut Conn, entity: Entity, id: &str) -> AppResult<()> {
    let (group_id, owner_id) = scope_of(c, entity, id)?;
    insert(c, entity, id, group_id.as_deref(), owner_id.as_deref())
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
/// Whether a user or a site (`object_type`) was ever put in `group_id`:
/// its creation and every change of its group are audited with the group
/// in their details. Read only where offline work must be placed after a
/// move (a handful of rows per object, by the audit log's object index).
pub fn was_in_group(
    c: &mut Conn,
    object_type: &str,
    object_id: &str,
    group_id: &str,
) -> AppResult<bool> {
    use crate::db::schema::audit_log as a;
    let hits: i64 = a::table
        .filter(a::object_type.eq(object_type))
        .filter(a::object_id.eq(object_id))
        .filter(a::details.like(format!("%\"group_id\":\"{group_id}\"%")))
        .count()
        .get_result(c)?;
    Ok(hits > 0)
}

pub fn admin_change(
    c: &mut Conn,
    actor_id: &str,
    entity: Entity,
    id: &str,
    action: &str,
    details: Value,
) -> AppResult<()> {
    changed(c, entity, id)?;
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
