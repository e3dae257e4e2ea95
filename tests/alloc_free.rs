//! Zero heap allocations per training step in steady state, proven with a counting
//! global allocator. One test in this binary, so no other test allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use backprop_oracle::engine::{FastStepper, Kernels};
use backprop_oracle::io::spec::Spec;
use backprop_oracle::Activation::{Identity, Relu, Sigmoid, Tanh};
use backprop_oracle::Loss;
use ndarray::s;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `steps` epochs of fast training after one warm-up epoch.
fn allocations_per_epoch(spec: &Spec, kernels: Kernels, threads: usize) -> usize {
    let mut net = backprop_oracle::run::network(spec).unwrap();
    let n = spec.x.nrows();
    let bs = spec.batch_size.min(n);
    let mut trainer = FastStepper::new(&net, bs, kernels, threads);
    let mut epoch = |net: &mut backprop_oracle::Network| {
        for first in (0..n).step_by(bs) {
            let last = (first + bs).min(n);
            let (_, finite) = trainer.step(
                net,
                spec.x.slice(s![first..last, ..]),
                spec.y.slice(s![first..last, ..]),
                spec.lr,
            );
            assert!(finite);
        }
    };
    // On a rayon worker, as `train_fast` runs, so that the GEMM's `join` needs no heap.
    rayon::scope(|_| {
        epoch(&mut net);
        let before = ALLOCS.load(Ordering::SeqCst);
        for _ in 0..10 {
            epoch(&mut net);
        }
        (ALLOCS.load(Ordering::SeqCst) - before) / 10
    })
}

#[test]
fn fast_training_steps_do_not_allocate() {
    // The article: per-sample SGD, 4 steps per epoch.
    assert_eq!(
        allocations_per_epoch(&Spec::article(), Kernels::Auto, 1),
        0,
        "per-sample path"
    );

    // Mini-batches with a short last batch, every activation, several outputs.
    let batched = Spec {
        sizes: vec![3, 8, 6, 2],
        activations: vec![Tanh, Sigmoid, Identity],
        x: ndarray::Array2::from_shape_fn((7, 3), |(r, c)| (r as f64 - 3.0) * 0.3 + c as f64 * 0.1),
        y: ndarray::Array2::from_shape_fn((7, 2), |(r, c)| ((r + c) % 2) as f64),
        batch_size: 3,
        ..Spec::article()
    };
    assert_eq!(
        allocations_per_epoch(&batched, Kernels::Auto, 1),
        0,
        "batched path, reference kernels"
    );

    // The GEMM path (faer), single- and multi-threaded, on a 784-128-10 batch of 64.
    let big = Spec {
        sizes: vec![784, 128, 10],
        activations: vec![Relu, Identity],
        x: ndarray::Array2::from_shape_fn((64, 784), |(r, c)| ((r * 7 + c) % 11) as f64 / 11.0),
        y: ndarray::Array2::from_shape_fn((64, 10), |(r, c)| if r % 10 == c { 1.0 } else { 0.0 }),
        init_scale: 0.05,
        batch_size: 64,
        ..Spec::article()
    };
    // The classification losses on the same paths: softmax cross-entropy (one-hot `y`)
    // and binary cross-entropy (0/1 targets), batched small layers and the large ones.
    for loss in [Loss::SoftmaxCrossEntropy, Loss::BinaryCrossEntropy] {
        let small = Spec {
            activations: vec![Tanh, Sigmoid, Identity],
            y: ndarray::Array2::from_shape_fn((7, 2), |(r, c)| ((r + c) % 2) as f64),
            loss,
            ..batched.clone()
        };
        assert_eq!(
            allocations_per_epoch(&small, Kernels::Auto, 1),
            0,
            "{loss:?}, small layers"
        );
        let large = Spec {
            loss,
            ..big.clone()
        };
        for (kernels, threads) in [(Kernels::Gemm, 2), (Kernels::Exact, 2), (Kernels::Auto, 1)] {
            assert_eq!(
                allocations_per_epoch(&large, kernels, threads),
                0,
                "{loss:?}, {kernels:?}, {threads} thread(s)"
            );
        }
    }
    for threads in [1, 2] {
        assert_eq!(
            allocations_per_epoch(&big, Kernels::Gemm, threads),
            0,
            "GEMM path, {threads} thread(s)"
        );
        // The exact kernels on the same large layers (vectorised, split over threads).
        assert_eq!(
            allocations_per_epoch(&big, Kernels::Exact, threads),
            0,
            "exact kernels, {threads} thread(s)"
        );
    }
}
