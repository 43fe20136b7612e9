//! Naming the process that holds an address, for the "port in use" message, through the
//! `listeners` crate (Linux, macOS, Windows, the BSDs) rather than per-OS code of our own.

use std::net::SocketAddr;

use listeners::{Listener, Protocol, SocketState};

/// `pid 4242 (node)` for the process listening where `addr` could not be bound, where the OS
/// lets us see it: not a process of another user on Linux, nor anything when the OS refuses
/// the lookup.
pub fn find(addr: SocketAddr) -> Option<String> {
    let listeners = listeners::get_all().ok()?;
    holder_among(listeners.iter(), addr, std::process::id())
}

/// The listener among `all` that holds `addr`, described; never process `me` (the caller may
/// still hold the port's other loopback address while it asks).
fn holder_among<'a>(
    all: impl Iterator<Item = &'a Listener>,
    addr: SocketAddr,
    me: u32,
) -> Option<String> {
    all.filter(|l| {
        // Only a TCP socket in LISTEN: a connection that merely has the port as its local end
        // (an accepted one, or one in TIME_WAIT) is not what refused the bind.
        l.protocol == Protocol::TCP && l.state == SocketState::Listen && l.process.pid != me
    })
    .filter_map(|l| closeness(l.socket, addr).map(|rank| (rank, l)))
    // The closest match; the lowest pid among equals, for a stable answer.
    .min_by_key(|(rank, l)| (*rank, l.process.pid))
    .map(|(rank, l)| {
        let who = describe(l.process.pid, &l.process.name);
        if rank == DUAL_STACK {
            // No OS tells another process's IPV6_V6ONLY, so this one may hold only IPv6
            // while someone we cannot see holds the IPv4 address: say what is known.
            format!("{who}, which listens on {}", l.socket)
        } else {
            who
        }
    })
}

/// [`closeness`] of the IPv6 wildcard to an IPv4 address: it holds it only when dual-stack.
const DUAL_STACK: u8 = 2;

/// How directly a listener on `socket` holds `wanted`: its very address (0), the wildcard of
/// the same family (1), or the IPv6 wildcard, which holds IPv4 too when dual-stack (2). A
/// listener on any other address shares only the port number and holds nothing of ours.
fn closeness(socket: SocketAddr, wanted: SocketAddr) -> Option<u8> {
    if socket.port() != wanted.port() {
        return None;
    }
    // An IPv4-mapped IPv6 listener is its IPv4 address.
    let ip = socket.ip().to_canonical();
    if ip == wanted.ip() {
        Some(0)
    } else if ip.is_unspecified() && ip.is_ipv4() == wanted.is_ipv4() {
        Some(1)
    } else if ip.is_unspecified() && ip.is_ipv6() {
        Some(DUAL_STACK)
    } else {
        None
    }
}

/// `pid 4242 (node)`. Any local user picks their process's name, so it is shown only after
/// terminal sequences, control and invisible characters are taken out.
fn describe(pid: u32, name: &str) -> String {
    let name = crate::error::sanitize(name, &[]);
    let name = if name.trim().is_empty() { "?" } else { &name };
    format!("pid {pid} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(pid: u32, name: &str, socket: &str) -> Listener {
        Listener {
            process: listeners::Process {
                pid,
                name: name.into(),
                path: String::new(),
            },
            socket: socket.parse().unwrap(),
            protocol: Protocol::TCP,
            state: SocketState::Listen,
        }
    }

    fn holder(all: &[Listener], wanted: &str) -> Option<String> {
        holder_among(all.iter(), wanted.parse().unwrap(), 1)
    }

    #[test]
    fn a_hostile_process_name_is_shown_without_its_terminal_sequences() {
        let shown = describe(4242, "\u{1b}]0;owned\u{7}no\u{1b}[2Jde\r\n");
        assert_eq!(shown, "pid 4242 (node)");
        assert_eq!(describe(7, "\u{1b}[31m"), "pid 7 (?)");
    }

    #[test]
    fn the_holder_is_the_listener_on_the_address_that_failed() {
        // A listener on another address with the same port number, even with a lower pid,
        // did not refuse the bind.
        let all = [
            listener(10, "innocent", "127.0.0.2:4000"),
            listener(11, "v6-server", "[::1]:4000"),
            listener(20, "real", "127.0.0.1:4000"),
        ];
        assert_eq!(holder(&all, "127.0.0.1:4000").unwrap(), "pid 20 (real)");
        assert_eq!(holder(&all, "[::1]:4000").unwrap(), "pid 11 (v6-server)");
        assert_eq!(holder(&all[..2], "127.0.0.1:4000"), None);
    }

    #[test]
    fn wildcard_and_mapped_listeners_hold_the_loopback_address() {
        let wildcard = [listener(30, "any4", "0.0.0.0:4000")];
        assert_eq!(
            holder(&wildcard, "127.0.0.1:4000").unwrap(),
            "pid 30 (any4)"
        );
        assert_eq!(holder(&wildcard, "[::1]:4000"), None);
        let dual = [listener(31, "any6", "[::]:4000")];
        assert_eq!(holder(&dual, "[::1]:4000").unwrap(), "pid 31 (any6)");
        // For IPv4 it is named with its address: it may be IPv6-only, and the IPv4 holder
        // another user's process we cannot see.
        assert_eq!(
            holder(&dual, "127.0.0.1:4000").unwrap(),
            "pid 31 (any6), which listens on [::]:4000"
        );
        let mapped = [listener(32, "mapped", "[::ffff:127.0.0.1]:4000")];
        assert_eq!(
            holder(&mapped, "127.0.0.1:4000").unwrap(),
            "pid 32 (mapped)"
        );
        // The exact address wins over a wildcard.
        let both = [
            listener(5, "any4", "0.0.0.0:4000"),
            listener(40, "exact", "127.0.0.1:4000"),
        ];
        assert_eq!(holder(&both, "127.0.0.1:4000").unwrap(), "pid 40 (exact)");
    }

    #[test]
    fn the_asking_process_is_never_the_holder() {
        // The caller still holds 127.0.0.1 while it asks about [::1] on the same port: a lower
        // pid than the holder's must not make it name itself.
        let all = [
            listener(1, "openrouter-pkce", "127.0.0.1:4000"),
            listener(1, "openrouter-pkce", "[::1]:4000"),
            listener(900, "v6holder", "[::1]:4000"),
        ];
        assert_eq!(holder(&all, "[::1]:4000").unwrap(), "pid 900 (v6holder)");
        // And for real: a port this process holds is not reported as held by it.
        let mine = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(find(mine.local_addr().unwrap()), None);
    }

    #[test]
    fn a_connection_on_the_port_is_not_its_holder() {
        let mut connection = listener(50, "client", "127.0.0.1:4000");
        connection.state = SocketState::Established;
        assert_eq!(holder(&[connection], "127.0.0.1:4000"), None);
    }
}
