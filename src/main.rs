//! `backprop-oracle`: thin binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    backprop_oracle::cli::main()
}
