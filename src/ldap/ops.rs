//! The operations: one decoded request in, the response messages out. Bind, search,
//! compare, "Who am I?" and unbind are served; every write is refused (the directory is
//! read-only) and anything else is unwillingToPerform.

use std::collections::HashSet;
use std::net::IpAddr;

use ldap3_proto::control::LdapControl;
use ldap3_proto::proto::{
    LdapBindCred, LdapBindResponse, LdapCompareRequest, LdapExtendedRequest, LdapExtendedResponse,
    LdapMsg, LdapOp, LdapPartialAttribute, LdapResult, LdapResultCode, LdapSearchRequest,
    LdapSearchResultEntry, LdapSearchScope, OID_WHOAMI,
};

use super::bind::{self, Bound, Refused};
use super::directory::{self, Entry, Kind, Layout, OID_STARTTLS};
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

/// Answers one request.
pub fn handle(app: &App, layout: &Layout, s: &mut Session, msg: LdapMsg) -> (Vec<LdapMsg>, Next) {
    let id = msg.msgid;
    let one = |op| (vec![reply(id, op)], Next::Continue);
    let refuse = |m: &str| result(LdapResultCode::UnwillingToPerform, m);
    s.bound = bind::recheck(app, std::mem::replace(&mut s.bound, Bound::Anonymous));
    match msg.op {
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
        LdapOp::SearchRequest(req) => (search(app, layout, s, id, &req, &msg.ctrl), Next::Continue),
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

/// The entries a search may see: the Root DSE always; the tree only once bound (or when
/// anonymous search is allowed); a person only their own entry, their groups and the
/// containers above them.
fn visible(app: &App, layout: &Layout, bound: &Bound) -> Result<Vec<Entry>, LdapResult> {
    // Whether the client may read at all is settled before the tree is read: refusing
    // a client that did not bind must not cost a read of the whole directory.
    let read = |c: &rusqlite::Connection| {
        let anonymous_search = super::settings::in_force(&app.config, c)?.anonymous_search;
        if *bound == Bound::Anonymous && !anonymous_search {
            return Ok(None);
        }
        directory::entries(c, layout).map(Some)
    };
    let all = app
        .db
        .conn()
        .and_then(|c| read(&c))
        .map_err(|e: crate::error::AppError| {
            crate::log_error!("ldap: cannot read the directory: {e:?}");
            result(
                LdapResultCode::Unavailable,
                "the directory cannot be read right now",
            )
        })?
        .ok_or_else(|| {
            result(
                LdapResultCode::InsufficentAccessRights,
                "bind first: anonymous search is not allowed",
            )
        })?;
    match bound {
        Bound::Service { .. } | Bound::Anonymous => Ok(all),
        Bound::Person { dn, .. } => {
            let Some(me) = Dn::parse(dn) else {
                return Ok(Vec::new());
            };
            Ok(all
                .into_iter()
                .filter_map(|e| match e.kind {
                    Kind::Container => Some(e),
                    Kind::Person => (e.parsed == me).then_some(e),
                    Kind::Group => only_me_in(e, &me),
                })
                .collect())
        }
    }
}

/// A group as one of its members sees it: with themselves as its only member, so that
/// a person cannot list (or filter or compare for) everyone else on the server. None
/// when they are not a member.
fn only_me_in(mut group: Entry, me: &Dn) -> Option<Entry> {
    let mut member = false;
    for (name, vals) in &mut group.attrs {
        if ["member", "uniqueMember"].contains(name) {
            vals.retain(|v| Dn::parse(v).as_ref() == Some(me));
            member |= !vals.is_empty();
        }
    }
    member.then_some(group)
}

fn search(
    app: &App,
    layout: &Layout,
    s: &Session,
    id: i32,
    req: &LdapSearchRequest,
    controls: &[LdapControl],
) -> Vec<LdapMsg> {
    app.metrics.ldap_search();
    let done = |res: LdapResult| reply(id, LdapOp::SearchResultDone(res));
    let Some(test) = filter::Prepared::new(&req.filter) else {
        return vec![done(result(
            LdapResultCode::UnwillingToPerform,
            "the filter is nested too deeply or has too many parts",
        ))];
    };
    let Some(base) = Dn::parse(&req.base) else {
        return vec![done(result(
            LdapResultCode::InvalidDNSyntax,
            "the base is not a DN",
        ))];
    };
    // Held until the answers are built (the tree, and the entries picked from it).
    let _reading;
    let candidates = if base.0.is_empty() && req.scope == LdapSearchScope::Base {
        vec![layout.root_dse()]
    } else {
        _reading = directory::ReadSlot::take();
        let entries = match visible(app, layout, &s.bound) {
            Ok(e) => e,
            Err(res) => return vec![done(res)],
        };
        if !base.0.is_empty() && !entries.iter().any(|e| e.parsed == base) {
            let mut res = result(LdapResultCode::NoSuchObject, "no such entry");
            if base.is_within(&layout.base_dn()) {
                res.matcheddn = layout.base.clone();
            }
            return vec![done(res)];
        }
        entries
            .into_iter()
            .filter(|e| in_scope(&e.parsed, &base, &req.scope))
            .collect()
    };
    let matching = candidates.iter().filter(|e| test.eval(e) == Truth::True);
    if let Some((size, cookie)) = controls.iter().find_map(|c| match c {
        LdapControl::SimplePagedResults { size, cookie } => Some((*size, cookie.as_slice())),
        _ => None,
    }) {
        return paged(id, req, &matching.collect::<Vec<_>>(), size, cookie);
    }
    let limit = match usize::try_from(req.sizelimit) {
        Ok(n) if n > 0 => n.min(MAX_ENTRIES),
        _ => MAX_ENTRIES,
    };
    let wanted = Wanted::of(&req.attrs);
    let mut out = Vec::new();
    for e in matching {
        if out.len() == limit {
            out.push(done(result(LdapResultCode::SizeLimitExceeded, "")));
            return out;
        }
        out.push(reply(
            id,
            LdapOp::SearchResultEntry(select(e, &wanted, req.typesonly)),
        ));
    }
    out.push(done(result(LdapResultCode::Success, "")));
    out
}

/// One page of a search with the simple paged results control (RFC 2696; apps such as
/// Nextcloud and SSSD ask for it). The cookie is the offset of the next page: the tree
/// is read afresh for each page, as for every search.
fn paged(
    id: i32,
    req: &LdapSearchRequest,
    matching: &[&Entry],
    size: i64,
    cookie: &[u8],
) -> Vec<LdapMsg> {
    let start = match cookie {
        [] => 0,
        c => match <[u8; 8]>::try_from(c) {
            Ok(b) => usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX),
            Err(_) => {
                return vec![reply(
                    id,
                    LdapOp::SearchResultDone(result(
                        LdapResultCode::UnwillingToPerform,
                        "not a paging cookie of this server",
                    )),
                )];
            }
        },
    }
    .min(matching.len());
    // Size 0 abandons the paged search (RFC 2696 section 3).
    let size = usize::try_from(size).unwrap_or(0).min(MAX_ENTRIES);
    let end = start.saturating_add(size).min(matching.len());
    let wanted = Wanted::of(&req.attrs);
    let mut out: Vec<LdapMsg> = matching[start..end]
        .iter()
        .map(|e| {
            reply(
                id,
                LdapOp::SearchResultEntry(select(e, &wanted, req.typesonly)),
            )
        })
        .collect();
    let next = if size > 0 && end < matching.len() {
        (end as u64).to_be_bytes().to_vec()
    } else {
        Vec::new()
    };
    out.push(LdapMsg {
        msgid: id,
        op: LdapOp::SearchResultDone(result(LdapResultCode::Success, "")),
        ctrl: vec![LdapControl::SimplePagedResults {
            size: i64::try_from(matching.len()).unwrap_or(i64::MAX),
            cookie: next,
        }],
    });
    out
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
/// `Require ldap-group` checks membership).
fn compare(app: &App, layout: &Layout, s: &Session, req: &LdapCompareRequest) -> LdapResult {
    let Some(dn) = Dn::parse(&req.dn) else {
        return result(LdapResultCode::InvalidDNSyntax, "not a DN");
    };
    let _reading = directory::ReadSlot::take();
    let entries = match visible(app, layout, &s.bound) {
        Ok(e) => e,
        Err(res) => return res,
    };
    let Some(entry) = entries.iter().find(|e| e.parsed == dn) else {
        return result(LdapResultCode::NoSuchObject, "no such entry");
    };
    if entry.values(&req.atype).is_none() {
        return result(LdapResultCode::NoSuchAttribute, "no such attribute");
    }
    let value = String::from_utf8_lossy(&req.val).into_owned();
    let assertion = ldap3_proto::proto::LdapFilter::Equality(req.atype.clone(), value);
    let Some(assertion) = filter::Prepared::new(&assertion) else {
        return result(LdapResultCode::ProtocolError, "not an assertion");
    };
    match assertion.eval(entry) {
        Truth::True => result(LdapResultCode::CompareTrue, ""),
        _ => result(LdapResultCode::CompareFalse, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
