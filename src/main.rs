//! `backprop-oracle`: thin binary; everything lives in the library (`cli` feature).

fn main() -> std::process::ExitCode {
    backprop_oracle::cli::main()
}
