//! The stylesheet, script and icon of the pages, compiled into the binary and served under
//! `/assets/`.
//!
//! # Guarantees
//! - Pages link assets as `/assets/<file>?v=<version>`, where the version is a digest of every
//!   asset; a response to the current version may be cached for a year (`immutable`), anything
//!   else must be revalidated. A new binary therefore never serves a stale stylesheet.
//! - Every response carries an `ETag`; a matching `If-None-Match` gets 304.

use std::sync::LazyLock;

use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The design system: tokens, layout, buttons, forms, badges, cards, the wizard's stepper.
pub const APP_CSS: &str = include_str!("assets/app.css");
/// Progressive enhancement only: every page works without it.
pub const APP_JS: &str = include_str!("assets/app.js");
pub const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

/// (file name, content type, body) of every asset.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.css", "text/css; charset=utf-8", APP_CSS),
    ("app.js", "text/javascript; charset=utf-8", APP_JS),
    ("favicon.svg", "image/svg+xml", FAVICON_SVG),
];

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for (name, _, body) in ASSETS {
        hash.update(name.as_bytes());
        hash.update(body.as_bytes());
    }
    hex::encode(&hash.finalize()[..6])
});

/// A digest of all assets, for cache-busting links (`?v=`).
pub fn version() -> &'static str {
    &VERSION
}

#[derive(Debug, Deserialize)]
pub struct AssetQuery {
    v: Option<String>,
}

/// `GET /assets/{file}`.
pub async fn serve(
    Path(file): Path<String>,
    Query(query): Query<AssetQuery>,
    headers: HeaderMap,
) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", version());
    let cache = if query.v.as_deref() == Some(version()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let etag_header = HeaderValue::from_str(&etag).expect("a hex digest is a valid header value");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|sent| sent.as_bytes() == etag.as_bytes())
    {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag_header),
                (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            ],
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (header::ETAG, etag_header),
        ],
        *body,
    )
        .into_response()
}
