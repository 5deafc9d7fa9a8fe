//! `GET /sync`: what the specs folder sync last found, file by file.
//!
//! # Guarantees
//! - Answers 200 whether or not a sync runs (`enabled: false` when `serve` has no specs folder).
//! - Admins only: the report names files and tenants of every owner.

use axum::http::StatusCode;
use axum::{Extension, Json, extract::State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiState;
use super::auth::Principal;
use super::error::{ApiError, ApiResult, ErrorBody};
use crate::sync::status::{FileReport, SyncReport};

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(get_sync))
}

/// The specs folder sync's report.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatusBody {
    /// Whether `serve` watches a specs folder (`--specs-dir`).
    pub enabled: bool,
    /// The watched folder.
    pub dir: Option<String>,
    /// Whether tenants whose file no longer defines them are deleted (`--prune`).
    pub prune: bool,
    /// When the last scan finished; absent before the first.
    pub last_scan_at: Option<DateTime<Utc>>,
    /// Scans finished since start.
    pub scans: u64,
    /// Why the last scan could not look at the folder or the store at all (nothing was changed).
    pub error: Option<String>,
    /// Every spec file found, by path.
    pub files: Vec<SyncFileBody>,
    /// Tenants whose file no longer defines them, kept because prune is off.
    pub orphans: Vec<SyncOrphanBody>,
}

/// One spec file.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncFileBody {
    /// Relative to the folder; tenants from it have `metadata.source: file:<path>`.
    pub path: String,
    /// Applied, Invalid (nothing changed; the last good version stays) or Error (retried).
    pub status: &'static str,
    /// The tenants the file defines (for an invalid file: the ones it owns).
    pub tenants: Vec<String>,
    /// Hex SHA-256 of the content looked at.
    pub sha256: String,
    /// Why the file is Invalid or in Error.
    pub error: Option<SyncErrorBody>,
}

/// A file's problem, located.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncErrorBody {
    pub message: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

/// A tenant kept although its file no longer defines it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncOrphanBody {
    pub name: String,
    /// The file it came from.
    pub file: String,
}

impl SyncStatusBody {
    fn disabled() -> SyncStatusBody {
        SyncStatusBody {
            enabled: false,
            dir: None,
            prune: false,
            last_scan_at: None,
            scans: 0,
            error: None,
            files: Vec::new(),
            orphans: Vec::new(),
        }
    }
}

impl From<SyncReport> for SyncStatusBody {
    fn from(report: SyncReport) -> SyncStatusBody {
        SyncStatusBody {
            enabled: true,
            dir: Some(report.dir.display().to_string()),
            prune: report.prune,
            last_scan_at: report.last_scan_at,
            scans: report.scans,
            error: report.error,
            files: report.files.into_iter().map(SyncFileBody::from).collect(),
            orphans: report
                .orphans
                .into_iter()
                .map(|o| SyncOrphanBody {
                    name: o.name,
                    file: o.file,
                })
                .collect(),
        }
    }
}

impl From<FileReport> for SyncFileBody {
    fn from(file: FileReport) -> SyncFileBody {
        SyncFileBody {
            path: file.path,
            status: file.state.as_str(),
            tenants: file.tenants,
            sha256: file.sha256,
            error: file.error.map(|e| SyncErrorBody {
                message: e.message,
                line: e.line,
                column: e.column,
            }),
        }
    }
}

/// What the specs folder sync last found: each file's status, tenants and located error.
#[utoipa::path(get, path = "/sync", tag = "observe",
    responses((status = 200, body = SyncStatusBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_sync(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<Json<SyncStatusBody>> {
    if !principal.is_admin() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "only admins may see the specs folder sync",
        ));
    }
    Ok(Json(match &state.sync {
        Some(status) => status.snapshot().into(),
        None => SyncStatusBody::disabled(),
    }))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;
    use crate::sync::parse::FileError;
    use crate::sync::status::{FileState, OrphanReport};

    #[test]
    fn the_body_names_each_file_with_its_status_tenants_and_located_error() {
        let report = SyncReport {
            dir: PathBuf::from("/srv/specs"),
            prune: false,
            last_scan_at: None,
            scans: 3,
            error: None,
            files: vec![
                FileReport {
                    path: "acme.yaml".into(),
                    sha256: "ab".into(),
                    state: FileState::Applied,
                    tenants: vec!["acme".into()],
                    error: None,
                },
                FileReport {
                    path: "bad.yaml".into(),
                    sha256: "cd".into(),
                    state: FileState::Invalid,
                    tenants: vec![],
                    error: Some(FileError::new("unknown field `imagee`").at(Some(6), Some(3))),
                },
            ],
            orphans: vec![OrphanReport {
                name: "old".into(),
                file: "gone.yaml".into(),
            }],
        };
        let body = serde_json::to_value(SyncStatusBody::from(report)).unwrap();
        assert_eq!(
            body,
            json!({
                "enabled": true, "dir": "/srv/specs", "prune": false, "lastScanAt": null,
                "scans": 3, "error": null,
                "files": [
                    {"path": "acme.yaml", "status": "Applied", "tenants": ["acme"], "sha256": "ab", "error": null},
                    {"path": "bad.yaml", "status": "Invalid", "tenants": [], "sha256": "cd",
                     "error": {"message": "unknown field `imagee`", "line": 6, "column": 3}}
                ],
                "orphans": [{"name": "old", "file": "gone.yaml"}]
            })
        );
    }

    #[test]
    fn without_a_specs_folder_the_body_says_disabled() {
        let body = serde_json::to_value(SyncStatusBody::disabled()).unwrap();
        assert_eq!(body["enabled"], json!(false));
        assert_eq!(body["files"], json!([]));
    }
}
