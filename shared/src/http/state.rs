//! The state every handler gets: the services' [`Context`] (which it derefs to) and what only
//! the HTTP layer needs, the anonymous routes' per-IP budgets (shared by every route of the
//! process).

use std::ops::Deref;
use std::sync::Arc;

use crate::http::ratelimit::RateLimiter;
use crate::ports::Port;
use crate::services::context::Context;

#[derive(Clone)]
pub struct AppState {
    pub ctx: Context,
    pub anon_limiter: Arc<RateLimiter>,
}

impl AppState {
    pub fn new(ctx: Context, anon_rate_per_ip: u32) -> Self {
        AppState { ctx, anon_limiter: Arc::new(RateLimiter::per_minute(anon_rate_per_ip)) }
    }

    /// As [`Context::for_function`]; the rate limits stay shared.
    pub fn for_function(&self, grant: &[Port]) -> Self {
        AppState { ctx: self.ctx.for_function(grant), anon_limiter: Arc::clone(&self.anon_limiter) }
    }
}

impl Deref for AppState {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.ctx
    }
}
