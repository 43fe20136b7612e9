//! Windows: whether a process still runs, and who this process runs as.

use windows_sys::Win32::Foundation::{CloseHandle, STILL_ACTIVE};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
};

/// Whether process `pid` exists and has not exited. One we may not open is taken as running
/// (its page is then left alone, never removed from under it).
pub fn alive(pid: u32) -> bool {
    // SAFETY: plain Win32 calls on a handle we own and close.
    unsafe {
        let handle = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if handle.is_null() {
            return std::io::Error::last_os_error().raw_os_error() == Some(5);
        }
        let mut code = 0u32;
        let ok = GetExitCodeProcess(handle, &mut code) != 0;
        CloseHandle(handle);
        !ok || code == STILL_ACTIVE as u32
    }
}

/// The name of the account this process runs as, from the system (`GetUserNameW`), never from
/// `%USERNAME%`, which a cleared or planted environment changes.
pub fn account_name() -> Option<String> {
    use windows_sys::Win32::System::WindowsProgramming::GetUserNameW;
    // UNLEN (256) plus the terminating NUL.
    let mut buf = [0u16; 257];
    let mut len = buf.len() as u32;
    // SAFETY: `buf` holds `len` wide characters; the call writes at most that many.
    if unsafe { GetUserNameW(buf.as_mut_ptr(), &mut len) } == 0 {
        // On failure `len` is the size needed, not a length in `buf`.
        return None;
    }
    // On success `len` counts the NUL too.
    let end = (len as usize).saturating_sub(1).min(buf.len());
    let name = String::from_utf16_lossy(&buf[..end]);
    (!name.is_empty()).then_some(name)
}
