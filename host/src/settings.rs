//! Process-wide settings, passed in as a value: the library never reads the
//! environment. The CLI builds them (from `RAPIDBYTE_HOME`,
//! `RAPIDBYTE_CONNECTOR_PATH` and `HOME`); tests and embedders build their
//! own.

use std::path::{Path, PathBuf};

/// Where the engine keeps its files and looks for connectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The home directory (`~/.rapidbyte` by default): installed connectors
    /// in `plugins/`, compiled components in `cache/aot/`, and the state
    /// database of pipelines outside a project.
    pub home: PathBuf,
    /// Directories searched for named connectors before the project's
    /// `connectors/` and `<home>/plugins`.
    pub connector_path: Vec<PathBuf>,
}

impl Settings {
    /// Settings with `home` and no extra connector directories.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        Settings {
            home: home.into(),
            connector_path: Vec::new(),
        }
    }

    /// The same settings, searching `dirs` first for named connectors.
    pub fn with_connector_path(mut self, dirs: Vec<PathBuf>) -> Self {
        self.connector_path = dirs;
        self
    }

    /// Where installed connectors live.
    pub fn plugins_dir(&self) -> PathBuf {
        self.home.join("plugins")
    }

    /// The directories searched for a named connector, in order.
    pub fn search_dirs(&self, project_dir: Option<&Path>) -> Vec<PathBuf> {
        let mut dirs = self.connector_path.clone();
        if let Some(p) = project_dir {
            dirs.push(p.join("connectors"));
        }
        dirs.push(self.plugins_dir());
        dirs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_order_is_path_project_plugins() {
        let s = Settings::new("/h").with_connector_path(vec!["/a".into(), "/b".into()]);
        assert_eq!(
            s.search_dirs(Some(Path::new("/p"))),
            ["/a", "/b", "/p/connectors", "/h/plugins"]
                .iter()
                .map(PathBuf::from)
                .collect::<Vec<_>>()
        );
        assert_eq!(
            Settings::new("/h").search_dirs(None),
            [PathBuf::from("/h/plugins")]
        );
    }
}
