//! Naming the process that holds a port, for the "port in use" message (Linux /proc only).

/// `pid 4242 (node)` for the process listening on `port`, where the OS lets us see it.
pub fn find(port: u16) -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        linux::find(port)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = port;
        None
    }
}

#[cfg(target_os = "linux")]
mod linux {
    /// TCP state code for LISTEN in /proc/net/tcp.
    const LISTEN: &str = "0A";

    pub(super) fn find(port: u16) -> Option<String> {
        let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .flat_map(|table| listening_inodes(&table, port))
            .collect();
        if inodes.is_empty() {
            return None;
        }
        let targets: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
        for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let pid = proc_entry.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                let Ok(link) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                if targets.iter().any(|t| link.as_os_str() == t.as_str()) {
                    let comm = std::fs::read_to_string(proc_entry.path().join("comm"))
                        .map(|c| c.trim().to_owned())
                        .unwrap_or_else(|_| "?".into());
                    return Some(format!("pid {pid} ({comm})"));
                }
            }
        }
        Some("another user's process".into())
    }

    /// Inodes of sockets listening on `port` in one /proc/net/tcp{,6} table.
    pub(super) fn listening_inodes(table: &str, port: u16) -> Vec<String> {
        let port_hex = format!("{port:04X}");
        table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let local = cols.get(1)?;
                let state = cols.get(3)?;
                let inode = cols.get(9)?;
                let (_, p) = local.rsplit_once(':')?;
                (p == port_hex && *state == LISTEN).then(|| (*inode).to_owned())
            })
            .collect()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn parses_listening_sockets_on_the_port() {
            let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 12345 1\n\
   1: 0100007F:0BB8 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 999 1\n\
   2: 0100007F:0BB9 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1\n";
            assert_eq!(
                super::listening_inodes(table, 3000),
                vec!["12345".to_owned()]
            );
        }

        #[test]
        fn names_this_process_for_a_port_it_holds() {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let found = super::find(port).expect("holder found");
            assert!(
                found.starts_with(&format!("pid {} (", std::process::id())),
                "{found}"
            );
        }
    }
}
