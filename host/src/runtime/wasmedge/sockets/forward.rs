//! Calls to wasmtime-wasi's own preview 1 functions, for descriptors that
//! are not sockets.
//!
//! wasmtime-wasi's functions find the guest's memory through their
//! caller's `memory` export, and a host function called from the host has
//! no such caller. So the originals are called through a tiny adapter
//! module, instantiated once per store, that imports the guest's memory
//! and the original functions and exports the memory and one wasm
//! function per original that just calls it.

use super::*;

/// The functions forwarded, with their number of i32 parameters (each
/// returns an i32 errno).
pub(super) const FORWARDED: [(&str, u8); 6] = [
    ("fd_close", 1),
    ("fd_fdstat_get", 2),
    ("fd_fdstat_set_flags", 2),
    ("poll_oneoff", 4),
    ("fd_read", 4),
    ("fd_write", 4),
];

/// wasmtime-wasi's definitions, bound to the store.
#[derive(Clone)]
pub(super) struct Originals(pub(super) [Func; 6]);

/// Typed entry points reaching the originals with the guest's memory
/// visible to them.
#[derive(Clone)]
pub(super) struct Forward {
    pub(super) fd_close: TypedFunc<i32, i32>,
    pub(super) fd_fdstat_get: TypedFunc<(i32, i32), i32>,
    pub(super) fd_fdstat_set_flags: TypedFunc<(i32, i32), i32>,
    pub(super) poll_oneoff: TypedFunc<(i32, i32, i32, i32), i32>,
    pub(super) fd_read: TypedFunc<(i32, i32, i32, i32), i32>,
    pub(super) fd_write: TypedFunc<(i32, i32, i32, i32), i32>,
}

/// The forwarder for the calling store, set up on first use.
pub(super) fn get<T: 'static>(
    caller: &mut Caller<'_, T>,
    table: fn(&mut T) -> &mut SocketTable,
) -> wasmtime::Result<Forward> {
    if let Some(f) = &table(caller.data_mut()).forward {
        return Ok(f.clone());
    }
    let Some(originals) = table(caller.data_mut()).originals.clone() else {
        wasmtime::bail!("the WasmEdge socket shim was not linked into this store");
    };
    let forward = match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => {
            let module = adapter_module(caller.engine())?;
            let mut imports: Vec<Extern> = vec![memory.into()];
            imports.extend(originals.0.iter().map(|f| Extern::Func(*f)));
            let instance = Instance::new(&mut *caller, &module, &imports)?;
            Forward {
                fd_close: instance.get_typed_func(&mut *caller, "fd_close")?,
                fd_fdstat_get: instance.get_typed_func(&mut *caller, "fd_fdstat_get")?,
                fd_fdstat_set_flags: instance
                    .get_typed_func(&mut *caller, "fd_fdstat_set_flags")?,
                poll_oneoff: instance.get_typed_func(&mut *caller, "poll_oneoff")?,
                fd_read: instance.get_typed_func(&mut *caller, "fd_read")?,
                fd_write: instance.get_typed_func(&mut *caller, "fd_write")?,
            }
        }
        // Without an exported linear memory the originals fail on
        // their own ("missing required memory export"): call them
        // directly and let them say so.
        _ => {
            let [close, stat, flags, poll, read, write] = &originals.0;
            Forward {
                fd_close: close.typed(&*caller)?,
                fd_fdstat_get: stat.typed(&*caller)?,
                fd_fdstat_set_flags: flags.typed(&*caller)?,
                poll_oneoff: poll.typed(&*caller)?,
                fd_read: read.typed(&*caller)?,
                fd_write: write.typed(&*caller)?,
            }
        }
    };
    table(caller.data_mut()).forward = Some(forward.clone());
    Ok(forward)
}

/// The adapter compiled for `engine` (cached for a few engines).
fn adapter_module(engine: &Engine) -> wasmtime::Result<Module> {
    static CACHE: Mutex<Vec<Module>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = cache.iter().find(|m| Engine::same(m.engine(), engine)) {
        return Ok(m.clone());
    }
    let module = Module::new(engine, adapter_wasm())?;
    if cache.len() >= 4 {
        cache.remove(0);
    }
    cache.push(module.clone());
    Ok(module)
}

/// The adapter's binary: imports `p1.memory` and `p1.<name>` for each
/// of [`FORWARDED`], exports `memory` and `<name>` functions that pass
/// their arguments to the import.
pub(super) fn adapter_wasm() -> Vec<u8> {
    const I32: u8 = 0x7f;
    let n = FORWARDED.len() as u32;
    let mut types = Vec::new();
    let mut imports = Vec::new();
    let mut funcs = Vec::new();
    let mut exports = Vec::new();
    let mut code = Vec::new();
    imports.extend(name("p1"));
    imports.extend(name("memory"));
    imports.extend([0x02, 0x00, 0x00]); // memory, limits: min 0, no max
    exports.extend(name("memory"));
    exports.extend([0x02, 0x00]);
    for (i, (f, params)) in FORWARDED.iter().enumerate() {
        let i = i as u32;
        types.push(0x60);
        types.extend(uleb(u32::from(*params)));
        types.extend(std::iter::repeat_n(I32, usize::from(*params)));
        types.extend([0x01, I32]);
        imports.extend(name("p1"));
        imports.extend(name(f));
        imports.push(0x00);
        imports.extend(uleb(i));
        funcs.extend(uleb(i));
        exports.extend(name(f));
        exports.push(0x00);
        exports.extend(uleb(n + i));
        let mut body = vec![0x00]; // no locals
        for p in 0..u32::from(*params) {
            body.push(0x20); // local.get
            body.extend(uleb(p));
        }
        body.push(0x10); // call
        body.extend(uleb(i));
        body.push(0x0b); // end
        code.extend(uleb(body.len() as u32));
        code.extend(body);
    }
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    out.extend(section(1, n, &types));
    out.extend(section(2, n + 1, &imports));
    out.extend(section(3, n, &funcs));
    out.extend(section(7, n + 1, &exports));
    out.extend(section(10, n, &code));
    out
}

fn section(id: u8, count: u32, items: &[u8]) -> Vec<u8> {
    let mut payload = uleb(count);
    payload.extend_from_slice(items);
    let mut out = vec![id];
    out.extend(uleb(payload.len() as u32));
    out.extend(payload);
    out
}

fn name(s: &str) -> Vec<u8> {
    let mut out = uleb(s.len() as u32);
    out.extend_from_slice(s.as_bytes());
    out
}

fn uleb(mut v: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}
