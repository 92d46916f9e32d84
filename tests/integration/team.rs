//! The cast of the console tests: a fake Jellyfin with root (made admin by
//! ADMIN_BOOTSTRAP_USERS), alice and vera, and a portal on it that trusts 127.0.0.1 as a
//! proxy, so each signed-in client can have an address of its own (the write limit
//! counts per address).

use serde_json::Value;

use crate::fakes::jellyfin::{FakeJellyfin, FakeUser, Mode};
use crate::harness::{Client, Portal, Resp};
use crate::media::{jellyfin_portal, sign_in};

pub struct Setup {
    pub jf: FakeJellyfin,
    pub portal: Portal,
}

/// The team's portal, with these variables on top.
pub fn setup(extra: &[(&str, &str)]) -> Setup {
    let jf = FakeJellyfin::start(Mode::Jellyfin);
    for (name, pw) in [
        ("root", "toor"),
        ("alice", "wonderland"),
        ("vera", "viewer"),
    ] {
        jf.add_user(FakeUser::new(name, pw));
    }
    let mut vars = vec![
        ("TRUSTED_PROXY_CIDRS", "127.0.0.1"),
        ("ADMIN_BOOTSTRAP_USERS", "root"),
    ];
    vars.extend_from_slice(extra);
    let portal = jellyfin_portal(&jf, &vars);
    Setup { jf, portal }
}

impl Setup {
    /// A client signed in as `name`, on an address of its own.
    pub fn user(&self, name: &str, pw: &str) -> Client {
        let c = self.portal.client();
        c.use_fresh_ip();
        let r = sign_in(&c, "jellyfin", name, pw);
        assert_eq!(r.status, 303, "{}", r.body);
        c
    }

    /// vera, signed in and given the read-only console role (`viewers`) by `admin`.
    pub fn viewer(&self, admin: &Client) -> Client {
        let vera = self.user("vera", "viewer");
        let path = format!("/api/admin/users/{}/groups", self.uuid(&vera));
        let r = put(admin, &path, serde_json::json!({ "groups": ["viewers"] }));
        assert_eq!(r.status, 200, "{}", r.body);
        vera
    }

    pub fn uuid(&self, c: &Client) -> String {
        c.get("/whoami").json()["uuid"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

pub fn send_json(c: &Client, method: &str, path: &str, body: &Value) -> Resp {
    c.send(
        method,
        path,
        &[("Content-Type", "application/json")],
        Some(body.to_string().into_bytes()),
    )
}

pub fn put(c: &Client, path: &str, body: Value) -> Resp {
    send_json(c, "PUT", path, &body)
}
