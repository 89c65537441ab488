//! `rapidbyte-bench`: the measurements behind `bench/run.sh`.
//!
//! * `aot <component.wasm>...`: cold compile vs load from the AOT cache, and
//!   instantiation, median of several rounds.
//! * `native <csv> <parquet>`: the floor for the demo: CSV decoded with
//!   arrow-csv and written as Parquet (snappy) natively, in one thread, with
//!   no sandbox, no IPC and no channel. Prints rows and seconds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rapidbyte_host::runtime::sandbox::Grant;
use rapidbyte_host::runtime::{HostContext, InstanceLimits, Runtime, SourceInstance};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn aot(files: &[PathBuf]) -> Result<(), String> {
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    println!("| component | size | cold compile (ms) | load from AOT cache (ms) | instantiate (ms) | speed-up |");
    println!("|---|---|---|---|---|---|");
    for file in files {
        let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let rt = Runtime::new(home.path()).map_err(|e| e.to_string())?;
        let mut cold = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            rt.compile_uncached(&bytes).map_err(|e| e.to_string())?;
            cold.push(t.elapsed());
        }
        // Populate the cache once, then time loads by fresh runtimes.
        Runtime::new(home.path())
            .and_then(|r| r.load(file))
            .map_err(|e| e.to_string())?;
        let mut warm = Vec::new();
        let mut inst = Vec::new();
        for _ in 0..15 {
            let rt = Runtime::new(home.path()).map_err(|e| e.to_string())?;
            let t = Instant::now();
            let loaded = rt.load(file).map_err(|e| e.to_string())?;
            warm.push(t.elapsed());
            if !loaded.from_cache {
                return Err("expected a cache hit".into());
            }
            if loaded.kind == rapidbyte_host::registry::ConnectorKind::Source {
                let ctx = HostContext::control("bench", "bench");
                let t = Instant::now();
                SourceInstance::new(
                    &rt,
                    &loaded,
                    &Grant::default(),
                    InstanceLimits::default(),
                    ctx,
                )
                .map_err(|e| e.to_string())?;
                inst.push(t.elapsed());
            }
        }
        let (c, w) = (median(cold), median(warm));
        println!(
            "| {} | {:.1} MB | {} | {} | {} | {:.0}x |",
            file.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            bytes.len() as f64 / 1e6,
            ms(c),
            ms(w),
            if inst.is_empty() {
                "-".to_string()
            } else {
                ms(median(inst))
            },
            c.as_secs_f64() / w.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}

fn native(csv: &Path, out: &Path) -> Result<(), String> {
    let t = Instant::now();
    let file = std::fs::File::open(csv).map_err(|e| e.to_string())?;
    let format = arrow_csv::reader::Format::default().with_header(true);
    let (schema, _) = format
        .infer_schema(std::io::BufReader::new(&file), Some(1000))
        .map_err(|e| e.to_string())?;
    let schema = Arc::new(schema);
    let file = std::fs::File::open(csv).map_err(|e| e.to_string())?;
    let reader = arrow_csv::ReaderBuilder::new(schema.clone())
        .with_header(true)
        .with_batch_size(16 * 1024)
        .build(std::io::BufReader::with_capacity(1 << 20, file))
        .map_err(|e| e.to_string())?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024))
        .build();
    let sink = std::fs::File::create(out).map_err(|e| e.to_string())?;
    let mut w = parquet::arrow::ArrowWriter::try_new(sink, schema, Some(props))
        .map_err(|e| e.to_string())?;
    let mut rows = 0;
    for b in reader {
        let b = b.map_err(|e| e.to_string())?;
        rows += b.num_rows();
        w.write(&b).map_err(|e| e.to_string())?;
    }
    w.close().map_err(|e| e.to_string())?;
    println!("rows={rows} seconds={:.3}", t.elapsed().as_secs_f64());
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("aot") if args.len() > 1 => {
            aot(&args[1..].iter().map(PathBuf::from).collect::<Vec<_>>())
        }
        Some("native") if args.len() == 3 => native(Path::new(&args[1]), Path::new(&args[2])),
        _ => Err(
            "usage: rapidbyte-bench aot <component.wasm>... | native <in.csv> <out.parquet>".into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
