//! Naming the process that holds a port, for the "port in use" message, through the
//! `listeners` crate (Linux, macOS, Windows, the BSDs) rather than per-OS code of our own.

use std::net::SocketAddr;

use listeners::{Listener, Protocol, SocketState};

/// `pid 4242 (node)` for the process listening on `port`, where the OS lets us see it: not a
/// process of another user on Linux, nor anything when the OS refuses the lookup.
pub fn find(port: u16) -> Option<String> {
    let listeners = listeners::get_all().ok()?;
    holder_among(listeners.iter(), port)
}

/// The listener on `port` among `all`, described. Only TCP sockets in LISTEN count: a
/// connection that merely has `port` as its local end (an accepted one, or one in TIME_WAIT)
/// is not what holds the port.
fn holder_among<'a>(all: impl Iterator<Item = &'a Listener>, port: u16) -> Option<String> {
    all.filter(|l| {
        l.protocol == Protocol::TCP && l.state == SocketState::Listen && l.socket.port() == port
    })
    // Loopback first: that is the address we failed to bind; the lowest pid for a stable answer.
    .min_by_key(|l| (!is_loopback(l.socket), l.process.pid))
    .map(|l| describe(l.process.pid, &l.process.name))
}

fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// `pid 4242 (node)`. Any local user picks their process's name, so it is shown only after
/// terminal sequences and control characters are taken out.
fn describe(pid: u32, name: &str) -> String {
    let name = crate::error::sanitize(name, &[]);
    let name = if name.trim().is_empty() { "?" } else { &name };
    format!("pid {pid} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_process_name_is_shown_without_its_terminal_sequences() {
        let shown = describe(4242, "\u{1b}]0;owned\u{7}no\u{1b}[2Jde\r\n");
        assert_eq!(shown, "pid 4242 (node)");
        assert_eq!(describe(7, "\u{1b}[31m"), "pid 7 (?)");
    }

    #[test]
    fn names_this_process_for_a_port_it_holds() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let found = find(port).expect("holder found");
        assert!(
            found.starts_with(&format!("pid {} (", std::process::id())),
            "{found}"
        );
    }

    #[test]
    fn a_connection_on_the_port_is_not_its_holder() {
        // A client socket whose local port is `port`, connected elsewhere, holds no listener.
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(server.local_addr().unwrap()).unwrap();
        let client_port = client.local_addr().unwrap().port();
        assert_eq!(find(client_port), None);
    }
}
