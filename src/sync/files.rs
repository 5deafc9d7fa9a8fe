//! Reading the specs folder: which names are spec files, and their bytes and hashes.
//!
//! # Guarantees
//! - Only `*.yaml` and `*.yml` files directly in the folder count. Subfolders, hidden files
//!   and editors' temporary files (`.#a.yaml`, `a.yaml~`, `.a.yaml.swp`, `a.yaml.tmp`) are
//!   ignored, so a half-written file never counts as a spec.
//! - A folder that cannot be listed is an error for the whole scan, never an empty folder:
//!   an unmounted or mistyped folder must not look like "every file was removed".

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::resource::MAX_INPUT_BYTES;

/// Whether a file name (not a path) is a spec file.
pub fn is_spec_file_name(name: &str) -> bool {
    let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    let stem_len = name.rfind('.').unwrap_or(0);
    is_yaml && stem_len > 0 && !name.starts_with('.') && !name.starts_with('#')
}

/// One spec file as read.
#[derive(Debug)]
pub struct RawFile {
    /// The file name, which is its path relative to the folder.
    pub path: String,
    /// The bytes, or why they could not be read.
    pub bytes: Result<Vec<u8>, String>,
}

impl RawFile {
    /// Hex SHA-256 of the bytes; empty when they could not be read.
    pub fn sha256(&self) -> String {
        match &self.bytes {
            Ok(bytes) => hex::encode(Sha256::digest(bytes)),
            Err(_) => String::new(),
        }
    }
}

/// Lists and reads the spec files of `dir`, sorted by name.
///
/// A file removed between listing and reading is left out (it is gone). A file larger than
/// the codec accepts is read only that far plus one byte, so the parser reports it as too
/// large without the whole of it being held in memory.
///
/// # Errors
/// When `dir` cannot be listed (missing, not a folder, no permission).
pub fn read_dir(dir: &Path) -> std::io::Result<Vec<RawFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            tracing::warn!(dir = %dir.display(), name = ?entry.file_name(), "ignoring a file whose name is not UTF-8");
            continue;
        };
        if !is_spec_file_name(&name) {
            continue;
        }
        // Follows symlinks, so a folder of links (a Kubernetes ConfigMap mount) works.
        let metadata = match std::fs::metadata(entry.path()) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                files.push(RawFile {
                    path: name,
                    bytes: Err(e.to_string()),
                });
                continue;
            }
        };
        if !metadata.is_file() {
            continue;
        }
        match read_limited(&entry.path()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            bytes => files.push(RawFile {
                path: name,
                bytes: bytes.map_err(|e| e.to_string()),
            }),
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_files_count_and_editor_leftovers_do_not() {
        for name in [
            "acme.yaml",
            "acme.yml",
            "a.b.yaml",
            "ACME.YAML.yaml",
            "x.yml",
        ] {
            assert!(is_spec_file_name(name), "{name}");
        }
        for name in [
            ".#acme.yaml",
            "#acme.yaml#",
            "acme.yaml~",
            ".acme.yaml.swp",
            ".acme.yaml",
            "acme.yaml.tmp",
            "acme.yaml.bak",
            "4913",
            "acme.json",
            ".yaml",
            ".yml",
            "acme.YAML",
            "README.md",
        ] {
            assert!(!is_spec_file_name(name), "{name}");
        }
    }

    #[test]
    fn a_folder_is_read_without_subfolders_hidden_or_temporary_files() {
        let dir = std::env::temp_dir().join(format!("tenantd-sync-files-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("nested.yaml")).unwrap();
        std::fs::write(dir.join("b.yaml"), "b").unwrap();
        std::fs::write(dir.join("a.yml"), "a").unwrap();
        std::fs::write(dir.join(".#a.yaml"), "lock").unwrap();
        std::fs::write(dir.join("a.yaml~"), "backup").unwrap();
        std::fs::write(dir.join("nested.yaml/c.yaml"), "c").unwrap();
        let files = read_dir(&dir).unwrap();
        let found: Vec<_> = files
            .iter()
            .map(|f| (f.path.as_str(), f.bytes.clone().unwrap()))
            .collect();
        assert_eq!(found, [("a.yml", b"a".to_vec()), ("b.yaml", b"b".to_vec())]);
        assert_eq!(files[0].sha256(), hex::encode(Sha256::digest(b"a")));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            read_dir(&dir).is_err(),
            "a missing folder is an error, not empty"
        );
    }
}
