//! The sign-in service (signin/) over HTTP: the browser's previous session read from its
//! cookie, and what the service issues turned into signed Set-Cookie values.

use crate::db::{mfa, users};
use crate::error::Result;
use crate::providers::FirstFactor;
use crate::signin::{self, Issued, Pass};
use crate::web::cookies;
use crate::web::request::Ctx;

/// Opens a session with the new id `id` after the first factor `first` (the browser's
/// previous session, if any, ends) and returns its Set-Cookie value.
pub fn new_session(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    id: &[u8],
    linked: users::Linked,
    first: FirstFactor,
) -> Result<String> {
    let previous = previous_session(ctx);
    let ttl = signin::open_session(
        &ctx.origin(),
        tx,
        previous.as_deref(),
        id,
        linked,
        first,
        None,
    )?;
    Ok(set_cookie(
        ctx,
        &Issued {
            pass: Pass::Session,
            id: id.to_vec(),
            ttl,
        },
    ))
}

/// signin::second_factor_done for this request (in `tx`): the session's Set-Cookie value.
pub fn second_factor_done(
    ctx: &Ctx,
    tx: &rusqlite::Connection,
    pending_digest: &[u8],
    pending: &mfa::Pending,
    factor: crate::mfa::Factor,
) -> Result<String> {
    let previous = previous_session(ctx);
    let issued = signin::second_factor_done(
        &ctx.origin(),
        tx,
        previous.as_deref(),
        pending_digest,
        pending,
        factor,
    )?;
    Ok(set_cookie(ctx, &issued))
}

/// The id of the session this browser's cookie holds, if the signature verifies.
pub fn previous_session(ctx: &Ctx) -> Option<Vec<u8>> {
    cookies::Cookie::Session.read(ctx)
}

/// The signed Set-Cookie value that carries what the sign-in service issued.
pub fn set_cookie(ctx: &Ctx, issued: &Issued) -> String {
    let cookie = match issued.pass {
        Pass::Session => cookies::Cookie::Session,
        Pass::SecondFactor => cookies::Cookie::Mfa,
    };
    cookie.issue(ctx, &issued.id, issued.ttl)
}
