//! What `serve` needs before it answers: the database, the JWT secret and
//! a first admin.

use crate::auth::{Role, password};
use crate::config::Config;
use crate::db::Db;
use crate::db::schema::users;
use crate::reference::users::{self as user_ref, NewUser};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use std::io::Write;
use std::path::Path;

use std::os::unix::fs::DirBuilderExt;

pub const SECRET_FILE: &str = "jwt-secret";
pub const MIN_SECRET_BYTES: usize = 32;

pub struct Prepared {
    pub db: Db,
    pub jwt_secret: Vec<u8>,
    pub admin_password: Option<String>,
}

pub fn open_db(config: &Config) -> anyhow::Result<Db> {
    // Owner only: the database, the photos and the JWT secret live here.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    Db::open(&config.database(), config.read_pool, config.busy_timeout_ms)
}

pub fn prepare(config: &Config) -> anyhow::Result<Prepared> {
    let db = open_db(config)?;
    let jwt_secret = jwt_secret(config)?;
    let admin_password = ensure_admin(&db, config.admin_password.as_deref())?;
    Ok(Prepared {
        db,
        jwt_secret,
        admin_password,
    })
}

fn jwt_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = &config.jwt_secret {
        if s.len() < MIN_SECRET_BYTES {
            bail!("FIELDSYNC_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes");
        }
        return Ok(s.as_bytes().to_vec());
    }
    let path = config.data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= MIN_SECRET_BYTES => Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => bail!(
            "{} is shorter than {MIN_SECRET_BYTES} bytes",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_secret(&path),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 48]>());
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(secret.as_bytes())?;
    f.sync_all()?;
    Ok(secret.into_bytes())
}

/// Creates `admin` when the district has no admin at all (an empty
/// database, or one whose users were all made from the command line).
/// Returns the password when it was generated (to be shown once).
fn ensure_admin(db: &Db, configured: Option<&str>) -> anyhow::Result<Option<String>> {
    let count: i64 = db
        .read_blocking(|c| {
            Ok(users::table
                .filter(users::role.eq(Role::Admin.as_str()))
                .count()
                .get_result(c)?)
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if count > 0 {
        return Ok(None);
    }
    let (pw, generated) = match configured {
        Some(p) => (p.to_string(), false),
        None => (URL_SAFE_NO_PAD.encode(rand::random::<[u8; 15]>()), true),
    };
    password::check_policy(&pw)
        .map_err(|e| anyhow::anyhow!("FIELDSYNC_ADMIN_PASSWORD: {}", e.message))?;
    let hash = password::hash(&pw).map_err(|e| anyhow::anyhow!("{e}"))?;
    db.write_blocking(|c| {
        user_ref::insert(
            c,
            None,
            NewUser {
                username: "admin".into(),
                display_name: Some("管理员".into()),
                role: Role::Admin,
                group_id: None,
                department_id: None,
                password: String::new(),
            },
            hash,
        )
    })
    .map_err(|e| anyhow::anyhow!("cannot create the admin: {e}"))?;
    Ok(generated.then_some(pw))
}
