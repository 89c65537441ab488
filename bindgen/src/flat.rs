//! The flat ABI for WasmEdge-style core modules, generated from the WIT.
//!
//! A `wasm32-wasip1` core module cannot import or export WIT interfaces, so
//! the contract crosses as plain core functions laid out by the component
//! model's canonical ABI (the same lowering `wit-component` would apply):
//!
//! * imports: module `<package>/host@<version>`, one function per WIT
//!   function, named as in the WIT (`emit-batch`);
//! * exports: `<package>/<interface>@<version>#<function>`, with
//!   `cabi_post_<export>` to free a returned value, plus `memory` and
//!   `cabi_realloc`, through which the host allocates in the guest;
//! * parameters flattened to at most 16 core values (strings and lists as
//!   pointer and length, records field by field, variants as a
//!   discriminant plus joined payload slots); results of more than one core
//!   value go through memory (a caller-provided return pointer for imports,
//!   a returned pointer for exports).
//!
//! This module renders two things from that: the host's import table and
//! export callers (`host/src/runtime/wasmedge/flat_abi.rs`), and the ABI
//! section of the protocol reference. Guests need no generator of their
//! own: `wit-bindgen`'s output built for `wasm32-wasip1` is already this
//! same canonical ABI lowering.

use std::fmt::Write as _;

use wit_parser::{
    Function, Int, InterfaceId, PackageId, Resolve, SizeAlign, Type, TypeDefKind, TypeId,
};

use crate::{Error, GENERATED_NOTICE};

/// A core value type of the flat ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Core {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
}

impl Core {
    fn wat(self) -> &'static str {
        match self {
            Core::I32 => "i32",
            Core::I64 => "i64",
            Core::F32 => "f32",
            Core::F64 => "f64",
        }
    }
    fn host(self) -> &'static str {
        match self {
            Core::I32 => "ValType::I32",
            Core::I64 => "ValType::I64",
            Core::F32 => "ValType::F32",
            Core::F64 => "ValType::F64",
        }
    }
    fn join(self, other: Core) -> Core {
        match (self, other) {
            (a, b) if a == b => a,
            (Core::I32, Core::F32) | (Core::F32, Core::I32) => Core::I32,
            _ => Core::I64,
        }
    }
}

/// The most core parameters a function takes before they go through memory.
pub const MAX_FLAT_PARAMS: usize = 16;

/// The interfaces the ABI covers, and the package naming them.
struct Contract<'r> {
    resolve: &'r Resolve,
    sizes: SizeAlign,
    package: PackageId,
    types: InterfaceId,
    host: InterfaceId,
    exports: Vec<(String, InterfaceId)>,
}

impl<'r> Contract<'r> {
    fn new(resolve: &'r Resolve, package: PackageId) -> Result<Self, Error> {
        let pkg = &resolve.packages[package];
        let find = |name: &str| {
            pkg.interfaces
                .get(name)
                .copied()
                .ok_or_else(|| Error::Unsupported(format!("the package has no `{name}` interface")))
        };
        let mut sizes = SizeAlign::default();
        sizes.fill(resolve);
        let exports = ["source", "destination", "transform"]
            .iter()
            .map(|n| Ok((n.to_string(), find(n)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Contract {
            resolve,
            sizes,
            package,
            types: find("types")?,
            host: find("host")?,
            exports,
        })
    }

    /// `rapidbyte:connector/host@0.1.0`
    fn qualified(&self, iface: &str) -> String {
        self.resolve.id_of_name(self.package, iface)
    }

    fn size(&self, ty: &Type) -> usize {
        self.sizes.size(ty).size_wasm32()
    }

    fn align(&self, ty: &Type) -> usize {
        self.sizes.align(ty).align_wasm32()
    }

    /// Follows `use` aliases to the defining type.
    fn target(&self, mut id: TypeId) -> TypeId {
        while let TypeDefKind::Type(Type::Id(next)) = &self.resolve.types[id].kind {
            id = *next;
        }
        id
    }

    /// The flat core types of `ty`.
    fn flat(&self, ty: &Type, out: &mut Vec<Core>) -> Result<(), Error> {
        match ty {
            Type::Bool
            | Type::U8
            | Type::U16
            | Type::U32
            | Type::S8
            | Type::S16
            | Type::S32
            | Type::Char => out.push(Core::I32),
            Type::U64 | Type::S64 => out.push(Core::I64),
            Type::F32 => out.push(Core::F32),
            Type::F64 => out.push(Core::F64),
            Type::String => out.extend([Core::I32, Core::I32]),
            Type::ErrorContext => return Err(Error::Unsupported("error-context".into())),
            Type::Id(id) => {
                let id = self.target(*id);
                match &self.resolve.types[id].kind {
                    TypeDefKind::Record(r) => {
                        for f in &r.fields {
                            self.flat(&f.ty, out)?;
                        }
                    }
                    TypeDefKind::Enum(_) => out.push(Core::I32),
                    TypeDefKind::List(_) => out.extend([Core::I32, Core::I32]),
                    TypeDefKind::Option(t) => {
                        out.push(Core::I32);
                        self.flat(t, out)?;
                    }
                    TypeDefKind::Result(r) => {
                        out.push(Core::I32);
                        let cases = [r.ok, r.err];
                        out.extend(self.joined(cases.iter().map(|c| c.as_ref()))?);
                    }
                    TypeDefKind::Variant(v) => {
                        out.push(Core::I32);
                        out.extend(self.joined(v.cases.iter().map(|c| c.ty.as_ref()))?);
                    }
                    other => {
                        return Err(Error::Unsupported(format!(
                            "flat ABI for {}",
                            other.as_str()
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    fn flat_of(&self, ty: &Type) -> Result<Vec<Core>, Error> {
        let mut out = Vec::new();
        self.flat(ty, &mut out)?;
        Ok(out)
    }

    fn joined<'a>(
        &self,
        cases: impl Iterator<Item = Option<&'a Type>>,
    ) -> Result<Vec<Core>, Error> {
        let mut out: Vec<Core> = Vec::new();
        for case in cases.flatten() {
            for (i, core) in self.flat_of(case)?.into_iter().enumerate() {
                match out.get_mut(i) {
                    Some(slot) => *slot = slot.join(core),
                    None => out.push(core),
                }
            }
        }
        Ok(out)
    }

    /// The Rust spelling of `ty` (owned).
    fn rust(&self, ty: &Type) -> Result<String, Error> {
        Ok(match ty {
            Type::Bool => "bool".into(),
            Type::U8 => "u8".into(),
            Type::U32 => "u32".into(),
            Type::U64 => "u64".into(),
            Type::F64 => "f64".into(),
            Type::String => "String".into(),
            Type::Id(id) => {
                let id = self.target(*id);
                let def = &self.resolve.types[id];
                match (&def.name, &def.kind) {
                    (Some(name), _) => camel(name),
                    (None, TypeDefKind::List(t)) => format!("Vec<{}>", self.rust(t)?),
                    (None, TypeDefKind::Option(t)) => format!("Option<{}>", self.rust(t)?),
                    (None, TypeDefKind::Result(r)) => format!(
                        "std::result::Result<{}, {}>",
                        self.rust_or_unit(r.ok.as_ref())?,
                        self.rust_or_unit(r.err.as_ref())?
                    ),
                    (None, other) => {
                        return Err(Error::Unsupported(format!(
                            "Rust type for {}",
                            other.as_str()
                        )))
                    }
                }
            }
            other => return Err(Error::Unsupported(format!("Rust type for {other:?}"))),
        })
    }

    fn rust_or_unit(&self, ty: Option<&Type>) -> Result<String, Error> {
        match ty {
            Some(t) => self.rust(t),
            None => Ok("()".into()),
        }
    }

    /// The named types of the `types` interface, in source order.
    fn named_types(&self) -> Vec<(String, TypeId)> {
        self.resolve.interfaces[self.types]
            .types
            .iter()
            .map(|(n, id)| (n.clone(), *id))
            .collect()
    }

    /// Core parameters and results of `func`, with whether results go
    /// through a return pointer.
    fn signature(&self, func: &Function) -> Result<(Vec<Core>, Vec<Core>, bool), Error> {
        let mut params = Vec::new();
        for p in &func.params {
            self.flat(&p.ty, &mut params)?;
        }
        if params.len() > MAX_FLAT_PARAMS {
            return Err(Error::Unsupported(format!(
                "`{}` takes more than {MAX_FLAT_PARAMS} flat parameters",
                func.name
            )));
        }
        let results = match &func.result {
            Some(t) => self.flat_of(t)?,
            None => Vec::new(),
        };
        let indirect = results.len() > 1;
        Ok((params, results, indirect))
    }
}

/// `stream-descriptor` -> `StreamDescriptor`
fn camel(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// `max-batch-bytes` -> `max_batch_bytes`
fn snake(kebab: &str) -> String {
    let s = kebab.replace('-', "_");
    match s.as_str() {
        "type" | "match" | "mod" | "use" | "fn" | "ref" | "self" | "struct" | "enum" | "impl" => {
            format!("{s}_")
        }
        _ => s,
    }
}

fn disc_size(tag: Int) -> usize {
    match tag {
        Int::U8 => 1,
        Int::U16 => 2,
        Int::U32 => 4,
        Int::U64 => 8,
    }
}

fn cores(list: &[Core], f: fn(Core) -> &'static str) -> String {
    list.iter().map(|c| f(*c)).collect::<Vec<_>>().join(", ")
}

/// Renders the `Canon` impls of every named type of the `types` interface.
fn type_impls(c: &Contract<'_>, out: &mut String) -> Result<(), Error> {
    const LOWER_SIG: &str =
        "fn lower<T>(&self, cx: &mut Cx<'_, T>, out: &mut Vec<Val>) -> Result<()>";
    const LIFT_SIG: &str = "fn lift<T>(cx: &Cx<'_, T>, vals: &mut Flat<'_>) -> Result<Self>";
    const STORE_SIG: &str = "fn store<T>(&self, cx: &mut Cx<'_, T>, at: u32) -> Result<()>";
    const LOAD_SIG: &str = "fn load<T>(cx: &Cx<'_, T>, at: u32) -> Result<Self>";

    for (name, id) in c.named_types() {
        let id = c.target(id);
        let def = &c.resolve.types[id];
        let rust = camel(&name);
        let ty = Type::Id(id);
        let size = c.size(&ty);
        let align = c.align(&ty);
        let flat = c.flat_of(&ty)?;
        writeln!(out, "impl Canon for {rust} {{").ok();
        writeln!(out, "    const SIZE: u32 = {size};").ok();
        writeln!(out, "    const ALIGN: u32 = {align};").ok();
        writeln!(out, "    fn flat_types(out: &mut Vec<ValType>) {{").ok();
        let flat_list = cores(&flat, Core::host);
        writeln!(out, "        out.extend([{flat_list}]);\n    }}").ok();
        match &def.kind {
            TypeDefKind::Record(r) => {
                let offsets = c.sizes.field_offsets(r.fields.iter().map(|f| &f.ty));
                // lower
                writeln!(out, "    {LOWER_SIG} {{").ok();
                for f in &r.fields {
                    writeln!(out, "        self.{}.lower(cx, out)?;", snake(&f.name)).ok();
                }
                writeln!(out, "        Ok(())\n    }}").ok();
                // lift
                writeln!(out, "    {LIFT_SIG} {{").ok();
                let fields: Vec<String> = r
                    .fields
                    .iter()
                    .map(|f| -> Result<String, Error> {
                        Ok(format!(
                            "            {}: <{}>::lift(cx, vals)?,",
                            snake(&f.name),
                            c.rust(&f.ty)?
                        ))
                    })
                    .collect::<Result<_, _>>()?;
                writeln!(
                    out,
                    "        Ok({rust} {{\n{}\n        }})\n    }}",
                    fields.join("\n")
                )
                .ok();
                // store
                writeln!(out, "    {STORE_SIG} {{").ok();
                writeln!(out, "        cx.check(at, Self::SIZE)?;").ok();
                for (f, (off, _)) in r.fields.iter().zip(&offsets) {
                    writeln!(
                        out,
                        "        self.{}.store(cx, at + {})?;",
                        snake(&f.name),
                        off.size_wasm32()
                    )
                    .ok();
                }
                writeln!(out, "        Ok(())\n    }}").ok();
                // load
                writeln!(out, "    {LOAD_SIG} {{").ok();
                writeln!(out, "        cx.check(at, Self::SIZE)?;").ok();
                let fields: Vec<String> = r
                    .fields
                    .iter()
                    .zip(&offsets)
                    .map(|(f, (off, _))| -> Result<String, Error> {
                        Ok(format!(
                            "            {}: <{}>::load(cx, at + {})?,",
                            snake(&f.name),
                            c.rust(&f.ty)?,
                            off.size_wasm32()
                        ))
                    })
                    .collect::<Result<_, _>>()?;
                writeln!(
                    out,
                    "        Ok({rust} {{\n{}\n        }})\n    }}",
                    fields.join("\n")
                )
                .ok();
            }
            TypeDefKind::Enum(e) => {
                let n = e.cases.len();
                let ds = disc_size(e.tag());
                let arms_to = |f: &dyn Fn(usize, &str) -> String| -> String {
                    e.cases
                        .iter()
                        .enumerate()
                        .map(|(i, case)| f(i, &camel(&case.name)))
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                let to_num = arms_to(&|i, v| format!("            {rust}::{v} => {i},"));
                let from_num = arms_to(&|i, v| format!("            {i} => {rust}::{v},"));
                writeln!(out, "    {LOWER_SIG} {{").ok();
                writeln!(out, "        out.push(Val::I32(self.discriminant() as i32));\n        Ok(())\n    }}").ok();
                writeln!(out, "    {LIFT_SIG} {{").ok();
                writeln!(out, "        Self::from_discriminant(canon::discriminant(vals.i32()? as u32, {n}, \"{name}\")?)\n    }}").ok();
                writeln!(out, "    {STORE_SIG} {{").ok();
                writeln!(
                    out,
                    "        canon::store_discriminant(cx, at, {ds}, self.discriminant())\n    }}"
                )
                .ok();
                writeln!(out, "    {LOAD_SIG} {{").ok();
                writeln!(out, "        Self::from_discriminant(canon::discriminant(canon::load_discriminant(cx, at, {ds})?, {n}, \"{name}\")?)\n    }}").ok();
                writeln!(out, "}}\n").ok();
                writeln!(out, "impl {rust} {{").ok();
                writeln!(out, "    fn discriminant(&self) -> u32 {{\n        match self {{\n{to_num}\n        }}\n    }}").ok();
                writeln!(out, "    fn from_discriminant(d: u32) -> Result<Self> {{\n        Ok(match d {{\n{from_num}\n            _ => unreachable!(\"discriminant checked\"),\n        }})\n    }}").ok();
            }
            TypeDefKind::Variant(v) => {
                let n = v.cases.len();
                let ds = disc_size(v.tag());
                let payload_off = c
                    .sizes
                    .payload_offset(v.tag(), v.cases.iter().map(|cs| cs.ty.as_ref()))
                    .size_wasm32();
                let slots = c.joined(v.cases.iter().map(|cs| cs.ty.as_ref()))?;
                let slot_list = cores(&slots, Core::host);
                // lower
                writeln!(out, "    {LOWER_SIG} {{").ok();
                writeln!(out, "        let mut payload = Vec::new();").ok();
                writeln!(out, "        let disc: u32 = match self {{").ok();
                for (i, case) in v.cases.iter().enumerate() {
                    let variant = camel(&case.name);
                    match &case.ty {
                        Some(_) => writeln!(out, "            {rust}::{variant}(v) => {{\n                v.lower(cx, &mut payload)?;\n                {i}\n            }}").ok(),
                        None => writeln!(out, "            {rust}::{variant} => {i},").ok(),
                    };
                }
                writeln!(out, "        }};").ok();
                writeln!(out, "        out.push(Val::I32(disc as i32));\n        canon::push_joined(out, &payload, &[{slot_list}]);\n        Ok(())\n    }}").ok();
                // lift
                writeln!(out, "    {LIFT_SIG} {{").ok();
                writeln!(out, "        let disc = canon::discriminant(vals.i32()? as u32, {n}, \"{name}\")?;\n        let slots = vals.take({})?;", slots.len()).ok();
                writeln!(out, "        Ok(match disc {{").ok();
                for (i, case) in v.cases.iter().enumerate() {
                    let variant = camel(&case.name);
                    match &case.ty {
                        Some(t) => {
                            let inner = c.rust(t)?;
                            let cf = cores(&c.flat_of(t)?, Core::host);
                            writeln!(out, "            {i} => {{\n                let case = canon::split_joined(slots, &[{cf}])?;\n                {rust}::{variant}(<{inner}>::lift(cx, &mut Flat::new(&case))?)\n            }}").ok()
                        }
                        None => writeln!(out, "            {i} => {rust}::{variant},").ok(),
                    };
                }
                writeln!(
                    out,
                    "            _ => unreachable!(\"discriminant checked\"),\n        }})\n    }}"
                )
                .ok();
                // store
                writeln!(out, "    {STORE_SIG} {{").ok();
                writeln!(out, "        cx.check(at, Self::SIZE)?;").ok();
                writeln!(out, "        match self {{").ok();
                for (i, case) in v.cases.iter().enumerate() {
                    let variant = camel(&case.name);
                    let disc = format!("canon::store_discriminant(cx, at, {ds}, {i})?");
                    match &case.ty {
                        Some(_) => writeln!(out, "            {rust}::{variant}(v) => {{\n                {disc};\n                v.store(cx, at + {payload_off})?;\n            }}").ok(),
                        None => writeln!(out, "            {rust}::{variant} => {disc},").ok(),
                    };
                }
                write!(out, "        }}\n        Ok(())\n    }}\n").ok();
                // load
                writeln!(out, "    {LOAD_SIG} {{").ok();
                writeln!(out, "        cx.check(at, Self::SIZE)?;\n        let disc = canon::discriminant(canon::load_discriminant(cx, at, {ds})?, {n}, \"{name}\")?;\n        Ok(match disc {{").ok();
                for (i, case) in v.cases.iter().enumerate() {
                    let variant = camel(&case.name);
                    match &case.ty {
                        Some(t) => writeln!(
                            out,
                            "            {i} => {rust}::{variant}(<{}>::load(cx, at + {payload_off})?),",
                            c.rust(t)?
                        )
                        .ok(),
                        None => writeln!(out, "            {i} => {rust}::{variant},").ok(),
                    };
                }
                writeln!(
                    out,
                    "            _ => unreachable!(\"discriminant checked\"),\n        }})\n    }}"
                )
                .ok();
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "flat ABI for a named {} (`{name}`)",
                    other.as_str()
                )))
            }
        }
        writeln!(out, "}}\n").ok();
    }
    Ok(())
}

/// Renders the host half: `Canon` impls for the wasmtime-generated types,
/// the import table and the export callers.
pub fn render_host(resolve: &Resolve, package: PackageId) -> Result<String, Error> {
    let c = Contract::new(resolve, package)?;
    let mut out = String::new();
    writeln!(out, "//! {GENERATED_NOTICE}").ok();
    writeln!(out, "//!").ok();
    writeln!(
        out,
        "//! The host half of the flat ABI (see `docs/protocol.md`, \"Flat ABI\"): how"
    )
    .ok();
    writeln!(
        out,
        "//! each contract type is laid out in a core module's memory, the `host`"
    )
    .ok();
    writeln!(
        out,
        "//! functions as core imports, and callers for the exported interfaces."
    )
    .ok();
    writeln!(
        out,
        "#![allow(clippy::all, unused_variables, unused_mut, missing_docs)]\n"
    )
    .ok();
    writeln!(
        out,
        "use wasmtime::{{AsContextMut, FuncType, Instance, Linker, Val, ValType}};\n"
    )
    .ok();
    writeln!(out, "use super::canon::{{self, Canon, Cx, Flat, Result}};").ok();
    writeln!(
        out,
        "use crate::runtime::bindings::source::rapidbyte::connector::host::Host;"
    )
    .ok();
    writeln!(out, "use crate::runtime::bindings::types::*;\n").ok();
    let host_module = c.qualified("host");
    writeln!(out, "/// The import module of the `host` functions.").ok();
    writeln!(out, "pub const HOST_MODULE: &str = \"{host_module}\";\n").ok();
    type_impls(&c, &mut out)?;

    // Import table.
    writeln!(
        out,
        "/// The names of the `host` functions, as imported from [`HOST_MODULE`]."
    )
    .ok();
    let names: Vec<String> = c.resolve.interfaces[c.host]
        .functions
        .values()
        .map(|f| format!("\"{}\"", f.name))
        .collect();
    writeln!(
        out,
        "pub const HOST_FUNCTIONS: &[&str] = &[{}];\n",
        names.join(", ")
    )
    .ok();
    writeln!(
        out,
        "/// Defines every `host` function on `linker`, lifting arguments from the"
    )
    .ok();
    writeln!(
        out,
        "/// caller's memory and lowering results into it, and calling `Host`."
    )
    .ok();
    writeln!(out, "pub fn add_host_to_linker<T: 'static, U: Host + 'static>(\n    linker: &mut Linker<T>,\n    get: fn(&mut T) -> &mut U,\n) -> wasmtime::Result<()> {{").ok();
    writeln!(out, "    let engine = linker.engine().clone();").ok();
    for func in c.resolve.interfaces[c.host].functions.values() {
        let (params, results, indirect) = c.signature(func)?;
        let mut core_params = params.clone();
        if indirect {
            core_params.push(Core::I32);
        }
        let core_results: Vec<Core> = if indirect {
            Vec::new()
        } else {
            results.clone()
        };
        writeln!(out, "    linker.func_new(\n        HOST_MODULE,\n        \"{}\",\n        FuncType::new(&engine, [{}], [{}]),\n        move |mut caller, params, results| {{", func.name, cores(&core_params, Core::host), cores(&core_results, Core::host)).ok();
        writeln!(out, "            let mut vals = Flat::new(params);").ok();
        writeln!(
            out,
            "            let mut cx = Cx::from_caller(&mut caller)?;"
        )
        .ok();
        let mut args = Vec::new();
        for (i, p) in func.params.iter().enumerate() {
            writeln!(
                out,
                "            let a{i} = <{}>::lift(&cx, &mut vals)?;",
                c.rust(&p.ty)?
            )
            .ok();
            args.push(format!("a{i}"));
        }
        if indirect {
            writeln!(out, "            let ret = vals.i32()? as u32;").ok();
        }
        let method = snake(&func.name);
        let call = format!(
            "Host::{method}(get(cx.data_mut()){})",
            args.iter().map(|a| format!(", {a}")).collect::<String>()
        );
        if func.result.is_some() {
            writeln!(out, "            let r = {call}?;").ok();
            if indirect {
                writeln!(out, "            r.store(&mut cx, ret)?;").ok();
            } else {
                writeln!(out, "            let mut flat = Vec::new();\n            r.lower(&mut cx, &mut flat)?;\n            results.clone_from_slice(&flat);").ok();
            }
        } else {
            writeln!(out, "            {call}?;").ok();
        }
        writeln!(out, "            Ok(())\n        }},\n    )?;").ok();
    }
    writeln!(out, "    Ok(())\n}}\n").ok();

    // Export callers.
    for (iface_name, iface) in &c.exports {
        let qualified = c.qualified(iface_name);
        for func in c.resolve.interfaces[*iface].functions.values() {
            let (params, results, indirect) = c.signature(func)?;
            let export = format!("{qualified}#{}", func.name);
            let fname = format!("call_{}_{}", snake(iface_name), snake(&func.name));
            let mut sig = Vec::new();
            for p in &func.params {
                let ty = c.rust(&p.ty)?;
                let ty = match ty.as_str() {
                    "String" => "&str".to_string(),
                    t if is_copy(t) => t.to_string(),
                    t => format!("&{t}"),
                };
                sig.push(format!("{}: {ty}", snake(&p.name)));
            }
            let ret = match &func.result {
                Some(t) => c.rust(t)?,
                None => "()".into(),
            };
            writeln!(
                out,
                "/// Calls the export `{export}`, then its `cabi_post_` function."
            )
            .ok();
            writeln!(out, "pub fn {fname}<T: 'static>(\n    mut store: impl AsContextMut<Data = T>,\n    instance: &Instance,{}\n) -> wasmtime::Result<{ret}> {{", sig.iter().map(|s| format!("\n    {s},")).collect::<String>()).ok();
            writeln!(
                out,
                "    let func = canon::export(&mut store, instance, \"{export}\")?;"
            )
            .ok();
            writeln!(
                out,
                "    let mut cx = Cx::for_instance(store.as_context_mut(), instance)?;"
            )
            .ok();
            writeln!(
                out,
                "    let mut args: Vec<Val> = Vec::with_capacity({});",
                params.len()
            )
            .ok();
            for p in &func.params {
                let name = snake(&p.name);
                let ty = c.rust(&p.ty)?;
                if ty == "String" {
                    writeln!(out, "    {name}.to_string().lower(&mut cx, &mut args)?;").ok();
                } else {
                    writeln!(out, "    {name}.lower(&mut cx, &mut args)?;").ok();
                }
            }
            let zeros = if indirect {
                vec![Core::I32]
            } else {
                results.clone()
            };
            writeln!(
                out,
                "    let mut results = [{}];",
                zeros
                    .iter()
                    .map(|c| match c {
                        Core::I32 => "Val::I32(0)",
                        Core::I64 => "Val::I64(0)",
                        Core::F32 => "Val::F32(0)",
                        Core::F64 => "Val::F64(0)",
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )
            .ok();
            writeln!(out, "    func.call(cx.store(), &args, &mut results)?;").ok();
            if indirect {
                writeln!(out, "    let ret = results[0].i32().unwrap_or(0) as u32;").ok();
                writeln!(out, "    let value = <{ret}>::load(&cx, ret)?;").ok();
                writeln!(
                    out,
                    "    canon::post_return(cx.store(), instance, \"{export}\", &results)?;"
                )
                .ok();
            } else if func.result.is_some() {
                writeln!(
                    out,
                    "    let value = <{ret}>::lift(&cx, &mut Flat::new(&results))?;"
                )
                .ok();
                writeln!(
                    out,
                    "    canon::post_return(cx.store(), instance, \"{export}\", &results)?;"
                )
                .ok();
            } else {
                writeln!(out, "    let value = ();").ok();
            }
            writeln!(out, "    Ok(value)\n}}\n").ok();
        }
    }
    Ok(out)
}

fn is_copy(t: &str) -> bool {
    matches!(t, "bool" | "u8" | "u32" | "u64" | "f64")
}

/// Whether `package` is a connector contract the flat ABI covers: it has
/// the `types`, `host`, `source`, `destination` and `transform` interfaces.
pub fn applies_to(resolve: &Resolve, package: PackageId) -> bool {
    let pkg = &resolve.packages[package];
    ["types", "host", "source", "destination", "transform"]
        .iter()
        .all(|n| pkg.interfaces.contains_key(*n))
}

/// Renders the flat ABI section of the protocol reference: every function
/// as a core import or export, with its core signature.
pub fn render_doc(resolve: &Resolve, package: PackageId) -> Result<String, Error> {
    let c = Contract::new(resolve, package)?;
    let mut md = String::new();
    md.push_str("## Flat ABI (WasmEdge-style core modules)\n\n");
    md.push_str("A connector built as a `wasm32-wasip1` core module (the WasmEdge way) speaks the same contract through plain core imports and exports, laid out by the component model's canonical ABI. The host's shim implements the imports and calls the exports, and is generated from this WIT; a guest uses `wit-bindgen`'s output built for `wasm32-wasip1`, which is the same canonical ABI lowering.\n\n");
    md.push_str("- Strings (UTF-8) and lists cross as a pointer and a length; records field by field; enums as their case index; `option`, `result` and variants as a discriminant followed by the payload slots of all cases joined.\n");
    md.push_str("- A function with more than one core result gets them in memory: an import takes an extra return pointer into caller memory; an export returns a pointer to its result, and the host calls `cabi_post_<export>` once it has read it.\n");
    md.push_str("- Memory the host hands to the guest (arguments of exports, lists inside import results) is allocated with the module's exported `cabi_realloc(old_ptr, old_size, align, new_size)`; the guest owns it afterwards.\n");
    md.push_str("- The module also exports `memory`, and `_initialize` if it has constructors to run; it may import WASI preview 1 (`wasi_snapshot_preview1`) and WasmEdge's socket extension.\n\n");
    writeln!(md, "### Imports (module `{}`)\n", c.qualified("host")).ok();
    md.push_str("| function | core signature |\n|---|---|\n");
    for func in c.resolve.interfaces[c.host].functions.values() {
        let (mut params, results, indirect) = c.signature(func)?;
        if indirect {
            params.push(Core::I32);
        }
        let res = if indirect { Vec::new() } else { results };
        writeln!(
            md,
            "| `{}` | {} |",
            func.name,
            core_sig(&params, &res, indirect)
        )
        .ok();
    }
    md.push('\n');
    for (iface_name, iface) in &c.exports {
        let qualified = c.qualified(iface_name);
        writeln!(md, "### Exports of a `{iface_name}`\n").ok();
        md.push_str("| export | core signature |\n|---|---|\n");
        for func in c.resolve.interfaces[*iface].functions.values() {
            let (params, results, indirect) = c.signature(func)?;
            let res = if indirect { vec![Core::I32] } else { results };
            writeln!(
                md,
                "| `{qualified}#{}` | {} |",
                func.name,
                core_sig(&params, &res, false)
            )
            .ok();
        }
        md.push('\n');
    }
    Ok(md)
}

fn core_sig(params: &[Core], results: &[Core], retptr: bool) -> String {
    let mut ps: Vec<String> = params.iter().map(|c| c.wat().to_string()).collect();
    if retptr {
        if let Some(last) = ps.last_mut() {
            *last = "retptr: i32".into();
        }
    }
    let mut text = format!("`({})", ps.join(", "));
    if !results.is_empty() {
        let rs: Vec<&str> = results.iter().map(|c| c.wat()).collect();
        text.push_str(&format!(" -> ({})", rs.join(", ")));
    }
    text.push('`');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> (Resolve, PackageId) {
        crate::load(&crate::wit_dir(&crate::repo_root())).expect("wit/ loads")
    }

    fn func<'a>(c: &'a Contract<'_>, iface: InterfaceId, name: &str) -> &'a Function {
        &c.resolve.interfaces[iface].functions[name]
    }

    #[test]
    fn signatures_follow_the_canonical_flattening() {
        let (resolve, package) = contract();
        let c = Contract::new(&resolve, package).unwrap();
        // log(enum, string, option<string>): 1 + 2 + (1 + 2), no results.
        let (params, results, indirect) = c.signature(func(&c, c.host, "log")).unwrap();
        assert_eq!(params, vec![Core::I32; 6]);
        assert!(results.is_empty() && !indirect);
        // emit-metric keeps its f64 in place.
        let (params, _, _) = c.signature(func(&c, c.host, "emit-metric")).unwrap();
        assert_eq!(params[2], Core::F64);
        // report-progress: two u64s.
        let (params, _, _) = c.signature(func(&c, c.host, "report-progress")).unwrap();
        assert_eq!(params, vec![Core::I64, Core::I64]);
        // write(write-request): string 2 + list 2 + write-mode (1 + the
        // joined payload of upsert's list (2) and merge's two lists (4)).
        let dest = c.exports[1].1;
        let (params, _, indirect) = c.signature(func(&c, dest, "write")).unwrap();
        assert_eq!(params, vec![Core::I32; 9]);
        assert!(indirect, "a result<record, error> returns through memory");
    }

    #[test]
    fn layouts_match_the_canonical_abi() {
        let (resolve, package) = contract();
        let c = Contract::new(&resolve, package).unwrap();
        let named = |n: &str| {
            let id = c.resolve.interfaces[c.types].types[n];
            Type::Id(c.target(id))
        };
        // enum (1) @0, code @4, message @12, retryable @20, option<string> @24.
        assert_eq!(c.size(&named("connector-error")), 36);
        assert_eq!(c.align(&named("connector-error")), 4);
        // u64 fields make stream-summary 8-aligned: string @0, u64s @8..32.
        assert_eq!(c.size(&named("stream-summary")), 32);
        assert_eq!(c.align(&named("stream-summary")), 8);
        assert_eq!(c.flat_of(&named("sync-mode")).unwrap(), vec![Core::I32]);
    }

    #[test]
    fn joins_widen_mixed_slots() {
        assert_eq!(Core::I32.join(Core::F32), Core::I32);
        assert_eq!(Core::I32.join(Core::I64), Core::I64);
        assert_eq!(Core::F32.join(Core::F64), Core::I64);
        assert_eq!(Core::F64.join(Core::F64), Core::F64);
    }
}
