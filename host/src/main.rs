fn main() -> std::process::ExitCode {
    agent_store::cli::main()
}
