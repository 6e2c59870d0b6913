//! `uid-gate install-module DIR`: puts the Envoy module that ships in the release image
//! beside Envoy. A Kubernetes init container runs it from the image whose binary and module
//! were built together (k8s/envoy-module/), so the module Envoy loads is always the version
//! of the image, and the image needs no shell or `cp`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::envoy_config::MODULE_FILE;

/// Where the release image keeps the module (release/Dockerfile puts it there).
pub const MODULE_IN_IMAGE: &str = "/usr/lib/uid-gate/libuid_gate_envoy.so";

/// Why the module was not installed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The source cannot be read.
    #[error("cannot read the module {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The source is not a shared object.
    #[error("{0} is not an ELF shared object: not the uid-gate module")]
    NotElf(PathBuf),
    /// The target directory cannot be written.
    #[error("cannot write into {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Copies the module `from` into `dir` as [`MODULE_FILE`], whole or not at all (a temporary
/// file renamed into place), readable and not writable. Returns the installed path.
pub fn install(from: &Path, dir: &Path) -> Result<PathBuf, InstallError> {
    let read = |source| InstallError::Read {
        path: from.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(from)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(read)?;
    if !bytes.starts_with(b"\x7fELF") {
        return Err(InstallError::NotElf(from.to_owned()));
    }
    let target = dir.join(MODULE_FILE);
    let partial = dir.join(format!(".{MODULE_FILE}.partial"));
    let write = |source| InstallError::Write {
        path: dir.to_owned(),
        source,
    };
    std::fs::write(&partial, &bytes).map_err(write)?;
    set_read_only(&partial).map_err(write)?;
    std::fs::rename(&partial, &target).map_err(write)?;
    Ok(target)
}

#[cfg(unix)]
fn set_read_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444))
}

#[cfg(not(unix))]
fn set_read_only(_: &Path) -> std::io::Result<()> {
    Ok(())
}
