//! Helpers shared by `source-file` and `dest-file`.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use parquet::errors::{ParquetError, Result};
use parquet::file::reader::{ChunkReader, Length};

/// Reads a Parquet file by path. The parquet crate's `File` reader clones
/// file handles, which WASI does not support; this opens a fresh handle
/// for each read instead.
pub struct PathChunkReader {
    path: PathBuf,
    len: u64,
}

impl PathChunkReader {
    /// A reader for `path`.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let len = std::fs::metadata(path)?.len();
        Ok(PathChunkReader {
            path: path.to_path_buf(),
            len,
        })
    }

    fn at(&self, start: u64) -> Result<File> {
        let mut f = File::open(&self.path).map_err(|e| ParquetError::External(Box::new(e)))?;
        f.seek(SeekFrom::Start(start))
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(f)
    }
}

impl Length for PathChunkReader {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for PathChunkReader {
    type T = BufReader<File>;

    fn get_read(&self, start: u64) -> Result<Self::T> {
        Ok(BufReader::with_capacity(1 << 20, self.at(start)?))
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        let mut buf = vec![0u8; length];
        self.at(start)?
            .read_exact(&mut buf)
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(buf.into())
    }
}
