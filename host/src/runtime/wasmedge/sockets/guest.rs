//! Bounds-checked access to a guest's linear memory; out-of-range
//! pointers are `FAULT`, never a host panic.

use super::Errno;
use std::ops::Range;

/// The guest's memory for the length of one call.
pub(super) struct Mem<'a>(pub(super) &'a mut [u8]);

impl Mem<'_> {
    /// The byte range `ptr..ptr + len`, if it is inside memory.
    pub(super) fn range(&self, ptr: u32, len: u32) -> Result<Range<usize>, Errno> {
        let start = ptr as usize;
        let end = start.checked_add(len as usize).ok_or(Errno::FAULT)?;
        if end > self.0.len() {
            return Err(Errno::FAULT);
        }
        Ok(start..end)
    }

    pub(super) fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], Errno> {
        let r = self.range(ptr, len)?;
        Ok(&self.0[r])
    }

    pub(super) fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Errno> {
        let r = self.range(ptr, len)?;
        Ok(&mut self.0[r])
    }

    fn array<const N: usize>(&self, ptr: u32) -> Result<[u8; N], Errno> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.slice(ptr, N as u32)?);
        Ok(out)
    }

    pub(super) fn u8(&self, ptr: u32) -> Result<u8, Errno> {
        Ok(self.array::<1>(ptr)?[0])
    }

    pub(super) fn u16(&self, ptr: u32) -> Result<u16, Errno> {
        Ok(u16::from_le_bytes(self.array(ptr)?))
    }

    pub(super) fn u32(&self, ptr: u32) -> Result<u32, Errno> {
        Ok(u32::from_le_bytes(self.array(ptr)?))
    }

    pub(super) fn u64(&self, ptr: u32) -> Result<u64, Errno> {
        Ok(u64::from_le_bytes(self.array(ptr)?))
    }

    pub(super) fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), Errno> {
        let len = u32::try_from(bytes.len()).map_err(|_| Errno::FAULT)?;
        self.slice_mut(ptr, len)?.copy_from_slice(bytes);
        Ok(())
    }

    pub(super) fn put_u8(&mut self, ptr: u32, v: u8) -> Result<(), Errno> {
        self.write(ptr, &[v])
    }

    pub(super) fn put_u16(&mut self, ptr: u32, v: u16) -> Result<(), Errno> {
        self.write(ptr, &v.to_le_bytes())
    }

    pub(super) fn put_u32(&mut self, ptr: u32, v: u32) -> Result<(), Errno> {
        self.write(ptr, &v.to_le_bytes())
    }

    pub(super) fn put_u64(&mut self, ptr: u32, v: u64) -> Result<(), Errno> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// The first non-empty buffer of an iovec array (`{ptr, len}`
    /// pairs of u32), checked to lie in memory; `None` if all are
    /// empty. Reads and writes use only this one, as a short read or
    /// write is always allowed.
    pub(super) fn first_iovec(&self, iovs: u32, count: u32) -> Result<Option<(u32, u32)>, Errno> {
        if count > 1024 {
            return Err(Errno::INVAL);
        }
        for i in 0..count {
            let at = at(iovs, i.checked_mul(8).ok_or(Errno::FAULT)?)?;
            let (ptr, len) = (
                self.u32(at)?,
                self.u32(at.checked_add(4).ok_or(Errno::FAULT)?)?,
            );
            if len > 0 {
                self.range(ptr, len)?;
                return Ok(Some((ptr, len)));
            }
        }
        Ok(None)
    }
}

/// `ptr + offset`, or `FAULT` past 4 GiB.
pub(super) fn at(ptr: u32, offset: u32) -> Result<u32, Errno> {
    ptr.checked_add(offset).ok_or(Errno::FAULT)
}
