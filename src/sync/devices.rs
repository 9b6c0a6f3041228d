//! The phones that sync: who owns each one and when it last pushed and
//! pulled, so an admin can see who has not synced for days.

use crate::auth::{Caller, Scope};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{devices, users};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::paging::{Page, PageRequest};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Copy)]
pub enum Activity {
    Push,
    Pull,
}

/// Records that `user_id` used `device_id` now. A device belongs to the
/// first user who synced with it; another user's use is refused (409).
pub fn touch(c: &mut Conn, device_id: &str, user_id: &str, what: Activity) -> AppResult<()> {
    let now = clock::now();
    let owner: Option<String> = devices::table
        .find(device_id)
        .select(devices::user_id)
        .first(c)
        .optional()?;
    match owner {
        Some(o) if o != user_id => {
            return Err(AppError::conflict(
                ErrorCode::DeviceTaken,
                "this device id is registered to another user",
            ));
        }
        Some(_) => {}
        None => {
            diesel::insert_into(devices::table)
                .values((
                    devices::id.eq(device_id),
                    devices::user_id.eq(user_id),
                    devices::first_seen_at.eq(now),
                ))
                .execute(c)?;
        }
    }
    let q = diesel::update(devices::table.find(device_id));
    match what {
        Activity::Push => q.set(devices::last_push_at.eq(now)).execute(c)?,
        Activity::Pull => q.set(devices::last_pull_at.eq(now)).execute(c)?,
    };
    Ok(())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub id: String,
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub group_id: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub last_push_at: Option<DateTime<Utc>>,
    pub last_pull_at: Option<DateTime<Utc>>,
    /// The later of the two: when the device last reached the server.
    pub last_sync_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceFilter {
    /// Only devices that have not pushed or pulled since this time.
    pub not_synced_since: Option<DateTime<Utc>>,
    pub user_id: Option<String>,
}

type DeviceRow = (
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    String,
    String,
    Option<String>,
);

/// Devices in the caller's scope (admins all; coordinators their group's
/// users' devices). Inspectors may not list devices.
pub fn list(
    c: &mut Conn,
    caller: &Caller,
    f: &DeviceFilter,
    page: &PageRequest,
) -> AppResult<Page<Device>> {
    caller.require_reviewer("see devices")?;
    let mut q = devices::table
        .inner_join(users::table)
        .select((
            devices::id,
            devices::user_id,
            devices::first_seen_at,
            devices::last_push_at,
            devices::last_pull_at,
            users::username,
            users::display_name,
            users::group_id,
        ))
        .into_boxed();
    match caller.scope() {
        Scope::All => {}
        Scope::Group(g) => q = q.filter(users::group_id.eq(g)),
        Scope::Nothing => {
            return Ok(Page {
                items: vec![],
                next_cursor: None,
            });
        }
    }
    if let Some(since) = f.not_synced_since {
        let t = since.naive_utc();
        q = q.filter(
            devices::last_push_at
                .is_null()
                .or(devices::last_push_at.lt(t))
                .and(
                    devices::last_pull_at
                        .is_null()
                        .or(devices::last_pull_at.lt(t)),
                ),
        );
    }
    if let Some(u) = &f.user_id {
        q = q.filter(devices::user_id.eq(u.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(devices::id.gt(after.clone()));
    }
    let rows: Vec<DeviceRow> = q.order(devices::id).limit(page.limit + 1).load(c)?;
    Ok(Page::from_rows(rows, page, |r| &r.0).map(|r| {
        let last = [Some(r.2), r.3, r.4]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(r.2);
        Device {
            id: r.0,
            user_id: r.1,
            first_seen_at: clock::utc(r.2),
            last_push_at: r.3.map(clock::utc),
            last_pull_at: r.4.map(clock::utc),
            username: r.5,
            display_name: r.6,
            group_id: r.7,
            last_sync_at: clock::utc(last),
        }
    }))
}
