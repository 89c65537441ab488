//! Support for the end-to-end tests: locating the built components, a
//! throwaway project directory, running pipelines, reading Parquet output.
//!
//! The components are built by `scripts/build-connectors.sh --tests` (the
//! test command does it first) into `<target>/rapidbyte-connectors` and
//! `<target>/rapidbyte-test-components`.

pub use rapidbyte_conformance::fixtures::postgres as pg;

pub mod certs;
pub mod rest;

/// The connection keys of a pipeline `config:` for `cluster` as `user`
/// (password [`pg::PASSWORD`]), indented for a connector's config.
pub fn pg_connection(cluster: &pg::PgCluster, user: &str) -> String {
    format!(
        "    host: 127.0.0.1\n    port: {}\n    user: {user}\n    password: \"{}\"\n",
        cluster.port,
        pg::PASSWORD
    )
}

/// `<rows>:<md5>` of the rows of `from` (a table, or `(SELECT ...)`) in
/// text form, ordered by `id`: equal when two relations hold the same rows.
pub fn pg_checksum(cluster: &pg::PgCluster, db: &str, from: &str) -> String {
    cluster.psql(
        db,
        &format!(
            "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY id), '')) FROM {from} t"
        ),
    )
}

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rapidbyte_host::pipeline::{self, PipelineError, PipelineReport};
use rapidbyte_host::runtime::Runtime;
use rapidbyte_host::settings::Settings;
use rapidbyte_host::PipelineConfig;

/// The cargo target directory these tests were built into.
pub fn target_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(d);
    }
    // <target>/debug/deps/<test binary>
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

fn staged(kind: &str) -> PathBuf {
    let dir = target_dir().join(kind);
    assert!(
        dir.is_dir(),
        "{} is missing: build the components first with `scripts/build-connectors.sh --tests` (scripts/test.sh does it)",
        dir.display()
    );
    dir
}

/// The directory holding the staged bundled connectors.
pub fn connectors_dir() -> PathBuf {
    staged("rapidbyte-connectors")
}

/// The directory holding the staged test components.
pub fn test_components_dir() -> PathBuf {
    staged("rapidbyte-test-components")
}

/// The settings tests run the engine with: a home under the target
/// directory, and the staged bundled connectors on the connector path.
pub fn settings() -> &'static Settings {
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let home = target_dir().join("rapidbyte-test-home");
        std::fs::create_dir_all(&home).expect("test home");
        Settings::new(home).with_connector_path(vec![connectors_dir()])
    })
}

/// Looks `${VAR}` up in the test process's environment.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// One engine per test process.
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new(&settings().home).expect("runtime"))
}

/// A throwaway project directory (with `rapidbyte.toml`).
pub struct Project {
    dir: tempfile::TempDir,
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

impl Project {
    /// A new empty project.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("rapidbyte.toml"), "").expect("rapidbyte.toml");
        Project { dir }
    }

    /// The project directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `rel`, creating parent directories.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Appends `text` to `rel`.
    pub fn append(&self, rel: &str, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.path().join(rel))
            .expect("open for append");
        f.write_all(text.as_bytes()).expect("append");
    }

    /// Writes `pipeline.yaml` and loads it.
    pub fn pipeline(&self, yaml: &str) -> PipelineConfig {
        let p = self.write("pipeline.yaml", yaml);
        PipelineConfig::load(&p, &env).unwrap_or_else(|e| panic!("pipeline should load: {e}"))
    }

    /// The error that loading, preparing or starting `yaml` fails with;
    /// panics if it starts.
    pub fn start_error(&self, yaml: &str) -> String {
        let p = self.write("pipeline.yaml", yaml);
        match PipelineConfig::load(&p, &env) {
            Err(e) => e.to_string(),
            Ok(config) => match pipeline::run(&config, runtime(), settings()) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("the pipeline was expected not to start"),
            },
        }
    }

    /// Runs a pipeline YAML through the engine.
    pub fn run(&self, yaml: &str) -> Result<PipelineReport, PipelineError> {
        let config = self.pipeline(yaml);
        pipeline::run(&config, runtime(), settings())
    }

    /// Runs and asserts every stream succeeded.
    pub fn run_ok(&self, yaml: &str) -> PipelineReport {
        let report = self
            .run(yaml)
            .unwrap_or_else(|e| panic!("pipeline failed to start: {e}"));
        for s in &report.streams {
            assert!(s.error.is_none(), "stream {} failed: {:?}", s.name, s.error);
        }
        report
    }

    /// Copies a staged component into the project under `name`, with
    /// `manifest` as its `rapidbyte-plugin.yaml`; returns the directory.
    pub fn component_with_manifest(&self, component: &str, name: &str, manifest: &str) -> PathBuf {
        let src = test_components_dir().join(component);
        let dst = self.path().join("components").join(name);
        std::fs::create_dir_all(&dst).expect("mkdir");
        let wasm = format!("{}.wasm", component.replace('-', "_"));
        std::fs::copy(src.join(&wasm), dst.join(&wasm)).expect("copy wasm");
        std::fs::write(dst.join("rapidbyte-plugin.yaml"), manifest).expect("manifest");
        dst
    }

    /// Reads every batch of a Parquet file under the project.
    pub fn read_parquet(&self, rel: &str) -> Vec<RecordBatch> {
        read_parquet(&self.path().join(rel))
    }
}

/// Reads every batch of a Parquet file.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader")
        .map(|b| b.expect("batch"))
        .collect()
}

/// The report of stream `name`.
pub fn stream<'a>(report: &'a PipelineReport, name: &str) -> &'a rapidbyte_host::StreamReport {
    report
        .streams
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stream {name} in the report"))
}

/// Total rows of some batches.
pub fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// The values of an Int64 column across batches.
pub fn i64_column(batches: &[RecordBatch], name: &str) -> Vec<i64> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    batches
        .iter()
        .flat_map(|b| {
            let col = b
                .column_by_name(name)
                .unwrap_or_else(|| panic!("no column {name}"));
            col.as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.expect("non-null"))
                .collect::<Vec<_>>()
        })
        .collect()
}
