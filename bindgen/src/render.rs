//! Markdown rendering of a resolved WIT package, and WIT syntax for types
//! and function signatures.
//!
//! Everything iterates the resolver's arenas and index maps, which keep
//! source order, so the output is deterministic.

use wit_parser::{
    Docs, Function, FunctionKind, Handle, InterfaceId, PackageId, Resolve, Type, TypeDefKind,
    TypeId, TypeOwner, WorldId, WorldItem, WorldKey,
};

use crate::{Error, GENERATED_NOTICE};

/// Renders `ty` in WIT syntax: primitives by keyword, named types by their
/// WIT name, anonymous types structurally (`list<u8>`, `option<string>`,
/// `result<_, connector-error>`, `tuple<u32, string>`...).
pub fn render_type(resolve: &Resolve, ty: &Type) -> Result<String, Error> {
    let text = match ty {
        Type::Bool => "bool",
        Type::U8 => "u8",
        Type::U16 => "u16",
        Type::U32 => "u32",
        Type::U64 => "u64",
        Type::S8 => "s8",
        Type::S16 => "s16",
        Type::S32 => "s32",
        Type::S64 => "s64",
        Type::F32 => "f32",
        Type::F64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::ErrorContext => "error-context",
        Type::Id(id) => {
            let def = &resolve.types[*id];
            return match &def.name {
                Some(name) => Ok(name.clone()),
                None => render_structure(resolve, &def.kind),
            };
        }
    };
    Ok(text.to_string())
}

/// Renders the right-hand side of an anonymous (or aliased) type.
fn render_structure(resolve: &Resolve, kind: &TypeDefKind) -> Result<String, Error> {
    let ty = |t: &Type| render_type(resolve, t);
    let text = match kind {
        TypeDefKind::Option(t) => format!("option<{}>", ty(t)?),
        TypeDefKind::Result(r) => match (&r.ok, &r.err) {
            (None, None) => "result".to_string(),
            (Some(ok), None) => format!("result<{}>", ty(ok)?),
            (None, Some(err)) => format!("result<_, {}>", ty(err)?),
            (Some(ok), Some(err)) => format!("result<{}, {}>", ty(ok)?, ty(err)?),
        },
        TypeDefKind::List(t) => format!("list<{}>", ty(t)?),
        TypeDefKind::FixedLengthList(t, len) => format!("list<{}, {len}>", ty(t)?),
        TypeDefKind::Map(key, value) => format!("map<{}, {}>", ty(key)?, ty(value)?),
        TypeDefKind::Tuple(tuple) => {
            let items = tuple.types.iter().map(ty).collect::<Result<Vec<_>, _>>()?;
            format!("tuple<{}>", items.join(", "))
        }
        TypeDefKind::Handle(Handle::Own(resource)) => ty(&Type::Id(*resource))?,
        TypeDefKind::Handle(Handle::Borrow(resource)) => {
            format!("borrow<{}>", ty(&Type::Id(*resource))?)
        }
        TypeDefKind::Future(None) => "future".to_string(),
        TypeDefKind::Future(Some(t)) => format!("future<{}>", ty(t)?),
        TypeDefKind::Stream(None) => "stream".to_string(),
        TypeDefKind::Stream(Some(t)) => format!("stream<{}>", ty(t)?),
        TypeDefKind::Type(t) => ty(t)?,
        TypeDefKind::Record(_)
        | TypeDefKind::Variant(_)
        | TypeDefKind::Enum(_)
        | TypeDefKind::Flags(_)
        | TypeDefKind::Resource
        | TypeDefKind::Unknown => {
            return Err(Error::Unsupported(format!(
                "anonymous {} type",
                kind.as_str()
            )))
        }
    };
    Ok(text)
}

/// Renders a function's signature in WIT syntax, without the trailing `;`,
/// e.g. `emit-batch: func(stream-name: string, ipc: list<u8>) -> result<_, connector-error>`.
///
/// Resource functions render as they are written inside their `resource`
/// block: methods without their implicit `self`, constructors as
/// `constructor(...)`.
pub fn render_signature(resolve: &Resolve, func: &Function) -> Result<String, Error> {
    let skip = match func.kind {
        FunctionKind::Method(_) | FunctionKind::AsyncMethod(_) => 1,
        _ => 0,
    };
    let params = func
        .params
        .iter()
        .skip(skip)
        .map(|param| {
            Ok(format!(
                "{}: {}",
                param.name,
                render_type(resolve, &param.ty)?
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?
        .join(", ");
    let result = match (&func.kind, &func.result) {
        (_, None) => String::new(),
        (FunctionKind::Constructor(resource), Some(Type::Id(id)))
            if resolve.types[*id].kind == TypeDefKind::Handle(Handle::Own(*resource)) =>
        {
            String::new()
        }
        (_, Some(ty)) => format!(" -> {}", render_type(resolve, ty)?),
    };
    let keyword = match func.kind {
        FunctionKind::Constructor(_) => return Ok(format!("constructor({params}){result}")),
        FunctionKind::Freestanding | FunctionKind::Method(_) => "func",
        FunctionKind::AsyncFreestanding | FunctionKind::AsyncMethod(_) => "async func",
        FunctionKind::Static(_) => "static func",
        FunctionKind::AsyncStatic(_) => "static async func",
    };
    Ok(format!("{}: {keyword}({params}){result}", func.item_name()))
}

/// Renders the protocol reference of `package`.
pub(crate) fn protocol(resolve: &Resolve, package: PackageId) -> Result<String, Error> {
    let pkg = &resolve.packages[package];
    let mut md = Markdown::default();
    md.block("# Rapidbyte connector protocol");
    md.block(format!("> {GENERATED_NOTICE}"));
    md.block(format!("Package `{}`.", pkg.name));
    md.docs(&pkg.docs);

    md.block("## Contents");
    let mut contents = vec!["Interfaces:".to_string(), String::new()];
    for (name, id) in &pkg.interfaces {
        contents.push(list_item(
            &interface_link(name),
            &resolve.interfaces[*id].docs,
        ));
    }
    md.block(contents.join("\n"));
    let mut contents = vec!["Worlds:".to_string(), String::new()];
    for (name, id) in &pkg.worlds {
        contents.push(list_item(&world_link(name), &resolve.worlds[*id].docs));
    }
    md.block(contents.join("\n"));

    for (name, id) in &pkg.interfaces {
        interface(&mut md, resolve, package, name, *id)?;
    }
    for (name, id) in &pkg.worlds {
        world(&mut md, resolve, package, name, *id)?;
    }
    if crate::flat::applies_to(resolve, package) {
        md.block(crate::flat::render_doc(resolve, package)?.trim_end());
    }
    Ok(md.finish())
}

fn interface(
    md: &mut Markdown,
    resolve: &Resolve,
    package: PackageId,
    name: &str,
    id: InterfaceId,
) -> Result<(), Error> {
    let iface = &resolve.interfaces[id];
    md.block(format!("## Interface `{name}`"));
    md.block(format!("`{}`", resolve.id_of_name(package, name)));
    md.docs(&iface.docs);

    // Types brought in with `use`, grouped by the interface they come from.
    let mut uses: Vec<(TypeOwner, Vec<String>)> = Vec::new();
    let mut defined = Vec::new();
    for (local, ty) in &iface.types {
        match used_type(resolve, *ty) {
            Some(target) => {
                let original = resolve.types[target].name.as_deref().unwrap_or(local);
                let item = if original == local {
                    format!("`{local}`")
                } else {
                    format!("`{original}` as `{local}`")
                };
                let owner = resolve.types[target].owner;
                match uses.iter_mut().find(|(o, _)| *o == owner) {
                    Some((_, items)) => items.push(item),
                    None => uses.push((owner, vec![item])),
                }
            }
            None => defined.push(*ty),
        }
    }
    for (owner, items) in &uses {
        md.block(format!(
            "Uses {} from {}.",
            items.join(", "),
            owner_ref(resolve, package, *owner)
        ));
    }

    if !defined.is_empty() {
        md.block("### Types");
        for ty in defined {
            type_def(md, resolve, ty)?;
        }
    }
    if !iface.functions.is_empty() {
        md.block("### Functions");
        for func in iface.functions.values() {
            function(md, resolve, func)?;
        }
    }
    Ok(())
}

/// If `id` is a type brought in with `use` (an alias of a type owned by
/// another interface or world), returns the type it refers to.
fn used_type(resolve: &Resolve, id: TypeId) -> Option<TypeId> {
    let def = &resolve.types[id];
    match def.kind {
        TypeDefKind::Type(Type::Id(target)) if resolve.types[target].owner != def.owner => {
            Some(target)
        }
        _ => None,
    }
}

fn type_def(md: &mut Markdown, resolve: &Resolve, id: TypeId) -> Result<(), Error> {
    let def = &resolve.types[id];
    let name = def
        .name
        .as_deref()
        .ok_or_else(|| Error::Unsupported(format!("anonymous {} definition", def.kind.as_str())))?;
    match &def.kind {
        TypeDefKind::Record(record) => {
            md.block(format!("#### record `{name}`"));
            md.docs(&def.docs);
            let mut table = vec![
                "| Field | Type | Description |".to_string(),
                "| --- | --- | --- |".to_string(),
            ];
            for field in &record.fields {
                table.push(format!(
                    "| `{}` | `{}` | {} |",
                    field.name,
                    render_type(resolve, &field.ty)?,
                    cell(&field.docs)
                ));
            }
            md.block(table.join("\n"));
        }
        TypeDefKind::Variant(variant) => {
            md.block(format!("#### variant `{name}`"));
            md.docs(&def.docs);
            let mut table = vec![
                "| Case | Payload | Description |".to_string(),
                "| --- | --- | --- |".to_string(),
            ];
            for case in &variant.cases {
                let payload = match &case.ty {
                    Some(ty) => format!("`{}`", render_type(resolve, ty)?),
                    None => String::new(),
                };
                table.push(format!(
                    "| `{}` | {payload} | {} |",
                    case.name,
                    cell(&case.docs)
                ));
            }
            md.block(table.join("\n"));
        }
        TypeDefKind::Enum(enum_) => {
            md.block(format!("#### enum `{name}`"));
            md.docs(&def.docs);
            let mut table = vec![
                "| Case | Description |".to_string(),
                "| --- | --- |".to_string(),
            ];
            for case in &enum_.cases {
                table.push(format!("| `{}` | {} |", case.name, cell(&case.docs)));
            }
            md.block(table.join("\n"));
        }
        TypeDefKind::Flags(flags) => {
            md.block(format!("#### flags `{name}`"));
            md.docs(&def.docs);
            let mut table = vec![
                "| Flag | Description |".to_string(),
                "| --- | --- |".to_string(),
            ];
            for flag in &flags.flags {
                table.push(format!("| `{}` | {} |", flag.name, cell(&flag.docs)));
            }
            md.block(table.join("\n"));
        }
        TypeDefKind::Resource => {
            md.block(format!("#### resource `{name}`"));
            md.docs(&def.docs);
        }
        kind => {
            md.block(format!("#### type `{name}`"));
            md.block(format!("Alias of `{}`.", render_structure(resolve, kind)?));
            md.docs(&def.docs);
        }
    }
    Ok(())
}

fn function(md: &mut Markdown, resolve: &Resolve, func: &Function) -> Result<(), Error> {
    let heading = match func.kind {
        FunctionKind::Constructor(resource) => {
            format!(
                "#### constructor `{}`",
                render_type(resolve, &Type::Id(resource))?
            )
        }
        ref kind => match kind.resource() {
            Some(resource) => format!(
                "#### func `{}.{}`",
                render_type(resolve, &Type::Id(resource))?,
                func.item_name()
            ),
            None => format!("#### func `{}`", func.item_name()),
        },
    };
    md.block(heading);
    md.block(format!(
        "```wit\n{};\n```",
        render_signature(resolve, func)?
    ));
    md.docs(&func.docs);
    Ok(())
}

fn world(
    md: &mut Markdown,
    resolve: &Resolve,
    package: PackageId,
    name: &str,
    id: WorldId,
) -> Result<(), Error> {
    let world = &resolve.worlds[id];
    md.block(format!("## World `{name}`"));
    md.block(format!("`{}`", resolve.id_of_name(package, name)));
    md.docs(&world.docs);

    // Interfaces of the world, to tell which ones another one depends on.
    let members: Vec<InterfaceId> = world
        .imports
        .values()
        .chain(world.exports.values())
        .filter_map(|item| match item {
            WorldItem::Interface { id, .. } => Some(*id),
            _ => None,
        })
        .collect();

    let mut types = Vec::new();
    for (title, items) in [("Imports", &world.imports), ("Exports", &world.exports)] {
        if items.is_empty() {
            continue;
        }
        md.block(format!("### {title}"));
        let mut list = Vec::new();
        for (key, item) in items {
            list.push(world_item(
                resolve, package, id, &members, key, item, &mut types,
            )?);
        }
        md.block(list.join("\n"));
    }
    if !types.is_empty() {
        md.block("### Types");
        for ty in types {
            type_def(md, resolve, ty)?;
        }
    }
    Ok(())
}

/// Renders one import or export of a world as a list item. Types the world
/// defines itself are pushed to `types` to be rendered in full afterwards.
fn world_item(
    resolve: &Resolve,
    package: PackageId,
    world: WorldId,
    members: &[InterfaceId],
    key: &WorldKey,
    item: &WorldItem,
    types: &mut Vec<TypeId>,
) -> Result<String, Error> {
    let line = match item {
        WorldItem::Interface { id, docs, .. } => {
            let iface = &resolve.interfaces[*id];
            let mut label = match key {
                WorldKey::Interface(_) => {
                    format!("interface {}", interface_ref(resolve, package, *id))
                }
                WorldKey::Name(name) => match iface.name {
                    Some(_) => format!(
                        "interface `{name}`: {}",
                        interface_ref(resolve, package, *id)
                    ),
                    None => format!("interface `{name}` (inline)"),
                },
            };
            let dependents: Vec<String> = members
                .iter()
                .filter(|other| **other != *id && depends_on(resolve, **other, *id))
                .map(|other| match &resolve.interfaces[*other].name {
                    Some(name) => format!("`{name}`"),
                    None => "an inline interface".to_string(),
                })
                .collect();
            if !dependents.is_empty() {
                label.push_str(&format!(" (used by {})", dependents.join(", ")));
            }
            let docs = if docs.is_empty() { &iface.docs } else { docs };
            list_item(&label, docs)
        }
        WorldItem::Function(func) => list_item(
            &format!("func `{}`", render_signature(resolve, func)?),
            &func.docs,
        ),
        WorldItem::Type { id, .. } => {
            let def = &resolve.types[*id];
            let name = def.name.as_deref().unwrap_or_else(|| def.kind.as_str());
            match used_type(resolve, *id) {
                Some(target) => format!(
                    "- type `{name}` from {}",
                    owner_ref(resolve, package, resolve.types[target].owner)
                ),
                None => {
                    if def.owner == TypeOwner::World(world) {
                        types.push(*id);
                    }
                    format!("- type `{name}`")
                }
            }
        }
    };
    Ok(line)
}

/// Whether interface `user` uses a type owned by interface `used`.
fn depends_on(resolve: &Resolve, user: InterfaceId, used: InterfaceId) -> bool {
    resolve.interfaces[user].types.values().any(|ty| {
        used_type(resolve, *ty)
            .is_some_and(|target| resolve.types[target].owner == TypeOwner::Interface(used))
    })
}

/// A reference to whatever owns a type: a link for interfaces of this
/// package, the full name for others.
fn owner_ref(resolve: &Resolve, package: PackageId, owner: TypeOwner) -> String {
    match owner {
        TypeOwner::Interface(id) => format!("interface {}", interface_ref(resolve, package, id)),
        TypeOwner::World(id) => format!("world `{}`", resolve.worlds[id].name),
        TypeOwner::None => "no interface".to_string(),
    }
}

fn interface_ref(resolve: &Resolve, package: PackageId, id: InterfaceId) -> String {
    let iface = &resolve.interfaces[id];
    match (&iface.name, iface.package) {
        (Some(name), Some(owner)) if owner == package => interface_link(name),
        (Some(name), Some(owner)) => format!("`{}`", resolve.id_of_name(owner, name)),
        _ => "an inline interface".to_string(),
    }
}

fn interface_link(name: &str) -> String {
    format!("[`{name}`](#{})", anchor(&format!("Interface `{name}`")))
}

fn world_link(name: &str) -> String {
    format!("[`{name}`](#{})", anchor(&format!("World `{name}`")))
}

/// The anchor GitHub gives a heading: lowercase, punctuation other than `-`
/// and `_` dropped, spaces turned into `-`.
fn anchor(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// A Markdown list item: `label`, then the first paragraph of `docs`.
fn list_item(label: &str, docs: &Docs) -> String {
    let summary = paragraphs(docs).into_iter().next();
    match summary {
        Some(summary) => format!("- {label}: {summary}"),
        None => format!("- {label}"),
    }
}

/// Docs as a single table cell: lines joined, paragraphs separated by
/// `<br><br>`, pipes escaped.
fn cell(docs: &Docs) -> String {
    paragraphs(docs).join("<br><br>").replace('|', "\\|")
}

/// The paragraphs of a doc comment, each on one line.
fn paragraphs(docs: &Docs) -> Vec<String> {
    let Some(contents) = &docs.contents else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in contents.lines().map(str::trim) {
        if line.is_empty() {
            if !current.is_empty() {
                out.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(current.join(" "));
    }
    out
}

/// A Markdown document built from blocks separated by one blank line.
#[derive(Default)]
struct Markdown {
    out: String,
}

impl Markdown {
    /// Appends a block (heading, paragraph, list, table, code fence).
    fn block(&mut self, text: impl AsRef<str>) {
        let text = text.as_ref().trim_end();
        if text.is_empty() {
            return;
        }
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    /// Appends a doc comment verbatim (it is Markdown already), if any.
    fn docs(&mut self, docs: &Docs) {
        if let Some(contents) = &docs.contents {
            let lines: Vec<&str> = contents.lines().map(str::trim_end).collect();
            self.block(lines.join("\n").trim());
        }
    }

    fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIT: &str = r#"
        package test:demo@1.0.0;

        interface shapes {
            record point { x: s32, y: s32 }
            variant shape { circle(u32), dot }
            enum color { red, green }
            flags perms { read, write }
            resource handle {
                constructor(name: string);
                rename: func(name: string) -> result<_, string>;
                open: static func(id: u64) -> handle;
            }
            type bytes = list<u8>;
            type pair = tuple<point, option<color>>;
            type id = u64;
        }

        interface api {
            use shapes.{point, color as colour, handle};
            f: func(a: u8, b: s64, c: f32, d: f64, e: bool, g: char, h: string);
            g: func(p: list<point>) -> result<option<point>, string>;
            h: func(c: colour) -> result;
            i: func(x: tuple<u16, s16, u32, s32>) -> result<u8>;
            j: func(x: borrow<handle>, y: list<u8, 4>) -> list<list<handle>>;
        }

        world demo {
            import api;
            export tick: func(n: u32) -> bool;
        }
    "#;

    fn resolve() -> (Resolve, PackageId) {
        let mut resolve = Resolve::default();
        let package = resolve.push_str("demo.wit", WIT).expect("test WIT parses");
        (resolve, package)
    }

    fn signatures(resolve: &Resolve, package: PackageId, iface: &str) -> Vec<String> {
        let id = resolve.packages[package].interfaces[iface];
        resolve.interfaces[id]
            .functions
            .values()
            .map(|f| render_signature(resolve, f).expect("renders"))
            .collect()
    }

    #[test]
    fn renders_types_back_to_wit_syntax() {
        let (resolve, package) = resolve();
        assert_eq!(
            signatures(&resolve, package, "api"),
            [
                "f: func(a: u8, b: s64, c: f32, d: f64, e: bool, g: char, h: string)",
                "g: func(p: list<point>) -> result<option<point>, string>",
                "h: func(c: colour) -> result",
                "i: func(x: tuple<u16, s16, u32, s32>) -> result<u8>",
                "j: func(x: borrow<handle>, y: list<u8, 4>) -> list<list<handle>>",
            ]
        );
    }

    #[test]
    fn renders_resource_functions_as_written_in_the_resource() {
        let (resolve, package) = resolve();
        assert_eq!(
            signatures(&resolve, package, "shapes"),
            [
                "constructor(name: string)",
                "rename: func(name: string) -> result<_, string>",
                "open: static func(id: u64) -> handle",
            ]
        );
    }

    #[test]
    fn renders_every_kind_of_definition() {
        let (resolve, package) = resolve();
        let md = protocol(&resolve, package).expect("renders");
        for expected in [
            "#### record `point`",
            "| `x` | `s32` |  |",
            "#### variant `shape`",
            "| `circle` | `u32` |  |",
            "#### enum `color`",
            "#### flags `perms`",
            "#### resource `handle`",
            "#### type `bytes`\n\nAlias of `list<u8>`.",
            "Alias of `tuple<point, option<color>>`.",
            "Alias of `u64`.",
            "Uses `point`, `color` as `colour`, `handle` from interface [`shapes`](#interface-shapes).",
            "#### func `handle.rename`",
            "#### constructor `handle`",
            "- interface [`shapes`](#interface-shapes) (used by `api`)",
            "- func `tick: func(n: u32) -> bool`",
        ] {
            assert!(md.contains(expected), "missing {expected:?} in:\n{md}");
        }
    }

    #[test]
    fn anchors_follow_github_slugs() {
        assert_eq!(anchor("Interface `types`"), "interface-types");
        assert_eq!(anchor("World `source-connector`"), "world-source-connector");
    }
}
