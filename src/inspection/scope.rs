//! Who sees which inspection records, and everything that hangs off one
//! (its photos, conflicts, reviews and follow-ups): inspectors their own,
//! coordinators and admins every record in their scope. Every query and
//! check of such objects starts here.

use crate::auth::{Caller, Role, Scope};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordScope {
    /// Admins and district-wide coordinators.
    All,
    /// A group's coordinator.
    Group(String),
    /// An inspector: their own records, wherever they are now.
    Owner(String),
    /// A responder: no record as such; of the records their department's
    /// follow-ups come from, what `review::followups` shows.
    Nothing,
}

impl RecordScope {
    pub fn of(caller: &Caller) -> RecordScope {
        match (caller.role, caller.scope()) {
            (Role::Inspector, _) => RecordScope::Owner(caller.id.to_string()),
            (Role::Responder, _) => RecordScope::Nothing,
            (_, Scope::All) => RecordScope::All,
            (_, Scope::Group(g)) => RecordScope::Group(g),
            // Not reachable for coordinators and admins; see nothing.
            (_, Scope::Nothing) => RecordScope::Owner(caller.id.to_string()),
        }
    }

    /// Whether a record of `group_id`, made by `owner_id`, is in scope.
    pub fn allows(&self, group_id: &str, owner_id: &str) -> bool {
        match self {
            RecordScope::All => true,
            RecordScope::Group(g) => g == group_id,
            RecordScope::Owner(o) => o == owner_id,
            RecordScope::Nothing => false,
        }
    }
}

impl Caller {
    /// Whether this caller sees a record of `group_id` made by `owner_id`.
    pub fn sees_record(&self, group_id: &str, owner_id: &str) -> bool {
        RecordScope::of(self).allows(group_id, owner_id)
    }
}

/// The inspection if the caller may see it: inspectors their own, the
/// others their scope's.
pub fn visible_row(
    c: &mut crate::db::Conn,
    caller: &Caller,
    id: &str,
) -> crate::error::AppResult<super::Row> {
    // An inspector's deleted record is gone for them; coordinators still
    // see it, to resolve the conflicts against its deletion.
    super::find(c, id)?
        .filter(|r| caller.sees_record(&r.group_id, &r.inspector_id))
        .filter(|r| !r.deleted || caller.role.reviews())
        .ok_or_else(|| crate::error::AppError::not_found("inspection"))
}
