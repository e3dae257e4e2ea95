//! Speed benchmarks (not tests), run beside NumPy by `bash benches/compare_numpy.sh`.
//!
//! `cargo bench --bench speed [-- --json] [-- --quick]` prints one line per benchmark;
//! with `--json` each line is `{"name", "median_s", "reps", ...}` with the same names as
//! `benches/numpy_bench.py`. Medians of repeated timings; the machine is noisy, so only
//! ratios measured in one run mean much.

use std::time::Instant;

use backprop_oracle::check::network::{check_network, Mode, NetworkCheckOptions};
use backprop_oracle::engine::{FastStepper, Kernels};
use backprop_oracle::io::spec::Spec;
use backprop_oracle::rng::RandomState;
use backprop_oracle::Activation::{Identity, Relu};
use ndarray::Array2;

/// Median seconds per call of `f`, each timing covering `inner` calls, `reps` timings.
fn median(reps: usize, inner: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..inner.min(1000) {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..inner {
                f();
            }
            start.elapsed().as_secs_f64() / inner as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

struct Out {
    json: bool,
}

impl Out {
    fn report(&self, name: &str, secs: f64, reps: usize, extra: &str) {
        if self.json {
            println!("{{\"name\": \"{name}\", \"median_s\": {secs:e}, \"reps\": {reps}{extra}}}");
        } else {
            println!("{name:<40} {:>14.3} µs {extra}", secs * 1e6);
        }
    }
}

fn batch_spec(sizes: &[usize], batch: usize) -> Spec {
    let mut rng = RandomState::new(0);
    let n_in = sizes[0];
    let m = *sizes.last().unwrap();
    let mut acts = vec![Relu; sizes.len() - 2];
    acts.push(Identity);
    Spec {
        sizes: sizes.to_vec(),
        activations: acts,
        init_scale: 0.05,
        x: Array2::from_shape_simple_fn((batch, n_in), || rng.random_sample()),
        y: Array2::from_shape_fn((batch, m), |(r, c)| if r % m == c { 1.0 } else { 0.0 }),
        batch_size: batch,
        epochs: 1,
        ..Spec::article()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = Out {
        json: args.iter().any(|a| a == "--json"),
    };
    let quick = args.iter().any(|a| a == "--quick");
    let threads = rayon::current_num_threads();
    let reps = if quick { 5 } else { 11 };
    if out.json {
        println!(
            "{{\"name\": \"rust_info\", \"threads\": {threads}, \"fma\": {}}}",
            cfg!(target_feature = "fma")
        );
    }

    // The article's per-sample step (2-3-1, reference kernels: NumPy's bits).
    let spec = Spec::article();
    let mut net = backprop_oracle::run::network(&spec).unwrap();
    let mut trainer = FastStepper::new(&net, 1, Kernels::Auto, 1);
    let rows: Vec<_> = (0..4)
        .map(|r| {
            (
                spec.x.slice(ndarray::s![r..r + 1, ..]),
                spec.y.slice(ndarray::s![r..r + 1, ..]),
            )
        })
        .collect();
    let mut i = 0;
    let t = median(reps, 200_000, || {
        let (x, y) = rows[i & 3];
        i += 1;
        std::hint::black_box(trainer.step(&mut net, x, y, 0.01));
    });
    out.report("article_sample_step", t, reps, "");
    // The same steps on four independent copies of the network, back to back: how much of
    // one step is waiting for the previous step's weights (a latency chain) rather than work.
    let mut nets: Vec<_> = (0..4)
        .map(|_| backprop_oracle::run::network(&spec).unwrap())
        .collect();
    let mut trainers: Vec<_> = nets
        .iter()
        .map(|n| FastStepper::new(n, 1, Kernels::Auto, 1))
        .collect();
    let mut i = 0;
    let t = median(reps, 50_000, || {
        let (x, y) = rows[i & 3];
        i += 1;
        for (trainer, net) in trainers.iter_mut().zip(nets.iter_mut()) {
            std::hint::black_box(trainer.step(net, x, y, 0.01));
        }
    });
    out.report("article_sample_step_4_independent_nets", t / 4.0, reps, "");
    if args.iter().any(|a| a == "--article-only") {
        return;
    }

    // Batched training steps.
    for (name, sizes, batch, inner) in [
        (
            "batch_step_784_128_10_b64",
            vec![784, 128, 10],
            64,
            200usize,
        ),
        (
            "batch_step_784_256_256_10_b128",
            vec![784, 256, 256, 10],
            128,
            50,
        ),
        (
            "batch_step_1024_1024_1024_10_b256",
            vec![1024, 1024, 1024, 10],
            256,
            5,
        ),
    ] {
        let spec = batch_spec(&sizes, batch);
        let mut net = backprop_oracle::run::network(&spec).unwrap();
        let mut trainer = FastStepper::new(&net, batch, Kernels::Auto, threads);
        let flops: f64 =
            6.0 * batch as f64 * sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum::<f64>();
        // On a rayon worker, as `train_fast` runs the steps.
        let t = rayon::scope(|_| {
            median(reps, if quick { inner.div_ceil(4) } else { inner }, || {
                std::hint::black_box(trainer.step(&mut net, spec.x.view(), spec.y.view(), 0.01));
            })
        });
        out.report(
            name,
            t,
            reps,
            &format!(", \"gflops\": {:.1}", flops / t / 1e9),
        );
    }

    // Gradient-check modes on 784-128-10, batch 16.
    let spec = batch_spec(&[784, 128, 10], 16);
    let check = |mode| {
        let opts = NetworkCheckOptions {
            mode,
            ..Default::default()
        };
        let start = Instant::now();
        let r = check_network(&spec, &opts, &|_| {}).unwrap();
        assert!(r.passed());
        start.elapsed().as_secs_f64()
    };
    let sd = check(Mode::Sampled { per_tensor: 16 }) + check(Mode::Directional { directions: 8 });
    out.report("gradcheck_sampled_directional", sd, 1, "");
    if !quick {
        out.report("gradcheck_exhaustive", check(Mode::Exhaustive), 1, "");
    }

    // DGEMM last (its multithreaded runs leave rayon/faer worker threads busy for a while).
    // DGEMM 2048 on the candidate kernels.
    let n = 2048;
    let mut rng = RandomState::new(1);
    let a = Array2::from_shape_simple_fn((n, n), || rng.gauss());
    let b = Array2::from_shape_simple_fn((n, n), || rng.gauss());
    let mut c = Array2::<f64>::zeros((n, n));
    let flops = 2.0 * (n as f64).powi(3);
    let dgemm_reps = if quick { 3 } else { 7 };
    let mut best = f64::INFINITY;
    for (name, par) in [("dgemm_2048_gemm_2t", threads), ("dgemm_2048_gemm_1t", 1)] {
        let t = median(dgemm_reps, 1, || unsafe {
            let p = if par > 1 {
                gemm::Parallelism::Rayon(par)
            } else {
                gemm::Parallelism::None
            };
            gemm::gemm(
                n,
                n,
                n,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                n as isize,
                b.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                p,
            );
        });
        out.report(
            name,
            t,
            dgemm_reps,
            &format!(", \"gflops\": {:.1}", flops / t / 1e9),
        );
        best = best.min(t);
    }
    for (name, par) in [
        ("dgemm_2048_faer_2t", faer::Par::rayon(threads)),
        ("dgemm_2048_faer_1t", faer::Par::Seq),
    ] {
        let t = median(dgemm_reps, 1, || unsafe {
            let d = faer::MatMut::from_raw_parts_mut(c.as_mut_ptr(), n, n, n as isize, 1);
            let l = faer::MatRef::from_raw_parts(a.as_ptr(), n, n, n as isize, 1);
            let r = faer::MatRef::from_raw_parts(b.as_ptr(), n, n, n as isize, 1);
            faer::linalg::matmul::matmul(d, faer::Accum::Replace, l, r, 1.0, par);
        });
        out.report(
            name,
            t,
            dgemm_reps,
            &format!(", \"gflops\": {:.1}", flops / t / 1e9),
        );
        best = best.min(t);
    }
    let t = median(dgemm_reps, 1, || {
        ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut c);
    });
    out.report(
        "dgemm_2048_matrixmultiply_1t",
        t,
        dgemm_reps,
        &format!(", \"gflops\": {:.1}", flops / t / 1e9),
    );
    best = best.min(t);
    // The machine's Rust DGEMM peak: the best kernel measured in this run.
    let peak = format!(", \"gflops\": {:.1}", flops / best / 1e9);
    out.report("dgemm_2048", best, dgemm_reps, &peak);
}
