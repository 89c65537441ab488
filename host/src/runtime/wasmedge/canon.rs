//! The host half of the flat ABI: the component model's canonical ABI
//! applied to a core module's linear memory.
//!
//! A value crosses the boundary either as flat core values (parameters, at
//! most 16) or in guest memory at a canonical layout (results, lists).
//! [`Canon`] is implemented here for the primitive and generic types and by
//! the generated `flat_abi.rs` for every record, enum and variant of the
//! WIT contract. Every pointer a guest hands over is bounds-checked; a bad
//! one is an error (the call traps), never a host crash.

use wasmtime::{
    AsContext, AsContextMut, Caller, Instance, Memory, StoreContextMut, TypedFunc, Val, ValType,
};

/// The result type of every flat ABI operation; errors become traps.
pub type Result<T> = wasmtime::Result<T>;

fn contract(message: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::msg(format!("flat ABI: {}", message.into()))
}

/// Access to one guest's memory and allocator during a call.
pub struct Cx<'a, T: 'static> {
    store: StoreContextMut<'a, T>,
    memory: Memory,
    realloc: Option<TypedFunc<(i32, i32, i32, i32), i32>>,
}

impl<'a, T: 'static> Cx<'a, T> {
    /// The context of a host function called by the guest.
    pub fn from_caller(caller: &'a mut Caller<'_, T>) -> Result<Self> {
        let memory = caller
            .get_export("memory")
            .and_then(|e| e.into_memory())
            .ok_or_else(|| contract("the module exports no `memory`"))?;
        let realloc = match caller
            .get_export("cabi_realloc")
            .and_then(|e| e.into_func())
        {
            Some(f) => Some(f.typed(&*caller)?),
            None => None,
        };
        Ok(Cx {
            store: caller.as_context_mut(),
            memory,
            realloc,
        })
    }

    /// The context for calling an export of `instance`.
    pub fn for_instance(mut store: StoreContextMut<'a, T>, instance: &Instance) -> Result<Self> {
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| contract("the module exports no `memory`"))?;
        let realloc = match instance.get_func(&mut store, "cabi_realloc") {
            Some(f) => Some(f.typed(&store)?),
            None => None,
        };
        Ok(Cx {
            store,
            memory,
            realloc,
        })
    }

    /// A context over a bare memory, without an allocator (tests).
    #[cfg(test)]
    pub(crate) fn for_memory(store: StoreContextMut<'a, T>, memory: Memory) -> Self {
        Cx {
            store,
            memory,
            realloc: None,
        }
    }

    /// The store's data (the host state).
    pub fn data_mut(&mut self) -> &mut T {
        self.store.data_mut()
    }

    /// The store, to call guest functions.
    pub fn store(&mut self) -> &mut StoreContextMut<'a, T> {
        &mut self.store
    }

    /// `len` bytes of guest memory at `at`.
    pub fn bytes(&self, at: u32, len: u32) -> Result<&[u8]> {
        let data = self.memory.data(self.store.as_context());
        let start = at as usize;
        start
            .checked_add(len as usize)
            .and_then(|end| data.get(start..end))
            .ok_or_else(|| {
                contract(format!(
                    "{len} bytes at {at:#x} are outside the guest memory"
                ))
            })
    }

    /// Fails unless `len` bytes at `at` lie in guest memory. Every
    /// compound value checks its whole extent first, so the offsets of its
    /// parts cannot overflow.
    pub fn check(&self, at: u32, len: u32) -> Result<()> {
        self.bytes(at, len).map(|_| ())
    }

    /// Writes `bytes` into guest memory at `at`.
    pub fn write(&mut self, at: u32, bytes: &[u8]) -> Result<()> {
        let data = self.memory.data_mut(self.store.as_context_mut());
        let start = at as usize;
        let slot = start
            .checked_add(bytes.len())
            .and_then(|end| data.get_mut(start..end))
            .ok_or_else(|| {
                contract(format!(
                    "{} bytes at {at:#x} are outside the guest memory",
                    bytes.len()
                ))
            })?;
        slot.copy_from_slice(bytes);
        Ok(())
    }

    /// Allocates `size` bytes aligned to `align` with the guest's exported
    /// `cabi_realloc`; the guest owns the block.
    pub fn alloc(&mut self, size: u32, align: u32) -> Result<u32> {
        let realloc = self
            .realloc
            .clone()
            .ok_or_else(|| contract("the module exports no `cabi_realloc`"))?;
        let ptr = realloc.call(&mut self.store, (0, 0, align as i32, size as i32))? as u32;
        if !ptr.is_multiple_of(align.max(1)) {
            return Err(contract(format!(
                "cabi_realloc returned {ptr:#x}, not aligned to {align}"
            )));
        }
        self.bytes(ptr, size)?;
        Ok(ptr)
    }

    fn array<const N: usize>(&self, at: u32) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(at, N as u32)?);
        Ok(out)
    }

    /// Reads a `u8`.
    pub fn read_u8(&self, at: u32) -> Result<u8> {
        Ok(self.array::<1>(at)?[0])
    }
    /// Reads a little-endian `u16`.
    pub fn read_u16(&self, at: u32) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(at)?))
    }
    /// Reads a little-endian `u32`.
    pub fn read_u32(&self, at: u32) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(at)?))
    }
    /// Reads a little-endian `u64`.
    pub fn read_u64(&self, at: u32) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(at)?))
    }
}

/// A discriminant read from memory or a flat value, checked against the
/// number of cases.
pub fn discriminant(value: u32, cases: u32, ty: &str) -> Result<u32> {
    if value < cases {
        Ok(value)
    } else {
        Err(contract(format!(
            "invalid discriminant {value} for `{ty}` ({cases} cases)"
        )))
    }
}

/// Reads a discriminant of `size` bytes (1, 2 or 4) at `at`.
pub fn load_discriminant<T>(cx: &Cx<'_, T>, at: u32, size: u32) -> Result<u32> {
    match size {
        1 => cx.read_u8(at).map(u32::from),
        2 => cx.read_u16(at).map(u32::from),
        _ => cx.read_u32(at),
    }
}

/// Writes a discriminant of `size` bytes (1, 2 or 4) at `at`.
pub fn store_discriminant<T>(cx: &mut Cx<'_, T>, at: u32, size: u32, value: u32) -> Result<()> {
    match size {
        1 => cx.write(at, &[value as u8]),
        2 => cx.write(at, &(value as u16).to_le_bytes()),
        _ => cx.write(at, &value.to_le_bytes()),
    }
}

/// Flat values being consumed in order.
pub struct Flat<'v> {
    vals: &'v [Val],
    at: usize,
}

impl<'v> Flat<'v> {
    /// Starts at the first value.
    pub fn new(vals: &'v [Val]) -> Self {
        Flat { vals, at: 0 }
    }

    fn next(&mut self) -> Result<&'v Val> {
        let v = self
            .vals
            .get(self.at)
            .ok_or_else(|| contract("too few flat values"))?;
        self.at += 1;
        Ok(v)
    }

    /// The next value as an `i32`.
    pub fn i32(&mut self) -> Result<i32> {
        self.next()?
            .i32()
            .ok_or_else(|| contract("expected an i32 flat value"))
    }

    /// The next value as an `i64`.
    pub fn i64(&mut self) -> Result<i64> {
        self.next()?
            .i64()
            .ok_or_else(|| contract("expected an i64 flat value"))
    }

    /// The next value as an `f64`.
    pub fn f64(&mut self) -> Result<f64> {
        self.next()?
            .f64()
            .ok_or_else(|| contract("expected an f64 flat value"))
    }

    /// The next `n` values.
    pub fn take(&mut self, n: usize) -> Result<&'v [Val]> {
        let end = self.at + n;
        let out = self
            .vals
            .get(self.at..end)
            .ok_or_else(|| contract("too few flat values"))?;
        self.at = end;
        Ok(out)
    }
}

/// The join of two flat types (canonical ABI: a variant's payload slots).
pub fn join(a: &ValType, b: &ValType) -> ValType {
    match (a, b) {
        (ValType::I32, ValType::I32) => ValType::I32,
        (ValType::F32, ValType::F32) => ValType::F32,
        (ValType::I64, ValType::I64) => ValType::I64,
        (ValType::F64, ValType::F64) => ValType::F64,
        (ValType::I32, ValType::F32) | (ValType::F32, ValType::I32) => ValType::I32,
        _ => ValType::I64,
    }
}

/// The joined payload types of cases with the given flat types.
pub fn joined(cases: &[Vec<ValType>]) -> Vec<ValType> {
    let mut out: Vec<ValType> = Vec::new();
    for case in cases {
        for (i, ty) in case.iter().enumerate() {
            match out.get_mut(i) {
                Some(slot) => *slot = join(slot, ty),
                None => out.push(ty.clone()),
            }
        }
    }
    out
}

fn zero(ty: &ValType) -> Val {
    match ty {
        ValType::I64 => Val::I64(0),
        ValType::F32 => Val::F32(0),
        ValType::F64 => Val::F64(0),
        _ => Val::I32(0),
    }
}

fn widen(v: &Val, to: &ValType) -> Val {
    match (v, to) {
        (Val::I32(x), ValType::I64) => Val::I64(i64::from(*x as u32)),
        (Val::F32(bits), ValType::I32) => Val::I32(*bits as i32),
        (Val::F32(bits), ValType::I64) => Val::I64(i64::from(*bits)),
        (Val::F64(bits), ValType::I64) => Val::I64(*bits as i64),
        (v, _) => *v,
    }
}

fn narrow(v: &Val, to: &ValType) -> Result<Val> {
    Ok(match (v, to) {
        (Val::I64(x), ValType::I32) => Val::I32(*x as i32),
        (Val::I32(x), ValType::F32) => Val::F32(*x as u32),
        (Val::I64(x), ValType::F32) => Val::F32(*x as u32),
        (Val::I64(x), ValType::F64) => Val::F64(*x as u64),
        (Val::I32(_), ValType::I32)
        | (Val::I64(_), ValType::I64)
        | (Val::F32(_), ValType::F32)
        | (Val::F64(_), ValType::F64) => *v,
        _ => {
            return Err(contract(
                "flat value of the wrong type in a variant payload",
            ))
        }
    })
}

/// Pushes one case's payload values widened to the joined slots, padded
/// with zeros.
pub fn push_joined(out: &mut Vec<Val>, payload: &[Val], slots: &[ValType]) {
    for (i, slot) in slots.iter().enumerate() {
        match payload.get(i) {
            Some(v) => out.push(widen(v, slot)),
            None => out.push(zero(slot)),
        }
    }
}

/// Narrows the joined payload values back to one case's flat types.
pub fn split_joined(slots: &[Val], case: &[ValType]) -> Result<Vec<Val>> {
    case.iter()
        .zip(slots)
        .map(|(ty, v)| narrow(v, ty))
        .collect()
}

/// Rounds `offset` up to `align`.
pub const fn align_to(offset: u32, align: u32) -> u32 {
    offset.div_ceil(align) * align
}

const fn max(a: u32, b: u32) -> u32 {
    if a > b {
        a
    } else {
        b
    }
}

/// A type with a canonical ABI representation.
pub trait Canon: Sized {
    /// Size in guest memory.
    const SIZE: u32;
    /// Alignment in guest memory.
    const ALIGN: u32;

    /// Appends the flat types of this type.
    fn flat_types(out: &mut Vec<ValType>);
    /// Lowers to flat values (allocating lists in the guest).
    fn lower<T>(&self, cx: &mut Cx<'_, T>, out: &mut Vec<Val>) -> Result<()>;
    /// Lifts from flat values.
    fn lift<T>(cx: &Cx<'_, T>, vals: &mut Flat<'_>) -> Result<Self>;
    /// Stores at `at` in guest memory (allocating lists in the guest).
    fn store<T>(&self, cx: &mut Cx<'_, T>, at: u32) -> Result<()>;
    /// Loads from `at` in guest memory.
    fn load<T>(cx: &Cx<'_, T>, at: u32) -> Result<Self>;

    /// Stores a list's elements from `at` (bytes override this to copy at
    /// once).
    fn store_list<T>(items: &[Self], cx: &mut Cx<'_, T>, at: u32) -> Result<()> {
        for (i, item) in items.iter().enumerate() {
            item.store(cx, at + i as u32 * Self::SIZE)?;
        }
        Ok(())
    }
    /// Loads `len` list elements from `at`.
    fn load_list<T>(cx: &Cx<'_, T>, at: u32, len: u32) -> Result<Vec<Self>> {
        let total = len
            .checked_mul(Self::SIZE)
            .ok_or_else(|| contract(format!("a list of {len} elements does not fit in memory")))?;
        cx.check(at, total)?;
        (0..len)
            .map(|i| Self::load(cx, at + i * Self::SIZE))
            .collect()
    }
}

/// The flat types of `C`.
pub fn flat_types_of<C: Canon>() -> Vec<ValType> {
    let mut out = Vec::new();
    C::flat_types(&mut out);
    out
}

impl Canon for () {
    const SIZE: u32 = 0;
    const ALIGN: u32 = 1;
    fn flat_types(_: &mut Vec<ValType>) {}
    fn lower<T>(&self, _: &mut Cx<'_, T>, _: &mut Vec<Val>) -> Result<()> {
        Ok(())
    }
    fn lift<T>(_: &Cx<'_, T>, _: &mut Flat<'_>) -> Result<Self> {
        Ok(())
    }
    fn store<T>(&self, _: &mut Cx<'_, T>, _: u32) -> Result<()> {
        Ok(())
    }
    fn load<T>(_: &Cx<'_, T>, _: u32) -> Result<Self> {
        Ok(())
    }
}

impl Canon for bool {
    const SIZE: u32 = 1;
    const ALIGN: u32 = 1;
    fn flat_types(out: &mut Vec<ValType>) {
        out.push(ValType::I32);
    }
    fn lower<T>(&self, _: &mut Cx<'_, T>, out: &mut Vec<Val>) -> Result<()> {
        out.push(Val::I32(i32::from(*self)));
        Ok(())
    }
    fn lift<T>(_: &Cx<'_, T>, vals: &mut Flat<'_>) -> Result<Self> {
        Ok(vals.i32()? != 0)
    }
    fn store<T>(&self, cx: &mut Cx<'_, T>, at: u32) -> Result<()> {
        cx.write(at, &[u8::from(*self)])
    }
    fn load<T>(cx: &Cx<'_, T>, at: u32) -> Result<Self> {
        Ok(cx.read_u8(at)? != 0)
    }
}

impl Canon for u8 {
    const SIZE: u32 = 1;
    const ALIGN: u32 = 1;
    fn flat_types(out: &mut Vec<ValType>) {
        out.push(ValType::I32);
    }
    fn lower<T>(&self, _: &mut Cx<'_, T>, out: &mut Vec<Val>) -> Result<()> {
        out.push(Val::I32(i32::from(*self)));
        Ok(())
    }
    fn lift<T>(_: &Cx<'_, T>, vals: &mut Flat<'_>) -> Result<Self> {
        Ok(vals.i32()? as u8)
    }
    fn store<T>(&self, cx: &mut Cx<'_, T>, at: u32) -> Result<()> {
        cx.write(at, &[*self])
    }
    fn load<T>(cx: &Cx<'_, T>, at: u32) -> Result<Self> {
        cx.read_u8(at)
    }
    fn store_list<T>(items: &[Self], cx: &mut Cx<'_, T>, at: u32) -> Result<()> {
        cx.write(at, items)
    }
    fn load_list<T>(cx: &Cx<'_, T>, at: u32, len: u32) -> Result<Vec<Self>> {
        Ok(cx.bytes(at, len)?.to_vec())
    }
}

impl Canon for u32 {
    const SIZE: u32 = 4;
    const ALIGN: u32 = 4;
    fn flat_types(out: &mut Vec<ValType>) {
        out.push(ValType::I32);
    }
    fn lower<T>(&self, _: &mut Cx<'_, T>, out: &mut Vec<Val>) -> Result<()> {
        out.push(Val::I32(*self as i32));
        Ok(())
    }
    fn lift<T>(_: &Cx<'_, T>, vals: &mut Flat<'_>) -> Result<Self> {
        Ok(vals.i32()? as u32)
    }
    fn store<T>(&self, cx: &mut Cx<'_, T>, at: u32) -> Result<()> {
        cx.write(at, &self.to_le_bytes())
    }
    fn load<T>(cx: &Cx<'_, T>, at: u32) -> Result<Self> {
        cx.read_u32(at)
    }
}

impl Canon for u64 {
    const SIZE: u32 = 8;
    const ALIGN: u32 = 8;
    fn flat_types(out: &mut Vec<ValType>) {
        out.push(ValType::I64);
    }
    fn lower<T>(&self, _: &mut Cx<'_, T>, out: &mut Vec<Val>) -> Result<()> {
        out.push(Val::I64(*self as i64));
        Ok(())
    }
    fn lift<T>(_: &Cx<'_, T>, vals: &mut Flat<'_>) -> Result<Self> {
        Ok(vals.i64()? as u64)
    }
    fn store<T>(&self, cx: &mut Cx<'_, T>, at: u32) -> Result<()> {
        cx.write(at, &self.to_le_bytes())
    }
    fn load<T>(cx: &Cx<'_, T>, at: u32) -> Result<Self> {
        cx.read_u64(at)
    }
}

impl Canon for f64 {
    const SIZE: u32 = 8;
    const ALIGN: u32 = 8;
    fn flat_types(out: &mut Vec<ValType>) {
        out.push(ValType::F64);
    }
    fn lower<T>(&self, _: &mut Cx<'_, T>, out: &mut Vec<Val>) -> Result<()> {
        out.push(Val::F64(self.to_bits()));
        Ok(())
    }
    fn lift<T>(_: &Cx<'_, T>, vals: &mut Flat<'_>) -> Result<Self> {
        vals.f64()
    }
    fn store<T>(&self, cx: &mut Cx<'_, T>, at: u32) -> Result<()> {
        cx.write(at, &self.to_bits().to_le_bytes())
    }
    fn load<T>(cx: &Cx<'_, T>, at: u32) -> Result<Self> {
        Ok(f64::from_bits(cx.read_u64(at)?))
    }
}

/// Copies a list into a fresh guest allocation; returns (pointer, length).
fn store_elements<C: Canon, T>(items: &[C], cx: &mut Cx<'_, T>) -> Result<(u32, u32)> {
    let len = u32::try_from(items.len()).map_err(|_| contract("list too long"))?;
    let bytes = len
        .checked_mul(C::SIZE)
        .ok_or_else(|| contract("list too long for the guest memory"))?;
    let ptr = cx.alloc(bytes, C::ALIGN)?;
    C::store_list(items, cx, ptr)?;
    Ok((ptr, len))
}

impl<C: Canon> Canon for Vec<C> {
    const SIZE: u32 = 8;
    const ALIGN: u32 = 4;
    fn flat_types(out: &mut Vec<ValType>) {
        out.extend([ValType::I32, ValType::I32]);
    }
    fn lower<T>(&self, cx: &mut Cx<'_, T>, out: &mut Vec<Val>) -> Result<()> {
        let (ptr, len) = store_elements(self, cx)?;
        out.extend([Val::I32(ptr as i32), Val::I32(len as i32)]);
        Ok(())
    }
    fn lift<T>(cx: &Cx<'_, T>, vals: &mut Flat<'_>) -> Result<Self> {
        let ptr = vals.i32()? as u32;
        let len = vals.i32()? as u32;
        C::load_list(cx, ptr, len)
    }
    fn store<T>(&self, cx: &mut Cx<'_, T>, at: u32) -> Result<()> {
        cx.check(at, 8)?;
        let (ptr, len) = store_elements(self, cx)?;
        cx.write(at, &ptr.to_le_bytes())?;
        cx.write(at + 4, &len.to_le_bytes())
    }
    fn load<T>(cx: &Cx<'_, T>, at: u32) -> Result<Self> {
        cx.check(at, 8)?;
        C::load_list(cx, cx.read_u32(at)?, cx.read_u32(at + 4)?)
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| contract("a string is not valid UTF-8"))
}

impl Canon for String {
    const SIZE: u32 = 8;
    const ALIGN: u32 = 4;
    fn flat_types(out: &mut Vec<ValType>) {
        out.extend([ValType::I32, ValType::I32]);
    }
    fn lower<T>(&self, cx: &mut Cx<'_, T>, out: &mut Vec<Val>) -> Result<()> {
        let (ptr, len) = store_elements(self.as_bytes(), cx)?;
        out.extend([Val::I32(ptr as i32), Val::I32(len as i32)]);
        Ok(())
    }
    fn lift<T>(cx: &Cx<'_, T>, vals: &mut Flat<'_>) -> Result<Self> {
        utf8(Vec::<u8>::lift(cx, vals)?)
    }
    fn store<T>(&self, cx: &mut Cx<'_, T>, at: u32) -> Result<()> {
        cx.check(at, 8)?;
        let (ptr, len) = store_elements(self.as_bytes(), cx)?;
        cx.write(at, &ptr.to_le_bytes())?;
        cx.write(at + 4, &len.to_le_bytes())
    }
    fn load<T>(cx: &Cx<'_, T>, at: u32) -> Result<Self> {
        utf8(Vec::<u8>::load(cx, at)?)
    }
}

impl<C: Canon> Canon for Option<C> {
    const ALIGN: u32 = max(1, C::ALIGN);
    const SIZE: u32 = align_to(align_to(1, C::ALIGN) + C::SIZE, Self::ALIGN);
    fn flat_types(out: &mut Vec<ValType>) {
        out.push(ValType::I32);
        C::flat_types(out);
    }
    fn lower<T>(&self, cx: &mut Cx<'_, T>, out: &mut Vec<Val>) -> Result<()> {
        match self {
            None => {
                out.push(Val::I32(0));
                push_joined(out, &[], &flat_types_of::<C>());
            }
            Some(v) => {
                out.push(Val::I32(1));
                v.lower(cx, out)?;
            }
        }
        Ok(())
    }
    fn lift<T>(cx: &Cx<'_, T>, vals: &mut Flat<'_>) -> Result<Self> {
        let disc = discriminant(vals.i32()? as u32, 2, "option")?;
        let payload = vals.take(flat_types_of::<C>().len())?;
        if disc == 0 {
            return Ok(None);
        }
        C::lift(cx, &mut Flat::new(payload)).map(Some)
    }
    fn store<T>(&self, cx: &mut Cx<'_, T>, at: u32) -> Result<()> {
        cx.check(at, Self::SIZE)?;
        match self {
            None => cx.write(at, &[0]),
            Some(v) => {
                cx.write(at, &[1])?;
                v.store(cx, at + align_to(1, C::ALIGN))
            }
        }
    }
    fn load<T>(cx: &Cx<'_, T>, at: u32) -> Result<Self> {
        cx.check(at, Self::SIZE)?;
        match discriminant(u32::from(cx.read_u8(at)?), 2, "option")? {
            0 => Ok(None),
            _ => C::load(cx, at + align_to(1, C::ALIGN)).map(Some),
        }
    }
}

impl<A: Canon, E: Canon> Canon for std::result::Result<A, E> {
    const ALIGN: u32 = max(1, max(A::ALIGN, E::ALIGN));
    const SIZE: u32 = align_to(
        align_to(1, max(A::ALIGN, E::ALIGN)) + max(A::SIZE, E::SIZE),
        Self::ALIGN,
    );
    fn flat_types(out: &mut Vec<ValType>) {
        out.push(ValType::I32);
        out.extend(joined(&[flat_types_of::<A>(), flat_types_of::<E>()]));
    }
    fn lower<T>(&self, cx: &mut Cx<'_, T>, out: &mut Vec<Val>) -> Result<()> {
        let slots = joined(&[flat_types_of::<A>(), flat_types_of::<E>()]);
        let mut payload = Vec::new();
        match self {
            Ok(v) => {
                out.push(Val::I32(0));
                v.lower(cx, &mut payload)?;
            }
            Err(e) => {
                out.push(Val::I32(1));
                e.lower(cx, &mut payload)?;
            }
        }
        push_joined(out, &payload, &slots);
        Ok(())
    }
    fn lift<T>(cx: &Cx<'_, T>, vals: &mut Flat<'_>) -> Result<Self> {
        let slots = joined(&[flat_types_of::<A>(), flat_types_of::<E>()]);
        let disc = discriminant(vals.i32()? as u32, 2, "result")?;
        let payload = vals.take(slots.len())?;
        if disc == 0 {
            let vals = split_joined(payload, &flat_types_of::<A>())?;
            A::lift(cx, &mut Flat::new(&vals)).map(Ok)
        } else {
            let vals = split_joined(payload, &flat_types_of::<E>())?;
            E::lift(cx, &mut Flat::new(&vals)).map(Err)
        }
    }
    fn store<T>(&self, cx: &mut Cx<'_, T>, at: u32) -> Result<()> {
        cx.check(at, Self::SIZE)?;
        let payload = at + align_to(1, max(A::ALIGN, E::ALIGN));
        match self {
            Ok(v) => {
                cx.write(at, &[0])?;
                v.store(cx, payload)
            }
            Err(e) => {
                cx.write(at, &[1])?;
                e.store(cx, payload)
            }
        }
    }
    fn load<T>(cx: &Cx<'_, T>, at: u32) -> Result<Self> {
        cx.check(at, Self::SIZE)?;
        let payload = at + align_to(1, max(A::ALIGN, E::ALIGN));
        match discriminant(u32::from(cx.read_u8(at)?), 2, "result")? {
            0 => A::load(cx, payload).map(Ok),
            _ => E::load(cx, payload).map(Err),
        }
    }
}

/// The export `name` of `instance`, or an error naming it.
pub fn export<T: 'static>(
    mut store: impl AsContextMut<Data = T>,
    instance: &Instance,
    name: &str,
) -> Result<wasmtime::Func> {
    instance
        .get_func(&mut store, name)
        .ok_or_else(|| contract(format!("the module does not export `{name}`")))
}

/// Calls `cabi_post_<name>` with the export's results, if the module has
/// one, so the guest frees what it returned.
pub fn post_return<T: 'static>(
    mut store: impl AsContextMut<Data = T>,
    instance: &Instance,
    name: &str,
    results: &[Val],
) -> Result<()> {
    if let Some(post) = instance.get_func(&mut store, &format!("cabi_post_{name}")) {
        post.call(&mut store, results, &mut [])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_follow_the_canonical_abi() {
        assert_eq!(<Option<String>>::SIZE, 12);
        assert_eq!(<Option<String>>::ALIGN, 4);
        assert_eq!(<Option<u64>>::SIZE, 16);
        assert_eq!(<std::result::Result<(), String>>::SIZE, 12);
        assert_eq!(<std::result::Result<u64, String>>::SIZE, 16);
        assert_eq!(<Vec<u8>>::SIZE, 8);
    }

    #[test]
    fn hostile_pointers_are_errors_not_panics() {
        use crate::runtime::bindings::types::{ConnectorError, Frame, StreamDescriptor};
        let engine = wasmtime::Engine::default();
        let mut store = wasmtime::Store::new(&engine, ());
        let memory = Memory::new(&mut store, wasmtime::MemoryType::new(1, None)).expect("memory");
        let mut cx = Cx::for_memory(store.as_context_mut(), memory);
        // A list header claiming 2^32 - 1 descriptors at the end of memory.
        cx.write(0, &[0xf0, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff])
            .unwrap();
        assert!(<Vec<StreamDescriptor>>::load(&cx, 0).is_err());
        assert!(<Vec<u8>>::load(&cx, 0).is_err());
        for at in [u32::MAX, u32::MAX - 3, 65_530] {
            assert!(<ConnectorError>::load(&cx, at).is_err());
            assert!(<Option<Frame>>::load(&cx, at).is_err());
            assert!(<std::result::Result<(), ConnectorError>>::load(&cx, at).is_err());
        }
        let err = ConnectorError {
            category: crate::runtime::bindings::types::ErrorCategory::Data,
            code: String::new(),
            message: String::new(),
            retryable: false,
            details: None,
        };
        assert!(Err::<(), _>(err).store(&mut cx, u32::MAX - 8).is_err());
        // An invalid discriminant is refused, not trusted.
        cx.write(100, &[7]).unwrap();
        assert!(<Option<Frame>>::load(&cx, 100).is_err());
        let vals = [Val::I32(9), Val::I32(0), Val::I32(0)];
        assert!(<Option<String>>::lift(&cx, &mut Flat::new(&vals)).is_err());
    }

    #[test]
    fn joins_widen_to_the_common_type() {
        let j = joined(&[vec![ValType::I32, ValType::I32], vec![ValType::I64]]);
        assert!(matches!(j[..], [ValType::I64, ValType::I32]));
        let mut out = Vec::new();
        push_joined(&mut out, &[Val::I32(-1)], &j);
        assert_eq!(out[0].i64(), Some(0xffff_ffff));
        assert_eq!(out[1].i32(), Some(0));
        let back = split_joined(&out, &[ValType::I32]).unwrap();
        assert_eq!(back[0].i32(), Some(-1));
    }
}
