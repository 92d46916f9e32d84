//! Device authorization requests (RFC 8628, `device_codes`): a device's request waiting
//! for a person at /device, found by the digest of its device code (polling) or of its
//! user code (approval), decided once, redeemed once, bounded and swept.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::Result;
use crate::fair_share::Holder;

/// Where a device's request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Approved,
    Denied,
    Redeemed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::Redeemed => "redeemed",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "approved" => Status::Approved,
            "denied" => Status::Denied,
            "redeemed" => Status::Redeemed,
            _ => Status::Pending,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeviceRequest {
    pub device_digest: Vec<u8>,
    pub user_digest: Vec<u8>,
    /// The client's row id.
    pub client: i64,
    /// The asking device's network and address (fair_share::holder_of).
    pub from: Holder,
    pub scopes: Vec<String>,
    pub status: Status,
    pub interval_secs: i64,
    pub last_poll_at: Option<i64>,
    /// Who approved it, when, and how they had signed in.
    pub user_id: Option<i64>,
    pub auth_time: Option<i64>,
    pub amr: Vec<String>,
    pub expires_at: i64,
}

/// Device requests kept at most (expired ones too, while they are kept): anyone holding
/// a device client's id can start one, so when the table is full crate::fair_share makes
/// room from the network holding the most (or refuses that network's newcomer): a flood
/// must not push out the code a person's TV is showing. oidc::device also bounds
/// requests per address.
pub const MAX_PENDING: i64 = 10_000;

/// How long an expired request is kept: a device polling late still hears
/// expired_token (start again, RFC 8628 3.5), not invalid_grant for a code it never
/// saw go. Later, the code is forgotten.
pub const KEPT_AFTER_EXPIRY_SECS: i64 = 600;

const COLUMNS: &str =
    "device_digest, user_digest, client_id, scopes_json, status, interval_secs, last_poll_at,
     user_id, auth_time, amr_json, expires_at, requester, network";

fn list(text: String) -> Vec<String> {
    // Written only by this module from Vec<String>.
    serde_json::from_str(&text).unwrap_or_default()
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).expect("strings serialize")
}

fn row(r: &Row) -> rusqlite::Result<DeviceRequest> {
    let status: String = r.get(4)?;
    Ok(DeviceRequest {
        device_digest: r.get(0)?,
        user_digest: r.get(1)?,
        client: r.get(2)?,
        scopes: list(r.get(3)?),
        status: Status::parse(&status),
        interval_secs: r.get(5)?,
        last_poll_at: r.get(6)?,
        user_id: r.get(7)?,
        auth_time: r.get(8)?,
        amr: list(r.get(9)?),
        expires_at: r.get(10)?,
        from: Holder {
            address: r.get(11)?,
            network: r.get(12)?,
        },
    })
}

/// Requests count against [`MAX_PENDING`] while they are kept: those that expire after this.
pub fn kept_after(now: i64) -> i64 {
    now - KEPT_AFTER_EXPIRY_SECS
}

/// Stores a new pending request (after fair_share::make_room); false (nothing stored)
/// when its user code is taken. Requests expired longer than [`KEPT_AFTER_EXPIRY_SECS`]
/// go first.
pub fn insert(conn: &Connection, d: &DeviceRequest, now: i64) -> Result<bool> {
    conn.execute(
        "DELETE FROM device_codes WHERE expires_at <= ?1",
        [kept_after(now)],
    )?;
    let stored = conn.execute(
        "INSERT INTO device_codes (device_digest, user_digest, client_id, requester, network, scopes_json,
                                   status, interval_secs, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (user_digest) DO NOTHING",
        params![
            d.device_digest,
            d.user_digest,
            d.client,
            d.from.address,
            d.from.network,
            to_json(&d.scopes),
            d.status.as_str(),
            d.interval_secs,
            now,
            d.expires_at
        ],
    )? == 1;
    Ok(stored)
}

/// Requests from this address that have not expired.
pub fn live_from(conn: &Connection, requester: &str, now: i64) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM device_codes WHERE requester = ?1 AND expires_at > ?2",
        )?
        .query_row(params![requester, now], |r| r.get(0))?)
}

/// The request whose device code has this digest (any status, expired or not).
pub fn by_device_code(conn: &Connection, digest: &[u8]) -> Result<Option<DeviceRequest>> {
    let sql = format!("SELECT {COLUMNS} FROM device_codes WHERE device_digest = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([digest], row)
        .optional()?)
}

/// The request waiting for a decision under this user code digest, unless expired.
pub fn pending_by_user_code(
    conn: &Connection,
    digest: &[u8],
    now: i64,
) -> Result<Option<DeviceRequest>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM device_codes WHERE user_digest = ?1 AND status = 'pending' AND expires_at > ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![digest, now], row)
        .optional()?)
}

/// Notes a poll at `now` and the interval the device must keep from now on.
pub fn record_poll(
    conn: &Connection,
    device_digest: &[u8],
    interval_secs: i64,
    now: i64,
) -> Result<()> {
    conn.execute(
        "UPDATE device_codes SET last_poll_at = ?2, interval_secs = ?3 WHERE device_digest = ?1",
        params![device_digest, now, interval_secs],
    )?;
    Ok(())
}

/// Who approved a request.
pub struct Approver<'a> {
    pub user_id: i64,
    pub auth_time: i64,
    pub amr: &'a [String],
}

/// Approves (with `Some(approver)`) or denies a pending, live request; false when it was
/// no longer waiting (decided meanwhile, or expired).
pub fn decide(
    conn: &Connection,
    user_digest: &[u8],
    approver: Option<&Approver>,
    now: i64,
) -> Result<bool> {
    let changed = match approver {
        Some(a) => conn.execute(
            "UPDATE device_codes SET status = 'approved', user_id = ?2, auth_time = ?3, amr_json = ?4
             WHERE user_digest = ?1 AND status = 'pending' AND expires_at > ?5",
            params![user_digest, a.user_id, a.auth_time, to_json(a.amr), now],
        )?,
        None => conn.execute(
            "UPDATE device_codes SET status = 'denied'
             WHERE user_digest = ?1 AND status = 'pending' AND expires_at > ?2",
            params![user_digest, now],
        )?,
    };
    Ok(changed == 1)
}

/// Marks an approved request redeemed; false when it already was (only one poll wins).
pub fn redeem(conn: &Connection, device_digest: &[u8]) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE device_codes SET status = 'redeemed' WHERE device_digest = ?1 AND status = 'approved'",
        [device_digest],
    )? == 1)
}

/// Removes up to `batch` requests expired longer than [`KEPT_AFTER_EXPIRY_SECS`] (the
/// janitor's sweep).
pub fn sweep(conn: &Connection, now: i64, batch: i64) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM device_codes WHERE device_digest IN
           (SELECT device_digest FROM device_codes WHERE expires_at <= ?1 LIMIT ?2)",
        params![kept_after(now), batch],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (Connection, i64) {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrate::run(&mut c).unwrap();
        c.execute(
            "INSERT INTO oauth_clients (client_id, name, redirect_uris_json, post_logout_uris_json, public, trusted,
                                        scopes_json, grant_types_json, created_at, updated_at)
             VALUES ('tv', 'TV', '[]', '[]', 1, 0, '[]', '[]', 0, 0)",
            [],
        )
        .unwrap();
        let id = c.last_insert_rowid();
        (c, id)
    }

    fn request(client: i64, n: i64, expires_at: i64) -> DeviceRequest {
        DeviceRequest {
            device_digest: format!("d{n}").into_bytes(),
            user_digest: format!("u{n}").into_bytes(),
            client,
            from: Holder {
                network: format!("10.0.0.{}", n % 3),
                address: format!("10.0.0.{}", n % 3),
            },
            scopes: vec!["openid".into()],
            status: Status::Pending,
            interval_secs: 5,
            last_poll_at: None,
            user_id: None,
            auth_time: None,
            amr: vec![],
            expires_at,
        }
    }

    #[test]
    fn a_taken_user_code_is_refused_and_expired_requests_are_kept_a_while() {
        let (c, client) = store();
        assert!(insert(&c, &request(client, 1, 600), 0).unwrap());
        let mut same_user_code = request(client, 1, 9999);
        same_user_code.device_digest = b"other".to_vec();
        assert!(!insert(&c, &same_user_code, 0).unwrap());
        let kept = by_device_code(&c, b"d1").unwrap().unwrap();
        assert_eq!(kept.from.network, "10.0.0.1");
        assert_eq!(sweep(&c, 600 + KEPT_AFTER_EXPIRY_SECS - 1, 100).unwrap(), 0);
        assert_eq!(sweep(&c, 600 + KEPT_AFTER_EXPIRY_SECS, 100).unwrap(), 1);
    }

    #[test]
    fn a_request_is_decided_once_and_redeemed_once() {
        let (c, client) = store();
        insert(&c, &request(client, 1, 600), 0).unwrap();
        assert!(!redeem(&c, b"d1").unwrap(), "pending is not redeemable");
        assert!(
            pending_by_user_code(&c, b"u1", 600).unwrap().is_none(),
            "expired"
        );
        assert!(!decide(&c, b"u1", None, 600).unwrap(), "expired");
        assert!(decide(&c, b"u1", None, 10).unwrap());
        assert!(!decide(&c, b"u1", None, 10).unwrap(), "decided already");
        assert_eq!(
            by_device_code(&c, b"d1").unwrap().unwrap().status,
            Status::Denied
        );
        assert!(!redeem(&c, b"d1").unwrap(), "denied is not redeemable");
    }
}
