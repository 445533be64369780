//! Attachment bytes on disk, named by their SHA-256 under `attachments/ab/cdef…`. A file is
//! written to a temporary name, flushed to disk and renamed into place before the database
//! row that points at it is committed, so a row never points at a missing or partial file.

use std::io::Write;
use std::path::{Path, PathBuf};

use seva_store::attachments::StoredFile;

use crate::auth::sha256_hex;

pub fn path_for(dir: &Path, sha256: &str) -> PathBuf {
    let (a, b) = sha256.split_at(2.min(sha256.len()));
    dir.join(a).join(b)
}

/// Stores the bytes (once per distinct content) and describes the file.
pub fn store(
    dir: &Path,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
) -> std::io::Result<StoredFile> {
    let sha = sha256_hex(bytes);
    let path = path_for(dir, &sha);
    if !path.exists() {
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(".{}.tmp", crate::auth::new_secret()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(StoredFile {
        filename: clean_filename(filename),
        content_type: clean_content_type(content_type),
        size: bytes.len() as i64,
        sha256: sha,
        path,
    })
}

/// Removes the files an erasure freed (the job [`seva_store::privacy::SWEEP_FILES`]) that
/// no attachment or message uses any more. Each check and removal runs on the database's
/// writer, between two commits, so that it cannot slip between the check an attachment's
/// insert makes that its file is on disk and that insert's commit.
pub async fn sweep(state: &crate::Shared, job: &seva_store::jobs::Job) -> Result<(), String> {
    let hashes: Vec<String> = job
        .payload
        .get("sha256")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .ok_or("the job names no files")?;
    let dir = state.config.attachments_dir();
    for sha in hashes {
        // Only a name this server could have made: the hash is a path's parts.
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{sha:?} is not a file's SHA-256"));
        }
        let path = path_for(&dir, &sha);
        state
            .store
            .write(seva_store::op!(c => {
                if seva_store::attachments::file_used(c, &sha).await? {
                    return Ok(());
                }
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(seva_store::Error::Backend(format!("cannot remove {}: {e}", path.display())))
                    }
                    _ => Ok(()),
                }
            }))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A name safe to show and to offer for download: no folders, no control characters.
pub fn clean_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .collect();
    let name = name.trim().trim_start_matches('.');
    if name.is_empty() {
        "file".into()
    } else {
        seva_core::text::truncate_graphemes(name, 120)
    }
}

fn clean_content_type(raw: &str) -> String {
    let ok = !raw.is_empty()
        && raw.len() < 100
        && raw.contains('/')
        && raw.chars().all(|c| c.is_ascii_graphic());
    if ok {
        raw.to_ascii_lowercase()
    } else {
        "application/octet-stream".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_folders_and_hidden_dots() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\x\\bill.pdf"), "bill.pdf");
        assert_eq!(clean_filename(".."), "file");
        assert_eq!(clean_filename("రసీదు.pdf"), "రసీదు.pdf");
    }

    #[test]
    fn the_same_bytes_are_stored_once() {
        let dir = std::env::temp_dir().join(format!("seva-files-{}", crate::auth::new_secret()));
        let a = store(&dir, "a.txt", "text/plain", b"hello").unwrap();
        let b = store(&dir, "b.txt", "text/plain", b"hello").unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(std::fs::read(path_for(&dir, &a.sha256)).unwrap(), b"hello");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
