//! Benchmark (not a test): how long the gradient checker takes on a 784-128-10 ReLU
//! network (101,770 parameters) with a batch of 16, in each mode.
//!
//! Run: `cargo bench --bench gradient_check` (add `-- --quick` to skip the exhaustive
//! check). Goals (issue 13): exhaustive ≤ 10 s, sampled + directional ≤ 1 s on 2 cores;
//! `benches/check_speed.sh` times the same through the CLI.
//! Data: inputs uniform in [0, 1) and one-hot targets from the project's own
//! `RandomState(1)`; weights `0.05·randn` from seed 0.

use std::time::Instant;

use backprop_oracle::check::network::{check_network, Mode, NetworkCheckOptions};
use backprop_oracle::io::spec::Spec;
use backprop_oracle::rng::RandomState;
use backprop_oracle::Activation;

fn spec() -> Spec {
    let mut rng = RandomState::new(1);
    let x = ndarray::Array2::from_shape_simple_fn((16, 784), || rng.random_sample());
    let y = ndarray::Array2::from_shape_fn((16, 10), |(r, c)| if c == r % 10 { 1.0 } else { 0.0 });
    Spec {
        sizes: vec![784, 128, 10],
        activations: vec![Activation::Relu, Activation::Identity],
        init_scale: 0.05,
        x,
        y,
        epochs: 1,
        batch_size: 16,
        ..Spec::article()
    }
}

fn time(label: &str, spec: &Spec, mode: Mode) -> f64 {
    let opts = NetworkCheckOptions {
        mode,
        ..Default::default()
    };
    let t = Instant::now();
    let report = check_network(spec, &opts, &|_| {}).expect("check runs");
    let secs = t.elapsed().as_secs_f64();
    let checks: usize = report.tensors.iter().map(|t| t.checked).sum();
    println!(
        "{label:<34} {secs:>9.3} s  {checks:>7} element checks  {}",
        if report.passed() {
            "verified"
        } else {
            "FAILED"
        }
    );
    secs
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let spec = spec();
    println!(
        "gradient check, 784-128-10 relu/identity, batch 16, {} threads",
        rayon::current_num_threads()
    );
    let s = time(
        "sampled (16 per tensor)",
        &spec,
        Mode::Sampled { per_tensor: 16 },
    );
    let d = time(
        "directional (8 per tensor)",
        &spec,
        Mode::Directional { directions: 8 },
    );
    println!("{:<34} {:>9.3} s", "sampled + directional", s + d);
    if !quick {
        time(
            "exhaustive (all 114,314 + updates)",
            &spec,
            Mode::Exhaustive,
        );
    }
}
