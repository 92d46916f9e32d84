//! The operations: one decoded request in, the response messages out. Bind, search,
//! compare, "Who am I?" and unbind are served; every write is refused (the directory is
//! read-only) and anything else is unwillingToPerform.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindResponse, LdapCompareRequest, LdapExtendedRequest, LdapExtendedResponse,
    LdapFilter, LdapMsg, LdapOp, LdapPartialAttribute, LdapResult, LdapResultCode,
    LdapSearchRequest, LdapSearchResultEntry, LdapSearchScope, OID_WHOAMI,
};

use super::bind::{self, Bound, Refused};
use super::directory::{self, Entry, Flow, Layout, OID_STARTTLS, Position, Search, View};
use super::dn::Dn;
use super::filter::{self, Truth};
use crate::App;

/// Entries one search returns at most, whatever the client's size limit.
pub const MAX_ENTRIES: usize = 10_000;

/// One connection's state, as the operations see it.
pub struct Session {
    pub ip: IpAddr,
    pub bound: Bound,
    /// The connection is encrypted (LDAPS, or after StartTLS).
    pub secure: bool,
}

/// What the connection must do after sending the responses.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// Unbind: close without a word.
    Close,
    /// StartTLS was accepted: switch to TLS after the response.
    StartTls,
}

fn result(code: LdapResultCode, message: &str) -> LdapResult {
    LdapResult {
        code,
        matcheddn: String::new(),
        message: message.to_string(),
        referral: Vec::new(),
    }
}

fn reply(msgid: i32, op: LdapOp) -> LdapMsg {
    LdapMsg {
        msgid,
        op,
        ctrl: Vec::new(),
    }
}

const READ_ONLY: &str = "the directory is read-only";

/// Answers one request, handing each response to `send` as soon as it is made: a
/// search's entries one at a time, as they are read.
pub fn handle_into(app: &App, layout: &Layout, s: &mut Session, msg: LdapMsg, send: Sink) -> Next {
    s.bound = bind::recheck(app, std::mem::replace(&mut s.bound, Bound::Anonymous));
    let LdapMsg { msgid, op, ctrl } = msg;
    if let LdapOp::SearchRequest(req) = op {
        search(app, layout, s, msgid, &req, &ctrl, send);
        return Next::Continue;
    }
    let (replies, next) = respond(app, layout, s, msgid, op);
    for m in replies {
        if !send(m) {
            break;
        }
    }
    next
}

/// Answers every request but a search.
fn respond(
    app: &App,
    layout: &Layout,
    s: &mut Session,
    id: i32,
    op: LdapOp,
) -> (Vec<LdapMsg>, Next) {
    let one = |op| (vec![reply(id, op)], Next::Continue);
    let refuse = |m: &str| result(LdapResultCode::UnwillingToPerform, m);
    match op {
        LdapOp::BindRequest(req) => {
            // A bind starts from anonymous, whatever its kind and however it ends: a
            // refused one (SASL, version 2, a wrong password) must not leave the
            // connection bound as before (RFC 4511 section 4.2.1).
            s.bound = Bound::Anonymous;
            let res = if req.version != 3 {
                result(
                    LdapResultCode::ProtocolError,
                    "only LDAP version 3 is spoken",
                )
            } else {
                match req.cred {
                    LdapBindCred::Simple(pw) => simple_bind(app, layout, s, &req.dn, &pw),
                    _ => result(
                        LdapResultCode::AuthMethodNotSupported,
                        "only simple binds (DN and password)",
                    ),
                }
            };
            one(LdapOp::BindResponse(LdapBindResponse {
                res,
                saslcreds: None,
            }))
        }
        LdapOp::UnbindRequest => (Vec::new(), Next::Close),
        LdapOp::CompareRequest(req) => one(LdapOp::CompareResult(compare(app, layout, s, &req))),
        LdapOp::ExtendedRequest(req) => extended(layout, s, id, &req),
        LdapOp::AbandonRequest(_) => (Vec::new(), Next::Continue),
        LdapOp::AddRequest(_) => one(LdapOp::AddResponse(refuse(READ_ONLY))),
        LdapOp::ModifyRequest(_) => one(LdapOp::ModifyResponse(refuse(READ_ONLY))),
        LdapOp::DelRequest(_) => one(LdapOp::DelResponse(refuse(READ_ONLY))),
        LdapOp::ModifyDNRequest(_) => one(LdapOp::ModifyDNResponse(refuse(READ_ONLY))),
        // A response from the client, or an operation this server does not know.
        _ => one(LdapOp::ExtendedResponse(LdapExtendedResponse {
            res: refuse("operation not supported"),
            name: None,
            value: None,
        })),
    }
}

fn simple_bind(app: &App, layout: &Layout, s: &mut Session, dn: &str, pw: &str) -> LdapResult {
    if password_needs_tls(layout, s, pw) {
        return result(
            LdapResultCode::ConfidentialityRequired,
            "use LDAPS or StartTLS to send a password",
        );
    }
    match bind::simple(app, layout, s.ip, dn, pw) {
        Ok(b) => {
            s.bound = b;
            result(LdapResultCode::Success, "")
        }
        Err(Refused::InvalidCredentials) => result(LdapResultCode::InvalidCredentials, ""),
        Err(Refused::Unauthenticated) => result(
            LdapResultCode::UnwillingToPerform,
            "a DN with an empty password is not a bind (unauthenticated binds are refused)",
        ),
        Err(Refused::TooMany { retry_after_secs }) => result(
            LdapResultCode::UnwillingToPerform,
            &format!("too many failed binds; try again in {retry_after_secs} s"),
        ),
        Err(Refused::Unavailable) => result(
            LdapResultCode::Unavailable,
            "cannot check the password right now, try again",
        ),
    }
}

/// With TLS configured, a password crosses the network only encrypted; on the machine
/// itself (loopback) plain LDAP is fine.
fn password_needs_tls(layout: &Layout, s: &Session, pw: &str) -> bool {
    layout.tls && !s.secure && !s.ip.is_loopback() && !pw.is_empty()
}

fn extended(
    layout: &Layout,
    s: &Session,
    id: i32,
    req: &LdapExtendedRequest,
) -> (Vec<LdapMsg>, Next) {
    let respond = |res, value: Option<Vec<u8>>, name: Option<&str>| {
        vec![reply(
            id,
            LdapOp::ExtendedResponse(LdapExtendedResponse {
                res,
                name: name.map(str::to_string),
                value,
            }),
        )]
    };
    match req.name.as_str() {
        OID_WHOAMI => (
            respond(
                result(LdapResultCode::Success, ""),
                Some(s.bound.authz_id().into_bytes()),
                None,
            ),
            Next::Continue,
        ),
        OID_STARTTLS if layout.tls && !s.secure => (
            respond(
                result(LdapResultCode::Success, ""),
                None,
                Some(OID_STARTTLS),
            ),
            Next::StartTls,
        ),
        OID_STARTTLS => (
            respond(
                result(
                    LdapResultCode::OperationsError,
                    if s.secure {
                        "TLS is already on"
                    } else {
                        "TLS is not configured (LDAP_TLS_CERT, LDAP_TLS_KEY)"
                    },
                ),
                None,
                Some(OID_STARTTLS),
            ),
            Next::Continue,
        ),
        _ => (
            respond(
                result(
                    LdapResultCode::UnwillingToPerform,
                    "extended operation not supported",
                ),
                None,
                None,
            ),
            Next::Continue,
        ),
    }
}

/// How a client reads the directory: a service account everything, a person as
/// themselves; without a bind, nothing unless anonymous search is allowed (settled
/// before anything is read: refusing a client that did not bind must cost nothing).
fn view_of(app: &App, conn: &rusqlite::Connection, bound: &Bound) -> Result<View, LdapResult> {
    match bound {
        Bound::Service { .. } => Ok(View::Everyone),
        Bound::Person { user_id, .. } => Ok(View::Person { user_id: *user_id }),
        Bound::Anonymous => {
            let allowed = super::settings::in_force(&app.config, conn)
                .map_err(unreadable)?
                .anonymous_search;
            if allowed {
                Ok(View::Everyone)
            } else {
                Err(result(
                    LdapResultCode::InsufficentAccessRights,
                    "bind first: anonymous search is not allowed",
                ))
            }
        }
    }
}

fn unreadable(e: crate::error::AppError) -> LdapResult {
    crate::log_error!("ldap: cannot read the directory: {e:?}");
    result(
        LdapResultCode::Unavailable,
        "the directory cannot be read right now",
    )
}

/// Whether the entry at `dn` exists for this view (the base of a search must).
fn exists(
    conn: &rusqlite::Connection,
    layout: &Layout,
    view: View,
    dn: &Dn,
) -> crate::error::Result<bool> {
    if dn.0.is_empty() {
        return Ok(true);
    }
    let any = filter::Prepared::new(&LdapFilter::Present("objectClass".into()));
    let Some(any) = any else {
        return Ok(false);
    };
    let search = Search::new(
        conn,
        layout,
        view,
        dn,
        &LdapSearchScope::Base,
        &any,
        false,
        None,
    )?;
    let mut found = false;
    search.walk(&Position::Start, &mut |_, e| {
        found = e.parsed == *dn;
        if found { Flow::Stop } else { Flow::Continue }
    })?;
    Ok(found)
}

/// The time a search may take, whatever the client asks: a filter that matches nothing
/// on a big directory must not hold a connection and a reader's place for ever.
pub const MAX_SEARCH_TIME: Duration = Duration::from_secs(60);

/// The client's time limit (seconds; 0: none) within MAX_SEARCH_TIME.
fn time_limit(asked: i32) -> Duration {
    match u64::try_from(asked) {
        Ok(secs) if secs > 0 => Duration::from_secs(secs).min(MAX_SEARCH_TIME),
        _ => MAX_SEARCH_TIME,
    }
}

fn search(
    app: &App,
    layout: &Layout,
    s: &Session,
    id: i32,
    req: &LdapSearchRequest,
    controls: &[LdapControl],
    send: Sink,
) {
    app.metrics.ldap_search();
    let deadline = Instant::now() + time_limit(req.timelimit);
    let done = |res: LdapResult| reply(id, LdapOp::SearchResultDone(res));
    let Some(test) = filter::Prepared::new(&req.filter) else {
        send(done(result(
            LdapResultCode::UnwillingToPerform,
            "the filter is nested too deeply or has too many parts",
        )));
        return;
    };
    let Some(base) = Dn::parse(&req.base) else {
        send(done(result(
            LdapResultCode::InvalidDNSyntax,
            "the base is not a DN",
        )));
        return;
    };
    let paging = controls.iter().find_map(|c| match c {
        LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.as_slice())),
        _ => None,
    });
    let (limit, from) = match paging {
        None => (
            match usize::try_from(req.sizelimit) {
                Ok(n) if n > 0 => n.min(MAX_ENTRIES),
                _ => MAX_ENTRIES,
            },
            Position::Start,
        ),
        Some((size, cookie)) => {
            let Some(from) = Position::from_cookie(cookie) else {
                send(done(result(
                    LdapResultCode::UnwillingToPerform,
                    "not a paging cookie of this server",
                )));
                return;
            };
            // Size 0 abandons the paged search (RFC 2696 section 3).
            match usize::try_from(size).unwrap_or(0).min(MAX_ENTRIES) {
                0 => {
                    send(paged_done(id, result(LdapResultCode::Success, ""), None));
                    return;
                }
                size => (size, from),
            }
        }
    };
    let wanted = Wanted::of(&req.attrs);
    let mut expired = || Instant::now() >= deadline;
    let mut answer = Answer {
        id,
        test: &test,
        base: &base,
        scope: &req.scope,
        wanted: &wanted,
        types_only: req.typesonly,
        limit,
        paged: paging.is_some(),
        sent: 0,
        last: None,
        end: End::Complete,
        expired: &mut expired,
        send,
    };
    if base.0.is_empty() && req.scope == LdapSearchScope::Base {
        answer.offer(&Position::Start, &layout.root_dse());
        answer.finish();
        return;
    }
    let read = |conn: &rusqlite::Connection, answer: &mut Answer| -> Result<(), LdapResult> {
        let view = view_of(app, conn, &s.bound)?;
        // A refused client does not wait behind other searches.
        let _reading = directory::ReadSlot::take();
        if !exists(conn, layout, view, &base).map_err(unreadable)? {
            let mut res = result(LdapResultCode::NoSuchObject, "no such entry");
            if base.is_within(&layout.base_dn()) {
                res.matcheddn = layout.base.clone();
            }
            return Err(res);
        }
        let wants_members = MEMBER_ATTRS.iter().any(|a| wanted.has(a));
        let search = Search::new(
            conn,
            layout,
            view,
            &base,
            &req.scope,
            &test,
            wants_members,
            Some(deadline),
        )
        .map_err(unreadable)?;
        search
            .walk(&from, &mut |at, e| answer.offer(at, e))
            .map_err(unreadable)?;
        Ok(())
    };
    let outcome = app
        .db
        .conn()
        .map_err(unreadable)
        .and_then(|conn| read(&conn, &mut answer));
    match outcome {
        Ok(()) => answer.finish(),
        Err(res) => {
            (answer.send)(done(res));
        }
    }
}

/// Where the responses of a search go, one message at a time; false when the client
/// is gone (the search stops).
pub type Sink<'a> = &'a mut dyn FnMut(LdapMsg) -> bool;

const MEMBER_ATTRS: [&str; 2] = ["member", "uniqueMember"];

/// Why a search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Every entry was offered.
    Complete,
    /// One more entry matched than the size limit allows.
    SizeLimit,
    /// The page is full and another entry matched.
    PageFull,
    TimeLimit,
    /// The client is gone.
    Gone,
}

/// One search's answer as it goes: each entry offered is checked against the scope and
/// the filter and sent at once, within the size limit (or page) and the time limit;
/// nothing is kept but the count and the place of the last entry sent.
struct Answer<'a> {
    id: i32,
    test: &'a filter::Prepared,
    base: &'a Dn,
    scope: &'a LdapSearchScope,
    wanted: &'a Wanted,
    types_only: bool,
    /// Entries sent at most (the size limit, or the page size).
    limit: usize,
    paged: bool,
    sent: usize,
    last: Option<Position>,
    end: End,
    expired: &'a mut dyn FnMut() -> bool,
    send: Sink<'a>,
}

impl Answer<'_> {
    fn offer(&mut self, at: &Position, e: &Entry) -> Flow {
        if (self.expired)() {
            self.end = End::TimeLimit;
            return Flow::Stop;
        }
        if !in_scope(&e.parsed, self.base, self.scope) || self.test.eval(e) != Truth::True {
            return Flow::Continue;
        }
        if self.sent == self.limit {
            self.end = if self.paged {
                End::PageFull
            } else {
                End::SizeLimit
            };
            return Flow::Stop;
        }
        let entry = LdapOp::SearchResultEntry(select(e, self.wanted, self.types_only));
        if !(self.send)(reply(self.id, entry)) {
            self.end = End::Gone;
            return Flow::Stop;
        }
        self.sent += 1;
        self.last = Some(at.clone());
        Flow::Continue
    }

    /// Sends the searchResultDone that ends the search.
    fn finish(self) {
        let res = match self.end {
            End::Gone => return,
            End::Complete | End::PageFull => result(LdapResultCode::Success, ""),
            End::SizeLimit => result(LdapResultCode::SizeLimitExceeded, ""),
            End::TimeLimit => result(
                LdapResultCode::TimeLimitExceeded,
                "the search ran out of time; narrow the filter or page the results",
            ),
        };
        let msg = if self.paged {
            // The next page starts after the last entry sent (the directory's order).
            let next = match (self.end, &self.last) {
                (End::PageFull, Some(at)) => Some(at),
                _ => None,
            };
            paged_done(self.id, res, next)
        } else {
            reply(self.id, LdapOp::SearchResultDone(res))
        };
        (self.send)(msg);
    }
}

/// The end of one page of a search with the simple paged results control (RFC 2696;
/// Nextcloud and SSSD ask for it): the cookie names where the next page starts (none:
/// the last page). The total is not known without reading everything: its estimate is
/// 0, "unknown" (RFC 2696 section 3).
fn paged_done(id: i32, res: LdapResult, next: Option<&Position>) -> LdapMsg {
    LdapMsg {
        msgid: id,
        op: LdapOp::SearchResultDone(res),
        ctrl: vec![LdapControl::SimplePagedResults {
            size: 0,
            cookie: next.map(Position::to_cookie).unwrap_or_default(),
        }],
    }
}

fn in_scope(dn: &Dn, base: &Dn, scope: &LdapSearchScope) -> bool {
    match scope {
        LdapSearchScope::Base => dn == base,
        LdapSearchScope::OneLevel => dn.0.len() == base.0.len() + 1 && dn.is_within(base),
        LdapSearchScope::Subtree => dn.is_within(base),
        LdapSearchScope::Children => dn != base && dn.is_within(base),
    }
}

/// The attributes a search asked for: all of them for none, `*` or `+`; none for `1.1`;
/// else those named (without case). Read once per search: a list may name thousands,
/// and each entry is checked against it.
struct Wanted {
    all: bool,
    names: HashSet<String>,
}

impl Wanted {
    fn of(attrs: &[String]) -> Wanted {
        Wanted {
            all: attrs.is_empty() || attrs.iter().any(|w| w == "*" || w == "+"),
            names: attrs.iter().map(|a| a.to_ascii_lowercase()).collect(),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.all || self.names.contains(&name.to_ascii_lowercase())
    }
}

fn select(e: &Entry, wanted: &Wanted, types_only: bool) -> LdapSearchResultEntry {
    let attributes = e
        .attrs
        .iter()
        .filter(|(name, _)| wanted.has(name))
        .map(|(name, vals)| LdapPartialAttribute {
            atype: (*name).to_string(),
            vals: if types_only {
                Vec::new()
            } else {
                vals.iter().map(|v| v.as_bytes().to_vec()).collect()
            },
        })
        .collect();
    LdapSearchResultEntry {
        dn: e.dn.clone(),
        attributes,
    }
}

/// compareTrue or compareFalse for an attribute value of a visible entry (how Apache's
/// `Require ldap-group` checks membership): the entry read as a base search for the
/// assertion would read it.
fn compare(app: &App, layout: &Layout, s: &Session, req: &LdapCompareRequest) -> LdapResult {
    let Some(dn) = Dn::parse(&req.dn) else {
        return result(LdapResultCode::InvalidDNSyntax, "not a DN");
    };
    let value = String::from_utf8_lossy(&req.val).into_owned();
    let assertion = LdapFilter::Equality(req.atype.clone(), value);
    // The entry is read whatever the assertion says of it: as a search for "anything, or
    // the assertion" (an OR narrows nothing, yet the reader sees a member= assertion).
    let read_as = LdapFilter::Or(vec![
        LdapFilter::Present("objectClass".into()),
        assertion.clone(),
    ]);
    let (Some(assertion), Some(read_as)) = (
        filter::Prepared::new(&assertion),
        filter::Prepared::new(&read_as),
    ) else {
        return result(LdapResultCode::ProtocolError, "not an assertion");
    };
    let read = |conn: &rusqlite::Connection| -> Result<LdapResult, LdapResult> {
        let view = view_of(app, conn, &s.bound)?;
        let _reading = directory::ReadSlot::take();
        let search = Search::new(
            conn,
            layout,
            view,
            &dn,
            &LdapSearchScope::Base,
            &read_as,
            false,
            None,
        )
        .map_err(unreadable)?;
        let mut answer = result(LdapResultCode::NoSuchObject, "no such entry");
        search
            .walk(&Position::Start, &mut |_, e| {
                if e.parsed != dn {
                    return Flow::Continue;
                }
                answer = if e.values(&req.atype).is_none() {
                    result(LdapResultCode::NoSuchAttribute, "no such attribute")
                } else if assertion.eval(e) == Truth::True {
                    result(LdapResultCode::CompareTrue, "")
                } else {
                    result(LdapResultCode::CompareFalse, "")
                };
                Flow::Stop
            })
            .map_err(unreadable)?;
        Ok(answer)
    };
    match app.db.conn().map_err(unreadable).and_then(|c| read(&c)) {
        Ok(res) | Err(res) => res,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five people, offered to an answer as a walk offers them.
    fn offer_people(answer: &mut Answer) -> usize {
        let mut offered = 0;
        for i in 0..5 {
            let dn = format!("uid=p{i},ou=people,dc=x");
            let e = Entry {
                parsed: Dn::parse(&dn).unwrap(),
                dn,
                kind: directory::Kind::Person,
                attrs: vec![("uid", vec![format!("p{i}")])],
            };
            offered += 1;
            if answer.offer(&Position::Person(format!("p{i}")), &e) == Flow::Stop {
                break;
            }
        }
        offered
    }

    /// Runs a subtree search of `(uid=*)` over five people: the messages sent.
    fn answered(limit: usize, paged: bool, mut clock: impl FnMut() -> bool) -> Vec<LdapMsg> {
        let test =
            filter::Prepared::new(&ldap3_proto::proto::LdapFilter::Present("uid".into())).unwrap();
        let base = Dn::parse("dc=x").unwrap();
        let wanted = Wanted::of(&[]);
        let mut sent = Vec::new();
        let mut send = |m: LdapMsg| {
            sent.push(m);
            true
        };
        let mut answer = Answer {
            id: 7,
            test: &test,
            base: &base,
            scope: &LdapSearchScope::Subtree,
            wanted: &wanted,
            types_only: false,
            limit,
            paged,
            sent: 0,
            last: None,
            end: End::Complete,
            expired: &mut clock,
            send: &mut send,
        };
        offer_people(&mut answer);
        answer.finish();
        sent
    }

    fn entries_then_done(sent: &[LdapMsg]) -> (usize, LdapResultCode) {
        let entries = sent
            .iter()
            .filter(|m| matches!(m.op, LdapOp::SearchResultEntry(_)))
            .count();
        match &sent.last().unwrap().op {
            LdapOp::SearchResultDone(r) => (entries, r.code.clone()),
            other => panic!("{other:?}"),
        }
    }

    /// A search that runs out of time ends with timeLimitExceeded after the entries it
    /// sent; within its time it ends as usual.
    #[test]
    fn a_search_past_its_time_limit_ends_with_time_limit_exceeded() {
        let mut checks = 0;
        let sent = answered(100, false, || {
            checks += 1;
            checks > 3
        });
        assert_eq!(
            entries_then_done(&sent),
            (3, LdapResultCode::TimeLimitExceeded)
        );
        assert_eq!(
            entries_then_done(&answered(100, false, || false)),
            (5, LdapResultCode::Success)
        );
        let paged = answered(2, true, || true);
        assert_eq!(
            entries_then_done(&paged),
            (0, LdapResultCode::TimeLimitExceeded)
        );
        assert!(
            matches!(&paged[0].ctrl[..], [LdapControl::SimplePagedResults { cookie, .. }] if cookie.is_empty()),
            "no next page after the time ran out"
        );
        assert_eq!(time_limit(0), MAX_SEARCH_TIME);
        assert_eq!(time_limit(-1), MAX_SEARCH_TIME);
        assert_eq!(time_limit(2), Duration::from_secs(2));
        assert_eq!(time_limit(i32::MAX), MAX_SEARCH_TIME);
    }

    /// The size limit and the page end a search once one more entry matches than they
    /// allow; a full page names where the next one starts.
    #[test]
    fn size_limits_and_pages_stop_the_walk_at_the_next_match() {
        assert_eq!(
            entries_then_done(&answered(2, false, || false)),
            (2, LdapResultCode::SizeLimitExceeded)
        );
        assert_eq!(
            entries_then_done(&answered(5, false, || false)),
            (5, LdapResultCode::Success)
        );
        let page = answered(2, true, || false);
        assert_eq!(entries_then_done(&page), (2, LdapResultCode::Success));
        let [LdapControl::SimplePagedResults { cookie, .. }] = &page[2].ctrl[..] else {
            panic!("{:?}", page[2].ctrl);
        };
        assert_eq!(
            Position::from_cookie(cookie),
            Some(Position::Person("p1".into()))
        );
    }

    #[test]
    fn passwords_from_the_network_need_tls_once_it_is_configured() {
        let session = |ip: &str, secure| Session {
            ip: ip.parse().unwrap(),
            bound: Bound::Anonymous,
            secure,
        };
        let with_tls = Layout {
            base: "dc=x".into(),
            tls: true,
        };
        let plain = Layout {
            base: "dc=x".into(),
            tls: false,
        };
        assert!(password_needs_tls(
            &with_tls,
            &session("192.168.1.5", false),
            "pw"
        ));
        assert!(password_needs_tls(
            &with_tls,
            &session("2001:db8::1", false),
            "pw"
        ));
        assert!(!password_needs_tls(
            &with_tls,
            &session("192.168.1.5", true),
            "pw"
        ));
        assert!(!password_needs_tls(
            &with_tls,
            &session("127.0.0.1", false),
            "pw"
        ));
        assert!(!password_needs_tls(&with_tls, &session("::1", false), "pw"));
        assert!(!password_needs_tls(
            &with_tls,
            &session("192.168.1.5", false),
            ""
        ));
        // Without TLS there is nothing to ask for (the README: localhost or a trusted LAN).
        assert!(!password_needs_tls(
            &plain,
            &session("192.168.1.5", false),
            "pw"
        ));
    }
}
