//! Turning command-line paths into an ordered stream of inputs.

use std::path::PathBuf;

/// One input to process, in command-line order (directories expanded in sorted order).
#[derive(Debug, Clone)]
pub enum Input {
    /// Standard input (`-`).
    Stdin,
    /// A file found on disk (or a path that could not be read: the error is reported
    /// when it is processed).
    File(PathBuf),
    /// A path that could not be walked.
    Error(PathBuf, String),
}

impl Input {
    /// The path as printed in output records.
    pub fn display(&self) -> String {
        match self {
            Input::Stdin => "-".to_string(),
            Input::File(p) | Input::Error(p, _) => p.display().to_string(),
        }
    }
}

/// Expands `paths` into inputs, calling `emit` for each in a stable order: arguments in the
/// order given, directory contents recursively sorted by name. Symbolic links are followed
/// only when named on the command line. Stops early if `emit` returns false.
pub fn walk(paths: &[PathBuf], mut emit: impl FnMut(Input) -> bool) {
    for p in paths {
        if p.as_os_str() == "-" {
            if !emit(Input::Stdin) {
                return;
            }
            continue;
        }
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                let walker = walkdir::WalkDir::new(p).follow_links(false).sort_by_file_name();
                for entry in walker {
                    let input = match entry {
                        Ok(e) if e.file_type().is_file() => Input::File(e.into_path()),
                        Ok(_) => continue,
                        Err(e) => {
                            let path =
                                e.path().map(|p| p.to_path_buf()).unwrap_or_else(|| p.clone());
                            Input::Error(path, format!("cannot read directory entry: {e}"))
                        }
                    };
                    if !emit(input) {
                        return;
                    }
                }
            }
            Ok(_) => {
                if !emit(Input::File(p.clone())) {
                    return;
                }
            }
            Err(e) => {
                let msg = if e.kind() == std::io::ErrorKind::NotFound {
                    "no such file or directory".to_string()
                } else {
                    format!("cannot open: {e}")
                };
                if !emit(Input::Error(p.clone(), msg)) {
                    return;
                }
            }
        }
    }
}
