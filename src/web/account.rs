//! (being built)

use axum::Router;

use super::PortalState;

/// The routes of this part of the site.
pub fn routes() -> Router<PortalState> {
    Router::new()
}
