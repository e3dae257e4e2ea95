//! How far a correct port computing in a lower precision may be from the reference on
//! one re-anchored step: a first-order bound of its rounding error, per element.
//!
//! A port that computes step `s` from its own parameters in precision `u` (the unit
//! roundoff: 2⁻²⁴ for float32, 2⁻⁵³ for float64) rounds its data, every product, every
//! sum and every activation. The bound follows each quantity through the step with the
//! classic bound for a sum of `n` products in any order (Higham, *Accuracy and
//! Stability of Numerical Algorithms*, §3.1), `|fl(Σ a_i b_i) − Σ a_i b_i| ≤ γ_n Σ |a_i
//! b_i|` with `γ_n = n·u / (1 − n·u)`, and propagates each input's bound through the
//! derivative of what is computed from it:
//!
//! | quantity | bound |
//! |---|---|
//! | input `X` | `u·|X|` (the data rounded to the port's precision) |
//! | `Z = A·Wᵀ + b` | `γ_{n+1}·(|A|·|W|ᵀ + |b|) + δA·|W|ᵀ` |
//! | `A = act(Z)` | `max|act'|·δZ + c·u·|A|` (`c` = 4 for `exp`/`tanh`, 1 for leaky_relu's `0.01·z`, 0 for relu and identity) |
//! | MSE `L_r` | `(2/m)·Σ|ŷ − y|·(δŶ + u|y|) + γ_{m+2}·L_r` |
//! | softmax cross-entropy `L_r` | `Σ|p − y|·δŷ + γ_{m+3}(1 + |c| + 2|ln s| + Σ|y ŷ|) + u·max|ŷ − c|` (`p` the softmax, `c` the max logit, `s` the shifted exps' sum) |
//! | binary cross-entropy `L_r` | `(1/m)·Σ(|σ(ŷ) − y|·δŷ + γ_6(2|ŷ| + |ŷ y| + 1)) + γ_{m+1}·L_r` |
//! | MSE `dŶ = 2(Ŷ − Y)/(mB)` | `2(δŶ + u|Y|)/(mB) + γ_3·|dŶ|` |
//! | softmax `dŶ = (p − Y)/B` | `(p·(2·max δŷ + γ_{m+B+6} + 4u·max|ŷ|) + u|Y|)/B + γ_2·|dŶ|` (`p = B·dŶ + Y`, the step's own probabilities) |
//! | binary `dŶ = (σ(Ŷ) − Y)/(mB)` | `(σ(1 − σ)·δŶ + γ_4·max(σ, 1 − σ) + u|Y|)/(mB) + γ_2·|dŶ|` (`σ = mB·dŶ + Y`) |
//! | `dZ = dA ⊙ act'(Z)` | `δdA·|act'| + |dA|·(max|act''|·δZ + 4u·|act'|) + u·|dZ|`, plus `|dA|` times the jump of a relu/leaky_relu whose `Z` is within `δZ` of its kink |
//! | `dW = dZᵀ·A` | `γ_B·|dZ|ᵀ|A| + δdZᵀ·|A| + |dZ|ᵀ·δA` |
//! | `db = Σ_rows dZ` | `γ_B·Σ|dZ| + Σ δdZ` |
//! | `dX = dZ·W` | `γ_out·|dZ|·|W| + δdZ·|W|` |
//! | `W − lr·dW` | `lr·δdW + γ_2·(|W| + lr·|dW|)` |
//!
//! The parameters the step starts from are the port's own, so they carry no error.
//! Every bound is doubled ([`SAFETY`]) for the second-order terms the analysis drops.
//! A mistake (a catalogue bug, another convention) changes a quantity by an amount of
//! the order of the quantity itself — far above these bounds, which are a few hundred
//! `u` relative to the magnitudes summed.

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};

use crate::io::spec::Spec;
use crate::nn::activation::Activation;
use crate::nn::dense::Dense;
use crate::nn::loss::{sigmoid, Loss};
use crate::nn::network::Network;
use crate::oracle::anchor::batch_of;
use crate::oracle::trajectory::StepRecord;
use crate::variant::Variant;

/// The factor every first-order bound is multiplied by.
pub const SAFETY: f64 = 2.0;

/// `γ_n = n·u / (1 − n·u)`.
fn gamma(n: usize, u: f64) -> f64 {
    let nu = n as f64 * u;
    if nu >= 0.5 {
        f64::INFINITY
    } else {
        nu / (1.0 - nu)
    }
}

/// `|M|`.
fn abs(m: ArrayView2<f64>) -> Array2<f64> {
    m.mapv(f64::abs)
}

/// Bounds of `max |act'|`, `max |act''|` near `z` (within `dz`), the jump of `act'`
/// across a kink within `dz`, and the rounding factor `c` of evaluating `act`.
fn slopes(act: Activation, z: f64, dz: f64) -> (f64, f64, f64, f64) {
    let near = (z.abs() - dz).max(0.0);
    match act {
        Activation::Identity => (1.0, 0.0, 0.0, 0.0),
        // A kink within the rounding bound: act' may be either side's. (At z = 0 with no
        // rounding at all, the port computes z = 0 exactly and its convention counts.)
        Activation::Relu => (1.0, 0.0, if z.abs() < dz { 1.0 } else { 0.0 }, 0.0),
        Activation::LeakyRelu => (1.0, 0.0, if z.abs() < dz { 0.99 } else { 0.0 }, 1.0),
        // σ'' ≤ 0.0963, tanh'' ≤ 0.7698 everywhere.
        Activation::Sigmoid => (act.derivative(near), 0.0963, 0.0, 4.0),
        Activation::Tanh => (act.derivative(near), 0.7698, 0.0, 4.0),
    }
}

/// Per-layer bounds of the rounding error of `Z` and `A` in a forward pass of `X` through
/// `layers` computed in unit roundoff `u` from exact parameters (the table's first three
/// rows), given the exact `Z` and `A` of each layer.
pub fn forward_bounds(
    layers: &[Dense<f64>],
    x: ArrayView2<f64>,
    z: &[Array2<f64>],
    a: &[Array2<f64>],
    u: f64,
) -> (Vec<Array2<f64>>, Vec<Array2<f64>>) {
    let mut dz_fwd: Vec<Array2<f64>> = Vec::with_capacity(layers.len());
    let mut da_fwd: Vec<Array2<f64>> = Vec::with_capacity(layers.len());
    for (k, layer) in layers.iter().enumerate() {
        let (input, input_bound) = if k == 0 {
            (x.mapv(f64::abs), x.mapv(|v| u * v.abs()))
        } else {
            (a[k - 1].mapv(f64::abs), da_fwd[k - 1].clone())
        };
        let w_abs = abs(layer.w.view());
        let mut zb = input.dot(&w_abs.t());
        zb += &layer.b.mapv(f64::abs);
        zb *= gamma(layer.inputs() + 1, u);
        zb += &input_bound.dot(&w_abs.t());
        let mut ab = Array2::zeros(zb.raw_dim());
        Zip::from(&mut ab)
            .and(&zb)
            .and(&z[k])
            .and(&a[k])
            .for_each(|ab, &zb, &z, &a| {
                let (slope, _, _, c) = slopes(layer.activation, z, zb);
                *ab = slope * zb + c * u * a.abs();
            });
        dz_fwd.push(zb);
        da_fwd.push(ab);
    }
    (dz_fwd, da_fwd)
}

/// Per-sample bounds of the rounding error of the losses `L_r` (the table's loss rows),
/// from the exact output `Ŷ (B, m)`, its bound `δŶ`, the targets and the exact losses.
pub fn loss_bounds(
    loss: Loss,
    y_hat: ArrayView2<f64>,
    y_hat_bound: ArrayView2<f64>,
    y: ArrayView2<f64>,
    losses: ArrayView1<f64>,
    u: f64,
) -> Array1<f64> {
    let m = y.ncols();
    Array1::from_iter((0..y.nrows()).map(|r| {
        let (p, pb, t) = (y_hat.row(r), y_hat_bound.row(r), y.row(r));
        match loss {
            Loss::Mse => {
                let mut sum = 0.0;
                for c in 0..m {
                    let e = pb[c] + u * t[c].abs();
                    sum += 2.0 * (p[c] - t[c]).abs() * e;
                }
                sum / m as f64 + gamma(m + 2, u) * losses[r].abs()
            }
            Loss::SoftmaxCrossEntropy => {
                // Propagated: Σ|softmax − y|·δŷ. Computed: the shifted exps and their
                // sum (relative γ_{m+3} plus u·|ŷ_k − c| from the shift), the log, the
                // dot product and the two additions.
                let sm = softmax(p);
                let c = p.fold(f64::NEG_INFINITY, |a, &v| a.max(v));
                let spread = p.iter().map(|v| (v - c).abs()).fold(0.0, f64::max);
                let ln_s = p.iter().map(|v| (v - c).exp()).sum::<f64>().ln();
                let dot: f64 = p.iter().zip(t).map(|(a, b)| (a * b).abs()).sum();
                let mut data = 0.0;
                for k in 0..m {
                    data += (sm[k] - t[k]).abs() * pb[k];
                }
                data + (gamma(m + 3, u) + u * spread)
                    + gamma(m + 3, u) * (c.abs() + 2.0 * ln_s.abs() + dot)
            }
            Loss::BinaryCrossEntropy => {
                // Propagated: Σ|σ − y|·δŷ/m. Computed: each term's max, product,
                // subtraction, exp and log1p (γ_6 of its parts), the sum and the /m.
                let mut sum = 0.0;
                for k in 0..m {
                    let term_parts = 2.0 * p[k].abs() + (p[k] * t[k]).abs() + 1.0;
                    sum += (sigmoid(p[k]) - t[k]).abs() * pb[k] + gamma(6, u) * term_parts;
                }
                sum / m as f64 + gamma(m + 1, u) * losses[r].abs()
            }
        }
    }))
}

/// Per-element bounds of the rounding error of `∂L̄/∂Ŷ (B, m)` (the table's `dŶ`
/// rows), from the exact output, its bound, the targets and the exact gradient `d`.
fn d_output_bounds(
    loss: Loss,
    y_hat: ArrayView2<f64>,
    y_hat_bound: ArrayView2<f64>,
    y: ArrayView2<f64>,
    d: ArrayView2<f64>,
    u: f64,
) -> Array2<f64> {
    let (b, m) = y.dim();
    let mut out = Array2::zeros((b, m));
    for r in 0..b {
        let (p, pb, t) = (y_hat.row(r), y_hat_bound.row(r), y.row(r));
        match loss {
            Loss::Mse => {
                for k in 0..m {
                    out[[r, k]] = 2.0 * (pb[k] + u * t[k].abs()) / (m * b) as f64
                        + gamma(3, u) * d[[r, k]].abs();
                }
            }
            Loss::SoftmaxCrossEntropy => {
                // δp_k ≤ p_k·(2·max δŷ + γ_{m+B+6} + 2u·(|c| + max|ŷ|)) (each exp's
                // argument, shifted or not, the sum of the exps, the division), then the
                // subtraction and the /B. `p_k = B·d_k + y_k`, the probability the step
                // computed (a variant's own, e.g. normalised over another axis).
                let c = p.fold(0.0f64, |a, &v| a.max(v.abs()));
                let worst = pb.fold(0.0f64, |a, &v| a.max(v));
                for k in 0..m {
                    let pk = (d[[r, k]] * b as f64 + t[k]).abs();
                    let dp = pk * (2.0 * worst + gamma(m + b + 6, u) + 4.0 * u * c);
                    out[[r, k]] = (dp + u * t[k].abs()) / b as f64 + gamma(2, u) * d[[r, k]].abs();
                }
            }
            Loss::BinaryCrossEntropy => {
                // δσ ≤ σ(1 − σ)·δŷ + γ_4·σ (exp, addition, division, subtraction), with
                // `σ = m·B·d + y`, the value the step computed.
                for k in 0..m {
                    let sg = (d[[r, k]] * (m * b) as f64 + t[k]).clamp(0.0, 1.0);
                    let ds = sg * (1.0 - sg) * pb[k] + gamma(4, u) * sg.max(1.0 - sg);
                    out[[r, k]] =
                        (ds + u * t[k].abs()) / (m * b) as f64 + gamma(2, u) * d[[r, k]].abs();
                }
            }
        }
    }
    out
}

/// `softmax(p)` with the max shift.
fn softmax(p: ArrayView1<f64>) -> Array1<f64> {
    let c = p.fold(f64::NEG_INFINITY, |a, &v| a.max(v));
    let e = p.mapv(|v| (v - c).exp());
    let s = e.sum();
    e / s
}

/// Per-element bounds of the rounding error of re-anchored step `rec` (computed by
/// `variant` from `before`) in a port with unit roundoff `u`, laid out as a [`StepRecord`] whose
/// arrays hold bounds instead of values (its `samples` are the step's).
pub fn step_bounds(
    spec: &Spec,
    variant: &Variant,
    before: &Network<f64>,
    rec: &StepRecord,
    u: f64,
) -> StepRecord {
    let (_, rows) = batch_of(spec, rec.step);
    let x = spec.x.slice(s![rows.clone(), ..]);
    let y = spec.y.slice(s![rows, ..]);
    let nl = before.layers.len();
    let b = x.nrows();
    let (dz_fwd, da_fwd) = forward_bounds(&before.layers, x, &rec.z, &rec.a, u);
    let y_hat = &rec.a[nl - 1];
    let yhat_b = &da_fwd[nl - 1];
    let loss = loss_bounds(
        before.loss,
        y_hat.view(),
        yhat_b.view(),
        y,
        rec.loss.view(),
        u,
    );
    let d_output = d_output_bounds(
        before.loss,
        y_hat.view(),
        yhat_b.view(),
        y,
        rec.d_output.view(),
        u,
    );
    // Backward, top layer first.
    let mut dw = vec![Array2::zeros((0, 0)); nl];
    let mut db = vec![Array1::zeros(0); nl];
    let mut dx = vec![Array2::zeros((0, 0)); nl];
    let mut after = before.clone();
    let mut da_bound = d_output.clone();
    let mut da_value = rec.d_output.clone();
    for k in (0..nl).rev() {
        let layer = &before.layers[k];
        let (input, input_bound) = if k == 0 {
            (x.to_owned(), x.mapv(|v| u * v.abs()))
        } else {
            (rec.a[k - 1].clone(), da_fwd[k - 1].clone())
        };
        // dZ and its bound, with the variant's act'.
        let mut d = Array2::zeros(da_value.raw_dim());
        Zip::from(&mut d)
            .and(&rec.z[k])
            .and(&rec.a[k])
            .for_each(|d, &z, &a| *d = variant.derivative(layer.activation, z, a));
        let dz = &da_value * &d;
        let mut dzb = &da_bound * &d.mapv(f64::abs) + &dz.mapv(|v| u * v.abs());
        Zip::from(&mut dzb)
            .and(&da_value)
            .and(&d)
            .and(&rec.z[k])
            .and(&dz_fwd[k])
            .for_each(|dzb, &da, &d, &z, &zb| {
                let (_, second, jump, _) = slopes(layer.activation, z, zb);
                *dzb += da.abs() * (second * zb + 4.0 * u * d.abs() + jump);
            });
        let dz_abs = dz.mapv(f64::abs);
        let in_abs = abs(input.view());
        let mut w_b = dz_abs.t().dot(&in_abs) * gamma(b, u);
        w_b += &dzb.t().dot(&in_abs);
        w_b += &dz_abs.t().dot(&input_bound);
        let mut b_b = dz_abs.sum_axis(Axis(0)) * gamma(b, u);
        b_b += &dzb.sum_axis(Axis(0));
        // The update W − lr·dW.
        let lr = spec.lr;
        let g2 = gamma(2, u);
        // A variant's gradient may have another shape (dw-transposed): its magnitude is
        // then not used, only the bound of the reference's.
        let g_w = if rec.dw[k].dim() == layer.w.dim() {
            rec.dw[k].mapv(f64::abs)
        } else {
            w_b.clone()
        };
        let g_b = if rec.db[k].dim() == layer.b.dim() {
            rec.db[k].mapv(f64::abs)
        } else {
            b_b.clone()
        };
        let mut wa = Array2::zeros(layer.w.raw_dim());
        Zip::from(&mut wa)
            .and(&w_b)
            .and(&layer.w)
            .and(&g_w)
            .for_each(|wa, &wb, &w, &g| *wa = lr * wb + g2 * (w.abs() + lr * g));
        let mut ba = Array1::zeros(layer.b.raw_dim());
        Zip::from(&mut ba)
            .and(&b_b)
            .and(&layer.b)
            .and(&g_b)
            .for_each(|ba, &bb, &v, &g| *ba = lr * bb + g2 * (v.abs() + lr * g));
        // dX = dZ·W, through the weights the variant back-propagates with: the ones
        // before the update, or (stale-weights) the updated ones, with their rounding.
        let stale = variant.bug == Some(crate::variant::Bug::StaleWeights);
        let w_abs = if stale {
            abs(rec.after.layers[k].w.view())
        } else {
            abs(layer.w.view())
        };
        let mut x_b = dz_abs.dot(&w_abs) * gamma(layer.outputs(), u);
        x_b += &dzb.dot(&w_abs);
        if stale {
            x_b += &dz_abs.dot(&wa);
        }
        after.layers[k].w = wa;
        after.layers[k].b = ba;
        da_value = rec.dx[k].clone();
        da_bound = x_b.clone();
        dw[k] = w_b;
        db[k] = b_b;
        dx[k] = x_b;
    }
    let safe = |a: Array2<f64>| a * SAFETY;
    for l in &mut after.layers {
        l.w *= SAFETY;
        l.b *= SAFETY;
    }
    StepRecord {
        step: rec.step,
        epoch: rec.epoch,
        samples: rec.samples.clone(),
        z: dz_fwd.into_iter().map(safe).collect(),
        a: da_fwd.into_iter().map(safe).collect(),
        loss: loss * SAFETY,
        d_output: d_output * SAFETY,
        dw: dw.into_iter().map(safe).collect(),
        db: db.into_iter().map(|a| a * SAFETY).collect(),
        dx: dx.into_iter().map(safe).collect(),
        after,
    }
}
