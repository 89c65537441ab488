//! The guest half of the flat ABI's runtime: lowering and lifting values
//! in this module's own memory, following the component model's canonical
//! ABI, for the bindings generated from `wit/` (`bindings.rs`).
//!
//! Ownership: memory the host fills for us (export arguments, lists in
//! import results) was allocated with [`realloc`] and becomes ours; memory
//! we fill for the host (export results) is freed by [`free_returned`]
//! when the host calls the export's `cabi_post_` function.

use std::alloc::{self, Layout};
use std::cell::RefCell;

/// A core value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlatTy {
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `f32`
    F32,
    /// `f64`
    F64,
}

/// A core value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FlatVal {
    /// `i32`
    I32(i32),
    /// `i64`
    I64(i64),
    /// `f32`
    F32(f32),
    /// `f64`
    F64(f64),
}

impl FlatVal {
    /// As an `i32` (the bits of an `f32`, the low half of an `i64`).
    pub fn i32(self) -> i32 {
        match self {
            FlatVal::I32(v) => v,
            FlatVal::I64(v) => v as i32,
            FlatVal::F32(v) => v.to_bits() as i32,
            FlatVal::F64(v) => v.to_bits() as i32,
        }
    }
    /// As an `i64`.
    pub fn i64(self) -> i64 {
        match self {
            FlatVal::I32(v) => i64::from(v as u32),
            FlatVal::I64(v) => v,
            FlatVal::F32(v) => i64::from(v.to_bits()),
            FlatVal::F64(v) => v.to_bits() as i64,
        }
    }
    /// As an `f32`.
    pub fn f32(self) -> f32 {
        match self {
            FlatVal::F32(v) => v,
            other => f32::from_bits(other.i32() as u32),
        }
    }
    /// As an `f64`.
    pub fn f64(self) -> f64 {
        match self {
            FlatVal::F64(v) => v,
            other => f64::from_bits(other.i64() as u64),
        }
    }
    fn to(self, ty: FlatTy) -> FlatVal {
        match ty {
            FlatTy::I32 => FlatVal::I32(self.i32()),
            FlatTy::I64 => FlatVal::I64(self.i64()),
            FlatTy::F32 => FlatVal::F32(self.f32()),
            FlatTy::F64 => FlatVal::F64(self.f64()),
        }
    }
}

impl From<i32> for FlatVal {
    fn from(v: i32) -> Self {
        FlatVal::I32(v)
    }
}
impl From<i64> for FlatVal {
    fn from(v: i64) -> Self {
        FlatVal::I64(v)
    }
}
impl From<f32> for FlatVal {
    fn from(v: f32) -> Self {
        FlatVal::F32(v)
    }
}
impl From<f64> for FlatVal {
    fn from(v: f64) -> Self {
        FlatVal::F64(v)
    }
}

/// Flat values being consumed in order.
pub struct Flat<'v> {
    vals: &'v [FlatVal],
    at: usize,
}

impl<'v> Flat<'v> {
    /// Starts at the first value.
    pub fn new(vals: &'v [FlatVal]) -> Self {
        Flat { vals, at: 0 }
    }
    fn next(&mut self) -> FlatVal {
        let v = self.vals.get(self.at).copied().unwrap_or(FlatVal::I32(0));
        self.at += 1;
        v
    }
    /// The next value as an `i32`.
    pub fn i32(&mut self) -> i32 {
        self.next().i32()
    }
    /// The next value as an `i64`.
    pub fn i64(&mut self) -> i64 {
        self.next().i64()
    }
    /// The next value as an `f64`.
    pub fn f64(&mut self) -> f64 {
        self.next().f64()
    }
    /// The next `n` values.
    pub fn take(&mut self, n: usize) -> &'v [FlatVal] {
        let start = self.at.min(self.vals.len());
        let end = (self.at + n).min(self.vals.len());
        self.at += n;
        &self.vals[start..end]
    }
}

/// Pushes one case's payload widened to the joined slots, zero-padded.
pub fn push_joined(out: &mut Vec<FlatVal>, payload: &[FlatVal], slots: &[FlatTy]) {
    for (i, slot) in slots.iter().enumerate() {
        let v = payload.get(i).copied().unwrap_or(FlatVal::I64(0));
        out.push(v.to(*slot));
    }
}

/// Narrows joined payload slots back to one case's flat types.
pub fn split_joined(slots: &[FlatVal], case: &[FlatTy]) -> Vec<FlatVal> {
    case.iter().zip(slots).map(|(ty, v)| v.to(*ty)).collect()
}

/// Aborts on a discriminant the host should never send.
pub fn invalid_discriminant(ty: &str) -> ! {
    panic!("flat ABI: invalid discriminant for `{ty}` from the host")
}

/// Reads a discriminant of `size` bytes.
///
/// # Safety
/// `at` must point to `size` readable bytes.
pub unsafe fn load_discriminant(at: *const u8, size: usize) -> u32 {
    match size {
        1 => u32::from(*at),
        2 => u32::from((at as *const u16).read_unaligned()),
        _ => (at as *const u32).read_unaligned(),
    }
}

/// Writes a discriminant of `size` bytes.
///
/// # Safety
/// `at` must point to `size` writable bytes.
pub unsafe fn store_discriminant(at: *mut u8, size: usize, value: u32) {
    match size {
        1 => *at = value as u8,
        2 => (at as *mut u16).write_unaligned(value as u16),
        _ => (at as *mut u32).write_unaligned(value),
    }
}

/// Lowers borrowed bytes (a string or `list<u8>`) as pointer and length,
/// without copying: valid while `bytes` lives.
pub fn lower_bytes(bytes: &[u8], out: &mut Vec<FlatVal>) {
    out.push(FlatVal::I32(bytes.as_ptr() as usize as i32));
    out.push(FlatVal::I32(bytes.len() as i32));
}

/// Lowers a borrowed `option<string>`.
pub fn lower_opt_str(value: Option<&str>, out: &mut Vec<FlatVal>) {
    match value {
        None => out.extend([FlatVal::I32(0), FlatVal::I32(0), FlatVal::I32(0)]),
        Some(s) => {
            out.push(FlatVal::I32(1));
            lower_bytes(s.as_bytes(), out);
        }
    }
}

/// The allocator the host calls (exported as `cabi_realloc`).
///
/// # Safety
/// Called by the host with the canonical ABI's contract: `old` is null or
/// a block of `old_size` bytes aligned to `align` from this function.
pub unsafe fn realloc(old: *mut u8, old_size: usize, align: usize, new_size: usize) -> *mut u8 {
    let align = align.max(1);
    if new_size == 0 {
        if old_size != 0 {
            alloc::dealloc(old, Layout::from_size_align_unchecked(old_size, align));
        }
        return align as *mut u8;
    }
    let layout = match Layout::from_size_align(new_size, align) {
        Ok(l) => l,
        Err(_) => std::process::abort(),
    };
    let ptr = if old_size == 0 {
        alloc::alloc(layout)
    } else {
        alloc::realloc(
            old,
            Layout::from_size_align_unchecked(old_size, align),
            new_size,
        )
    };
    if ptr.is_null() {
        alloc::handle_alloc_error(layout);
    }
    ptr
}

/// An aligned buffer an import writes its result into.
#[repr(C, align(8))]
pub struct RetArea<const N: usize>([u8; N]);

impl<const N: usize> RetArea<N> {
    /// A zeroed area.
    pub fn new() -> Self {
        RetArea([0; N])
    }
    /// Its address.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr()
    }
}

impl<const N: usize> Default for RetArea<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Bytes of the static area exports return their results in.
pub const EXPORT_RET_AREA: usize = 64;

struct ExportArea(std::cell::UnsafeCell<RetArea<EXPORT_RET_AREA>>);
// SAFETY: a wasm32-wasip1 module runs on one thread.
unsafe impl Sync for ExportArea {}
static EXPORT_AREA: ExportArea =
    ExportArea(std::cell::UnsafeCell::new(RetArea([0; EXPORT_RET_AREA])));

/// The static area an export stores its result in; valid until the next
/// export call.
pub fn export_ret_area() -> *mut u8 {
    EXPORT_AREA.0.get() as *mut u8
}

thread_local! {
    static RETURNED: RefCell<Vec<(*mut u8, Layout)>> = const { RefCell::new(Vec::new()) };
}

/// Frees every block allocated for the last export result (the
/// `cabi_post_` functions call this).
pub fn free_returned() {
    let blocks = RETURNED.with(|r| std::mem::take(&mut *r.borrow_mut()));
    for (ptr, layout) in blocks {
        // SAFETY: each block was allocated with this layout by `alloc_returned`.
        unsafe { alloc::dealloc(ptr, layout) };
    }
}

/// Allocates a block for an export result, freed by [`free_returned`].
fn alloc_returned(size: usize, align: usize) -> *mut u8 {
    if size == 0 {
        return align as *mut u8;
    }
    let layout = match Layout::from_size_align(size, align) {
        Ok(l) => l,
        Err(_) => std::process::abort(),
    };
    // SAFETY: size is non-zero.
    let ptr = unsafe { alloc::alloc(layout) };
    if ptr.is_null() {
        alloc::handle_alloc_error(layout);
    }
    RETURNED.with(|r| r.borrow_mut().push((ptr, layout)));
    ptr
}

const fn align_to(offset: usize, align: usize) -> usize {
    offset.div_ceil(align) * align
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// A type with a canonical ABI representation.
pub trait Canon: Sized {
    /// Size in memory.
    const SIZE: usize;
    /// Alignment in memory.
    const ALIGN: usize;
    /// Appends the flat types.
    fn flat_types(out: &mut Vec<FlatTy>);
    /// Lowers to flat values that borrow `self` (no allocation).
    fn lower(&self, out: &mut Vec<FlatVal>);
    /// Lifts from flat values, taking ownership of host-allocated memory.
    ///
    /// # Safety
    /// The values must describe a valid value laid out by the host.
    unsafe fn lift(vals: &mut Flat<'_>) -> Self;
    /// Stores at `at`, allocating lists for the host to read.
    ///
    /// # Safety
    /// `at` must point to `SIZE` writable bytes aligned to `ALIGN`.
    unsafe fn store(&self, at: *mut u8);
    /// Loads from `at`, taking ownership of host-allocated lists.
    ///
    /// # Safety
    /// `at` must hold a valid value laid out by the host.
    unsafe fn load(at: *const u8) -> Self;

    /// Stores list elements from `at`.
    ///
    /// # Safety
    /// `at` must have room for `items.len()` elements.
    unsafe fn store_list(items: &[Self], at: *mut u8) {
        for (i, item) in items.iter().enumerate() {
            item.store(at.add(i * Self::SIZE));
        }
    }
    /// Loads `len` elements from `at` and frees the block.
    ///
    /// # Safety
    /// `at` must be a host-filled block from `realloc` of `len` elements.
    unsafe fn load_list(at: *mut u8, len: usize) -> Vec<Self> {
        let out = (0..len)
            .map(|i| Self::load(at.add(i * Self::SIZE)))
            .collect();
        if len > 0 && Self::SIZE > 0 {
            alloc::dealloc(
                at,
                Layout::from_size_align_unchecked(len * Self::SIZE, Self::ALIGN),
            );
        }
        out
    }
}

fn flat_types_of<C: Canon>() -> Vec<FlatTy> {
    let mut out = Vec::new();
    C::flat_types(&mut out);
    out
}

fn joined(a: &[FlatTy], b: &[FlatTy]) -> Vec<FlatTy> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if x == y => *x,
            (Some(FlatTy::I32), Some(FlatTy::F32)) | (Some(FlatTy::F32), Some(FlatTy::I32)) => {
                FlatTy::I32
            }
            (Some(x), None) | (None, Some(x)) => *x,
            _ => FlatTy::I64,
        })
        .collect()
}

impl Canon for () {
    const SIZE: usize = 0;
    const ALIGN: usize = 1;
    fn flat_types(_: &mut Vec<FlatTy>) {}
    fn lower(&self, _: &mut Vec<FlatVal>) {}
    unsafe fn lift(_: &mut Flat<'_>) -> Self {}
    unsafe fn store(&self, _: *mut u8) {}
    unsafe fn load(_: *const u8) -> Self {}
}

macro_rules! scalar {
    ($t:ty, $size:expr, $flat:ident, $to:expr, $from:expr) => {
        impl Canon for $t {
            const SIZE: usize = $size;
            const ALIGN: usize = $size;
            fn flat_types(out: &mut Vec<FlatTy>) {
                out.push(FlatTy::$flat);
            }
            fn lower(&self, out: &mut Vec<FlatVal>) {
                #[allow(clippy::redundant_closure_call)]
                out.push(($to)(*self));
            }
            unsafe fn lift(vals: &mut Flat<'_>) -> Self {
                #[allow(clippy::redundant_closure_call)]
                ($from)(vals.next())
            }
            unsafe fn store(&self, at: *mut u8) {
                (at as *mut $t).write_unaligned(*self);
            }
            unsafe fn load(at: *const u8) -> Self {
                (at as *const $t).read_unaligned()
            }
        }
    };
}

scalar!(
    u32,
    4,
    I32,
    |v: u32| FlatVal::I32(v as i32),
    |f: FlatVal| f.i32() as u32
);
scalar!(
    u64,
    8,
    I64,
    |v: u64| FlatVal::I64(v as i64),
    |f: FlatVal| f.i64() as u64
);
scalar!(f64, 8, F64, FlatVal::F64, |f: FlatVal| f.f64());

impl Canon for bool {
    const SIZE: usize = 1;
    const ALIGN: usize = 1;
    fn flat_types(out: &mut Vec<FlatTy>) {
        out.push(FlatTy::I32);
    }
    fn lower(&self, out: &mut Vec<FlatVal>) {
        out.push(FlatVal::I32(i32::from(*self)));
    }
    unsafe fn lift(vals: &mut Flat<'_>) -> Self {
        vals.i32() != 0
    }
    unsafe fn store(&self, at: *mut u8) {
        *at = u8::from(*self);
    }
    unsafe fn load(at: *const u8) -> Self {
        *at != 0
    }
}

impl Canon for u8 {
    const SIZE: usize = 1;
    const ALIGN: usize = 1;
    fn flat_types(out: &mut Vec<FlatTy>) {
        out.push(FlatTy::I32);
    }
    fn lower(&self, out: &mut Vec<FlatVal>) {
        out.push(FlatVal::I32(i32::from(*self)));
    }
    unsafe fn lift(vals: &mut Flat<'_>) -> Self {
        vals.i32() as u8
    }
    unsafe fn store(&self, at: *mut u8) {
        *at = *self;
    }
    unsafe fn load(at: *const u8) -> Self {
        *at
    }
    unsafe fn store_list(items: &[Self], at: *mut u8) {
        std::ptr::copy_nonoverlapping(items.as_ptr(), at, items.len());
    }
    unsafe fn load_list(at: *mut u8, len: usize) -> Vec<Self> {
        if len == 0 {
            return Vec::new();
        }
        // The host allocated exactly `len` bytes aligned to 1 through
        // `realloc`: the layout of a Vec<u8> of that capacity.
        Vec::from_raw_parts(at, len, len)
    }
}

/// Copies a list into a block freed with the export's post-return.
unsafe fn store_elements<C: Canon>(items: &[C]) -> (i32, i32) {
    let ptr = alloc_returned(items.len() * C::SIZE, C::ALIGN);
    C::store_list(items, ptr);
    (ptr as usize as i32, items.len() as i32)
}

impl<C: Canon> Canon for Vec<C> {
    const SIZE: usize = 8;
    const ALIGN: usize = 4;
    fn flat_types(out: &mut Vec<FlatTy>) {
        out.extend([FlatTy::I32, FlatTy::I32]);
    }
    fn lower(&self, out: &mut Vec<FlatVal>) {
        // Lowering borrows the elements in place, which matches the
        // canonical layout only for one-byte elements; the generator
        // refuses import parameters of any other list type.
        assert!(
            C::SIZE == 1 && std::mem::size_of::<C>() == 1,
            "flat ABI: only lists of bytes are lowered in place"
        );
        out.push(FlatVal::I32(self.as_ptr() as usize as i32));
        out.push(FlatVal::I32(self.len() as i32));
    }
    unsafe fn lift(vals: &mut Flat<'_>) -> Self {
        let ptr = vals.i32() as u32 as usize as *mut u8;
        let len = vals.i32() as u32 as usize;
        C::load_list(ptr, len)
    }
    unsafe fn store(&self, at: *mut u8) {
        let (ptr, len) = store_elements(self);
        (at as *mut i32).write_unaligned(ptr);
        (at.add(4) as *mut i32).write_unaligned(len);
    }
    unsafe fn load(at: *const u8) -> Self {
        let ptr = (at as *const i32).read_unaligned() as u32 as usize as *mut u8;
        let len = (at.add(4) as *const i32).read_unaligned() as u32 as usize;
        C::load_list(ptr, len)
    }
}

fn utf8(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

impl Canon for String {
    const SIZE: usize = 8;
    const ALIGN: usize = 4;
    fn flat_types(out: &mut Vec<FlatTy>) {
        out.extend([FlatTy::I32, FlatTy::I32]);
    }
    fn lower(&self, out: &mut Vec<FlatVal>) {
        lower_bytes(self.as_bytes(), out);
    }
    unsafe fn lift(vals: &mut Flat<'_>) -> Self {
        utf8(Vec::<u8>::lift(vals))
    }
    unsafe fn store(&self, at: *mut u8) {
        let (ptr, len) = store_elements(self.as_bytes());
        (at as *mut i32).write_unaligned(ptr);
        (at.add(4) as *mut i32).write_unaligned(len);
    }
    unsafe fn load(at: *const u8) -> Self {
        utf8(Vec::<u8>::load(at))
    }
}

impl<C: Canon> Canon for Option<C> {
    const ALIGN: usize = max(1, C::ALIGN);
    const SIZE: usize = align_to(align_to(1, C::ALIGN) + C::SIZE, Self::ALIGN);
    fn flat_types(out: &mut Vec<FlatTy>) {
        out.push(FlatTy::I32);
        C::flat_types(out);
    }
    fn lower(&self, out: &mut Vec<FlatVal>) {
        match self {
            None => {
                out.push(FlatVal::I32(0));
                push_joined(out, &[], &flat_types_of::<C>());
            }
            Some(v) => {
                out.push(FlatVal::I32(1));
                v.lower(out);
            }
        }
    }
    unsafe fn lift(vals: &mut Flat<'_>) -> Self {
        let disc = vals.i32();
        let payload = vals.take(flat_types_of::<C>().len());
        match disc {
            0 => None,
            _ => Some(C::lift(&mut Flat::new(payload))),
        }
    }
    unsafe fn store(&self, at: *mut u8) {
        match self {
            None => *at = 0,
            Some(v) => {
                *at = 1;
                v.store(at.add(align_to(1, C::ALIGN)));
            }
        }
    }
    unsafe fn load(at: *const u8) -> Self {
        match *at {
            0 => None,
            _ => Some(C::load(at.add(align_to(1, C::ALIGN)))),
        }
    }
}

impl<A: Canon, E: Canon> Canon for Result<A, E> {
    const ALIGN: usize = max(1, max(A::ALIGN, E::ALIGN));
    const SIZE: usize = align_to(
        align_to(1, max(A::ALIGN, E::ALIGN)) + max(A::SIZE, E::SIZE),
        Self::ALIGN,
    );
    fn flat_types(out: &mut Vec<FlatTy>) {
        out.push(FlatTy::I32);
        out.extend(joined(&flat_types_of::<A>(), &flat_types_of::<E>()));
    }
    fn lower(&self, out: &mut Vec<FlatVal>) {
        let slots = joined(&flat_types_of::<A>(), &flat_types_of::<E>());
        let mut payload = Vec::new();
        match self {
            Ok(v) => {
                out.push(FlatVal::I32(0));
                v.lower(&mut payload);
            }
            Err(e) => {
                out.push(FlatVal::I32(1));
                e.lower(&mut payload);
            }
        }
        push_joined(out, &payload, &slots);
    }
    unsafe fn lift(vals: &mut Flat<'_>) -> Self {
        let slots = joined(&flat_types_of::<A>(), &flat_types_of::<E>());
        let disc = vals.i32();
        let payload = vals.take(slots.len());
        match disc {
            0 => Ok(A::lift(&mut Flat::new(&split_joined(
                payload,
                &flat_types_of::<A>(),
            )))),
            _ => Err(E::lift(&mut Flat::new(&split_joined(
                payload,
                &flat_types_of::<E>(),
            )))),
        }
    }
    unsafe fn store(&self, at: *mut u8) {
        let payload = at.add(align_to(1, max(A::ALIGN, E::ALIGN)));
        match self {
            Ok(v) => {
                *at = 0;
                v.store(payload);
            }
            Err(e) => {
                *at = 1;
                e.store(payload);
            }
        }
    }
    unsafe fn load(at: *const u8) -> Self {
        let payload = at.add(align_to(1, max(A::ALIGN, E::ALIGN)));
        match *at {
            0 => Ok(A::load(payload)),
            _ => Err(E::load(payload)),
        }
    }
}
