//! Writing files safely: to a temporary file beside the destination, then renamed into place,
//! so a reader never sees half a file (the output model, the report, the emitted Rust).

use std::io::Write;
use std::path::Path;

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {cause}")]
pub struct WriteError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub cause: String,
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let err = |cause: String| WriteError { path: path.display().to_string(), cause };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| err(e.to_string()))?;
    tmp.write_all(bytes).map_err(|e| err(e.to_string()))?;
    tmp.as_file().sync_all().map_err(|e| err(e.to_string()))?;
    tmp.persist(path).map_err(|e| err(e.error.to_string()))?;
    Ok(())
}
