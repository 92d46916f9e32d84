//! One sign-in attempt's bookkeeping: the per-address budget it is charged to (given back
//! when the media server never answered) and how a provider's failure reads to the person.

use crate::error::{AppError, Result};
use crate::providers::ProviderError;

use super::Origin;

/// Charges an attempt to the address's sign-in budget; RateLimited when it is spent.
pub fn charge(origin: &Origin) -> Result<()> {
    origin
        .app
        .limits
        .signin
        .check_ip(origin.ip, origin.app.clock.now_ms())
        .map_err(|retry_after_secs| AppError::RateLimited { retry_after_secs })
}

/// A provider's failure as the person sees it. An unreachable media server is not their
/// attempt, so its charge is given back.
pub fn refused(origin: &Origin, e: ProviderError) -> AppError {
    if matches!(e, ProviderError::Unreachable(_)) {
        origin.app.limits.signin.refund_ip(origin.ip);
    }
    provider_error(e)
}

/// A provider's failure as an AppError (status and message), with nothing given back.
pub fn provider_error(e: ProviderError) -> AppError {
    match e {
        ProviderError::InvalidCredentials => AppError::Forbidden("invalid username or password"),
        ProviderError::Unreachable(d) => AppError::Unavailable(d),
        ProviderError::RateLimited => AppError::RateLimited {
            retry_after_secs: 5,
        },
        ProviderError::Expired => AppError::bad_request("the sign-in expired, start again"),
        ProviderError::Malformed(d) => AppError::Upstream(d),
        ProviderError::Misconfigured(d) => AppError::Upstream(format!("configuration: {d}")),
    }
}
