//! The benchmark's entry: the measurements read /proc and rusage, so they run on Linux; the
//! Windows and macOS builds (checked in CI) only say so.

#[cfg(target_os = "linux")]
mod linux;

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("the benchmark runs on Linux only (it reads /proc and rusage)");
}
