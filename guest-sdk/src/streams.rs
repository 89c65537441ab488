//! Building catalog entries.

use arrow_schema::Schema;

use crate::error::Result;
use crate::ipc;
use crate::types::{StreamDescriptor, SyncMode};

/// Builds a [`StreamDescriptor`] from an Arrow schema.
pub struct StreamBuilder {
    descriptor: StreamDescriptor,
}

impl StreamBuilder {
    /// A stream `name` with `schema`, supporting full refresh.
    pub fn new(name: &str, schema: &Schema) -> Result<Self> {
        Ok(StreamBuilder {
            descriptor: StreamDescriptor {
                name: name.to_string(),
                schema: ipc::encode_schema(schema)?,
                supported_sync_modes: vec![SyncMode::FullRefresh],
                source_defined_cursor: None,
                source_defined_primary_key: None,
                supports_partitions: false,
            },
        })
    }

    /// Sets the supported sync modes.
    pub fn sync_modes(mut self, modes: &[SyncMode]) -> Self {
        self.descriptor.supported_sync_modes = modes.to_vec();
        self
    }

    /// Suggests a cursor column.
    pub fn cursor(mut self, column: &str) -> Self {
        self.descriptor.source_defined_cursor = Some(column.to_string());
        self
    }

    /// Declares the primary key.
    pub fn primary_key(mut self, columns: &[&str]) -> Self {
        self.descriptor.source_defined_primary_key =
            Some(columns.iter().map(|c| c.to_string()).collect());
        self
    }

    /// Declares that full-refresh reads of this stream can be split: the
    /// source then honours [`crate::types::StreamSelection::partition`] by
    /// reading only its share of the rows.
    pub fn partitionable(mut self) -> Self {
        self.descriptor.supports_partitions = true;
        self
    }

    /// The finished descriptor.
    pub fn build(self) -> StreamDescriptor {
        self.descriptor
    }
}
