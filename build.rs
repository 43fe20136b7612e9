//! Build script: `--version` names the git commit when built from a checkout
//! (`0.1.0 (git 1a2b3c4d5)`), and only the version when built from a package.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=9", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_hexdigit()));
    let suffix = commit.map(|c| format!(" (git {c})")).unwrap_or_default();
    println!("cargo:rustc-env=OPENROUTER_PKCE_VERSION_SUFFIX={suffix}");
    // A new commit rebuilds the version string: HEAD, and the branch it points to.
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        println!("cargo:rerun-if-changed=.git/HEAD");
        if let Some(branch) = head.trim().strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed=.git/{branch}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
