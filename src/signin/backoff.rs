//! The back-off per account being guessed: wrong passwords for one provider account (the
//! name typed, without case) make the next attempt wait, whatever address it comes from.

use crate::app::App;
use crate::providers::ProviderKind;
use crate::ratelimit::Failed;

use super::{Origin, record_failure, record_locked};

/// The account a password is tried on: the provider and the name typed, case-folded
/// (media servers match names without case, so "Alice" and "alice" are one account).
pub struct Account(String);

impl Account {
    pub fn new(provider: ProviderKind, username: &str) -> Account {
        Account(format!("{}:{}", provider.as_str(), username.to_lowercase()))
    }
}

/// Ok if a password may be tried on the account now, else the seconds to wait.
pub fn check(app: &App, account: &Account) -> Result<(), u64> {
    app.limits
        .signin_account
        .check(&account.0, app.clock.now_ms())
}

/// The provider accepted the password: the account's count starts again.
pub fn password_accepted(app: &App, account: &Account) {
    app.limits.signin_account.succeed(&account.0);
}

/// The provider refused the password: a `signin.failure` event, one more failure
/// counted, and one `signin.locked` event when this failure starts the back-off.
pub fn password_refused(
    origin: &Origin,
    account: &Account,
    provider: ProviderKind,
    username: &str,
) {
    record_failure(
        origin,
        provider.as_str(),
        Some(username),
        "invalid username or password",
    );
    let failed = origin
        .app
        .limits
        .signin_account
        .fail(&account.0, origin.app.clock.now_ms());
    if let Failed::Wait {
        secs,
        tripped: true,
    } = failed
    {
        record_locked(origin, provider.as_str(), username, secs);
    }
}

/// A password refused for the account outside the sign-in page (an LDAP bind with a
/// media-server password): the same back-off counts it, so guesses split between the
/// page and the directory get no more tries than either alone. The caller records its
/// own event.
pub fn refused_elsewhere(app: &App, account: &Account) {
    app.limits
        .signin_account
        .fail(&account.0, app.clock.now_ms());
}
