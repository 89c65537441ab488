//! WASI errno values, as the socket extension returns them.

use std::io;

/// A WASI errno, in `wasi_snapshot_preview1` numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u16);

#[allow(missing_docs)]
impl Errno {
    pub const SUCCESS: Errno = Errno(0);
    pub const ACCES: Errno = Errno(2);
    pub const ADDRINUSE: Errno = Errno(3);
    pub const ADDRNOTAVAIL: Errno = Errno(4);
    pub const AFNOSUPPORT: Errno = Errno(5);
    pub const AGAIN: Errno = Errno(6);
    pub const ALREADY: Errno = Errno(7);
    pub const BADF: Errno = Errno(8);
    pub const CONNABORTED: Errno = Errno(13);
    pub const CONNREFUSED: Errno = Errno(14);
    pub const CONNRESET: Errno = Errno(15);
    pub const FAULT: Errno = Errno(21);
    pub const HOSTUNREACH: Errno = Errno(23);
    pub const INPROGRESS: Errno = Errno(26);
    pub const INTR: Errno = Errno(27);
    pub const INVAL: Errno = Errno(28);
    pub const IO: Errno = Errno(29);
    pub const ISCONN: Errno = Errno(30);
    pub const MFILE: Errno = Errno(33);
    pub const MSGSIZE: Errno = Errno(35);
    pub const NETDOWN: Errno = Errno(38);
    pub const NETRESET: Errno = Errno(39);
    pub const NETUNREACH: Errno = Errno(40);
    pub const NFILE: Errno = Errno(41);
    pub const NOBUFS: Errno = Errno(42);
    pub const NOMEM: Errno = Errno(48);
    pub const NOPROTOOPT: Errno = Errno(50);
    pub const NOTCONN: Errno = Errno(53);
    pub const NOTSOCK: Errno = Errno(57);
    pub const NOTSUP: Errno = Errno(58);
    pub const PERM: Errno = Errno(63);
    pub const PIPE: Errno = Errno(64);
    pub const TIMEDOUT: Errno = Errno(73);
}

impl Errno {
    /// The value a WASI function returns.
    pub(super) fn code(r: Result<(), Errno>) -> i32 {
        i32::from(r.err().unwrap_or(Errno::SUCCESS).0)
    }

    /// The WASI errno for a host I/O error.
    pub(super) fn of(e: &io::Error) -> Errno {
        if let Some(code) = e.raw_os_error() {
            return match code {
                c if c == libc::EAGAIN || c == libc::EWOULDBLOCK => Errno::AGAIN,
                libc::EACCES => Errno::ACCES,
                libc::EPERM => Errno::PERM,
                libc::EADDRINUSE => Errno::ADDRINUSE,
                libc::EADDRNOTAVAIL => Errno::ADDRNOTAVAIL,
                libc::EAFNOSUPPORT => Errno::AFNOSUPPORT,
                libc::EALREADY => Errno::ALREADY,
                libc::EBADF => Errno::BADF,
                libc::ECONNABORTED => Errno::CONNABORTED,
                libc::ECONNREFUSED => Errno::CONNREFUSED,
                libc::ECONNRESET => Errno::CONNRESET,
                libc::EHOSTUNREACH => Errno::HOSTUNREACH,
                libc::EINPROGRESS => Errno::INPROGRESS,
                libc::EINTR => Errno::INTR,
                libc::EINVAL => Errno::INVAL,
                libc::EISCONN => Errno::ISCONN,
                libc::EMFILE => Errno::MFILE,
                libc::EMSGSIZE => Errno::MSGSIZE,
                libc::ENETDOWN => Errno::NETDOWN,
                libc::ENETRESET => Errno::NETRESET,
                libc::ENETUNREACH => Errno::NETUNREACH,
                libc::ENFILE => Errno::NFILE,
                libc::ENOBUFS => Errno::NOBUFS,
                libc::ENOMEM => Errno::NOMEM,
                libc::ENOPROTOOPT => Errno::NOPROTOOPT,
                libc::ENOTCONN => Errno::NOTCONN,
                libc::ENOTSOCK => Errno::NOTSOCK,
                libc::EOPNOTSUPP => Errno::NOTSUP,
                libc::EPIPE => Errno::PIPE,
                libc::ETIMEDOUT => Errno::TIMEDOUT,
                _ => Errno::IO,
            };
        }
        match e.kind() {
            io::ErrorKind::WouldBlock => Errno::AGAIN,
            io::ErrorKind::TimedOut => Errno::TIMEDOUT,
            io::ErrorKind::ConnectionRefused => Errno::CONNREFUSED,
            io::ErrorKind::ConnectionReset => Errno::CONNRESET,
            io::ErrorKind::NotConnected => Errno::NOTCONN,
            io::ErrorKind::InvalidInput => Errno::INVAL,
            io::ErrorKind::PermissionDenied => Errno::ACCES,
            _ => Errno::IO,
        }
    }
}
