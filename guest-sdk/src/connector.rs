//! The traits a connector implements and the macros that export them.

use std::any::Any;
use std::cell::RefCell;

use serde::de::DeserializeOwned;

use crate::error::{ConnectorError, Result};
use crate::frames::FrameReader;
#[allow(unused_imports)]
use crate::types::{
    Catalog, ReadRequest, ReadSummary, TransformRequest, TransformSummary, ValidationResult,
    ValidationStatus, WriteRequest, WriteSummary,
};
use crate::{config, Emitter};

/// A source: reads streams from somewhere and emits Arrow batches.
pub trait Source: Sized + 'static {
    /// The connector's configuration, parsed from the pipeline's
    /// `source.config`.
    type Config: DeserializeOwned;

    /// Builds the connector from its configuration. Called once per instance.
    fn init(config: Self::Config) -> Result<Self>;

    /// Lists the streams on offer with their Arrow schemas.
    fn discover(&mut self) -> Result<Catalog>;

    /// Checks a configuration without reading data. The default accepts any
    /// configuration that parses.
    fn validate(config: Self::Config) -> Result<ValidationResult> {
        let _ = config;
        Ok(ok_validation())
    }

    /// Reads the selected streams, sending batches with an [`Emitter`] per
    /// stream and saving cursors with [`crate::state::set`].
    fn read(&mut self, request: ReadRequest) -> Result<ReadSummary>;
}

/// A destination: applies the batches of one stream somewhere.
pub trait Destination: Sized + 'static {
    /// The connector's configuration, parsed from `destination.config`.
    type Config: DeserializeOwned;

    /// Builds the connector from its configuration.
    fn init(config: Self::Config) -> Result<Self>;

    /// Checks a configuration without writing. The default accepts any
    /// configuration that parses.
    fn validate(config: Self::Config) -> Result<ValidationResult> {
        let _ = config;
        Ok(ok_validation())
    }

    /// Writes one stream: pull frames from `input` until `None`; on a
    /// checkpoint, make everything so far durable before pulling again.
    /// Return only when every row is durable.
    fn write(&mut self, request: WriteRequest, input: &mut FrameReader) -> Result<WriteSummary>;
}

/// A transform: reshapes the batches of one stream.
pub trait Transform: Sized + 'static {
    /// The transform's configuration.
    type Config: DeserializeOwned;

    /// Builds the transform from its configuration.
    fn init(config: Self::Config) -> Result<Self>;

    /// Checks a configuration. The default accepts any that parses.
    fn validate(config: Self::Config) -> Result<ValidationResult> {
        let _ = config;
        Ok(ok_validation())
    }

    /// Pulls frames from `input`, emits results through `output`, and returns
    /// to `input` after each checkpoint so it passes downstream.
    fn transform(
        &mut self,
        request: TransformRequest,
        input: &mut FrameReader,
        output: &mut Emitter,
    ) -> Result<TransformSummary>;
}

/// A successful validation result.
pub fn ok_validation() -> ValidationResult {
    ValidationResult {
        status: ValidationStatus::Success,
        message: "configuration is valid".to_string(),
        details: Vec::new(),
    }
}

thread_local! {
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        crate::log::error(&format!("connector panicked{at}: {what}"));
    }));
}

fn not_initialized() -> ConnectorError {
    ConnectorError::internal(
        "not_initialized",
        "init must be called before any other function",
    )
}

fn with_instance<T: 'static, R>(f: impl FnOnce(&mut T) -> Result<R>) -> Result<R> {
    INSTANCE.with(|slot| {
        let mut slot = slot.borrow_mut();
        let instance = slot
            .as_mut()
            .and_then(|b| b.downcast_mut::<T>())
            .ok_or_else(not_initialized)?;
        f(instance)
    })
}

fn store<T: 'static>(value: T) {
    INSTANCE.with(|slot| *slot.borrow_mut() = Some(Box::new(value)));
}

#[doc(hidden)]
pub mod __glue {
    //! Functions the export macros forward to. Not a public API.
    use super::*;

    pub fn source_init<S: Source>(config: String) -> Result<()> {
        install_panic_hook();
        let cfg = config::parse::<S::Config>(&config)?;
        store(S::init(cfg)?);
        Ok(())
    }
    pub fn source_discover<S: Source>() -> Result<Catalog> {
        with_instance::<S, _>(|s| s.discover())
    }
    pub fn source_validate<S: Source>(config: String) -> Result<ValidationResult> {
        install_panic_hook();
        S::validate(config::parse::<S::Config>(&config)?)
    }
    pub fn source_read<S: Source>(request: ReadRequest) -> Result<ReadSummary> {
        with_instance::<S, _>(|s| s.read(request))
    }

    pub fn destination_init<D: Destination>(config: String) -> Result<()> {
        install_panic_hook();
        let cfg = config::parse::<D::Config>(&config)?;
        store(D::init(cfg)?);
        Ok(())
    }
    pub fn destination_validate<D: Destination>(config: String) -> Result<ValidationResult> {
        install_panic_hook();
        D::validate(config::parse::<D::Config>(&config)?)
    }
    pub fn destination_write<D: Destination>(request: WriteRequest) -> Result<WriteSummary> {
        with_instance::<D, _>(|d| d.write(request, &mut FrameReader::new()))
    }

    pub fn transform_init<T: Transform>(config: String) -> Result<()> {
        install_panic_hook();
        let cfg = config::parse::<T::Config>(&config)?;
        store(T::init(cfg)?);
        Ok(())
    }
    pub fn transform_validate<T: Transform>(config: String) -> Result<ValidationResult> {
        install_panic_hook();
        T::validate(config::parse::<T::Config>(&config)?)
    }
    pub fn transform_run<T: Transform>(request: TransformRequest) -> Result<TransformSummary> {
        let mut output = Emitter::with_limit(&request.stream_name, 0);
        with_instance::<T, _>(|t| t.transform(request, &mut FrameReader::new(), &mut output))
    }
}

/// Exports a [`Source`] implementation as the component's
/// `source-connector` world. Use once, at the crate root.
#[cfg(feature = "source")]
#[macro_export]
macro_rules! source_connector {
    ($ty:ty) => {
        #[doc(hidden)]
        pub struct __RapidbyteExport;
        impl $crate::bindings::exports::rapidbyte::connector::source::Guest for __RapidbyteExport {
            fn init(config: String) -> $crate::Result<()> {
                $crate::__glue::source_init::<$ty>(config)
            }
            fn discover() -> $crate::Result<$crate::types::Catalog> {
                $crate::__glue::source_discover::<$ty>()
            }
            fn validate(config: String) -> $crate::Result<$crate::types::ValidationResult> {
                $crate::__glue::source_validate::<$ty>(config)
            }
            fn read(
                request: $crate::types::ReadRequest,
            ) -> $crate::Result<$crate::types::ReadSummary> {
                $crate::__glue::source_read::<$ty>(request)
            }
        }
        $crate::__export!(__RapidbyteExport);
    };
}

/// Exports a [`Destination`] implementation as the component's
/// `destination-connector` world. Use once, at the crate root.
#[cfg(feature = "destination")]
#[macro_export]
macro_rules! destination_connector {
    ($ty:ty) => {
        #[doc(hidden)]
        pub struct __RapidbyteExport;
        impl $crate::bindings::exports::rapidbyte::connector::destination::Guest
            for __RapidbyteExport
        {
            fn init(config: String) -> $crate::Result<()> {
                $crate::__glue::destination_init::<$ty>(config)
            }
            fn validate(config: String) -> $crate::Result<$crate::types::ValidationResult> {
                $crate::__glue::destination_validate::<$ty>(config)
            }
            fn write(
                request: $crate::types::WriteRequest,
            ) -> $crate::Result<$crate::types::WriteSummary> {
                $crate::__glue::destination_write::<$ty>(request)
            }
        }
        $crate::__export!(__RapidbyteExport);
    };
}

/// Exports a [`Transform`] implementation as the component's
/// `transform-connector` world. Use once, at the crate root.
#[cfg(feature = "transform")]
#[macro_export]
macro_rules! transform_connector {
    ($ty:ty) => {
        #[doc(hidden)]
        pub struct __RapidbyteExport;
        impl $crate::bindings::exports::rapidbyte::connector::transform::Guest
            for __RapidbyteExport
        {
            fn init(config: String) -> $crate::Result<()> {
                $crate::__glue::transform_init::<$ty>(config)
            }
            fn validate(config: String) -> $crate::Result<$crate::types::ValidationResult> {
                $crate::__glue::transform_validate::<$ty>(config)
            }
            fn transform(
                request: $crate::types::TransformRequest,
            ) -> $crate::Result<$crate::types::TransformSummary> {
                $crate::__glue::transform_run::<$ty>(request)
            }
        }
        $crate::__export!(__RapidbyteExport);
    };
}
