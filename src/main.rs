//! The `openrouter-pkce` binary: everything is in the library's [`openrouter_pkce::cli::main`].

fn main() -> std::process::ExitCode {
    openrouter_pkce::cli::main()
}
