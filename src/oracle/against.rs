//! Which spec a candidate is compared against.
//!
//! The spec comes from the caller (a file, or the built-in article with the name
//! [`ARTICLE`]) or from the candidate's own `header.spec`. With neither, there is
//! nothing to compare against: the error says how to give one. With both, they must agree on every key
//! (a port that wrote a wrong spec into its header would otherwise be checked against
//! its own mistake); a difference is reported key by key unless the caller trusts its
//! model. A spec from the candidate's header is untrusted input: the run it describes
//! may cost at most `max_steps` of work ([`run_work`]).
//!
//! Whichever spec it is, the memory of comparing against its run is planned once the
//! candidate is read and before the reference is recomputed ([`check_compare`]): for
//! every epoch [`COMPARE_EPOCH_BYTES`] (the reference's loss history, its float32
//! twin's and the twin's loss-evaluation bounds, the expected epoch losses and their
//! bounds, with room), for every update [`COMPARE_STEP_BYTES`] (the twin's per-step
//! rounding bound), the network's copies, the data's float32 copy and the candidate's
//! arrays, at most 1 GiB in all; `export` plans what it writes against the same
//! figure, so that `compare` reads every export back.

use std::path::Path;

use crate::error::{Error, Result};
use crate::io::spec::{Overrides, Spec};
use crate::oracle::candidate::{load_candidate, Candidate};
pub use crate::oracle::plan::{
    check_compare, compare_bytes, run_work, COMPARE_EPOCH_BYTES, COMPARE_STEP_BYTES,
    DEFAULT_MAX_STEPS,
};

/// The name that stands for the article's built-in spec where a spec file is expected.
pub const ARTICLE: &str = "article";

/// Reads the spec file `model` (or the article for [`ARTICLE`], when no file of that
/// name exists) with the overrides.
pub fn load_model(model: &Path, overrides: &Overrides) -> Result<Spec> {
    if model == Path::new(ARTICLE) && std::fs::symlink_metadata(model).is_err() {
        return Spec::article().with_overrides(overrides);
    }
    Spec::load(Some(model), overrides)
}

/// Reads the candidate file and the spec file `model` side by side (one thread each:
/// neither needs the other; on an MNIST-size run each is a tenth to a third of a
/// second), then settles the spec to compare against with [`spec_to_compare`]. A bad
/// candidate is reported before a bad model, as if read one after the other.
pub fn load_candidate_and_spec(
    candidate: &Path,
    model: Option<&Path>,
    overrides: &Overrides,
    max_steps: u64,
    trust_model: bool,
) -> Result<(Candidate, Spec)> {
    let (cand, model) = std::thread::scope(|s| {
        let model = model.map(|m| s.spawn(move || load_model(m, overrides)));
        let cand = load_candidate(candidate);
        let model = model.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (cand, model)
    });
    let cand = cand?;
    let from_model = model.is_some();
    let dir = candidate.parent().unwrap_or(Path::new(""));
    let spec = spec_to_compare_in(
        model.transpose()?,
        &cand,
        dir,
        overrides,
        max_steps,
        trust_model,
    )?;
    let field = match (overrides.epochs, from_model) {
        (Some(_), _) => "Overrides.epochs",
        (None, true) => "spec.epochs",
        (None, false) => "candidate.header.spec.epochs",
    };
    let values: usize = cand.arrays.values().map(|a| a.len()).sum();
    check_compare(&spec, values as u128, field, "comparing against this run")?;
    Ok((cand, spec))
}

/// The spec to compare against (see the module docs), given the model's spec if the
/// caller named one ([`load_model`]). `trust_model` compares against the model even
/// where the candidate's header says otherwise. Relative data files in the candidate's
/// header are looked for in the current folder ([`spec_to_compare_in`] looks beside the
/// candidate first).
pub fn spec_to_compare(
    model: Option<Spec>,
    cand: &Candidate,
    overrides: &Overrides,
    max_steps: u64,
    trust_model: bool,
) -> Result<Spec> {
    let places = crate::io::data::Places {
        dirs: &[(Path::new(""), "the current folder")],
        fix: HEADER_DATA_FIX,
    };
    spec_to_compare_at(model, cand, places, overrides, max_steps, trust_model)
}

/// What to do when a data file named by a candidate's header is missing.
pub const HEADER_DATA_FIX: &str = "put the file there, or give as the model a spec that names \
    where the data is now (the header's reference is then matched by its SHA-256, not read)";

/// [`spec_to_compare`] for a candidate read from the folder `candidate_dir`: a relative
/// data file in its header is looked for beside the candidate first, then in the current
/// folder (a file in neither is an error naming the field, both paths and the fix,
/// [`HEADER_DATA_FIX`]).
pub fn spec_to_compare_in(
    model: Option<Spec>,
    cand: &Candidate,
    candidate_dir: &Path,
    overrides: &Overrides,
    max_steps: u64,
    trust_model: bool,
) -> Result<Spec> {
    let dirs = [
        (candidate_dir, "beside the candidate"),
        (Path::new(""), "the current folder"),
    ];
    let places = crate::io::data::Places {
        dirs: &dirs,
        fix: HEADER_DATA_FIX,
    };
    spec_to_compare_at(model, cand, places, overrides, max_steps, trust_model)
}

fn spec_to_compare_at(
    model: Option<Spec>,
    cand: &Candidate,
    places: crate::io::data::Places<'_>,
    overrides: &Overrides,
    max_steps: u64,
    trust_model: bool,
) -> Result<Spec> {
    let header_of = |like: Option<&Spec>| {
        cand.spec
            .as_ref()
            .map(|v| Spec::from_json_at(v, "candidate.header.spec", places, like))
    };
    match model {
        Some(spec) => {
            // Data files the model already read (same SHA-256) are not read again.
            if let Some(header) = header_of(Some(&spec)) {
                let header = header?;
                if !trust_model {
                    let diff = differences(&spec, &header, overrides);
                    if !diff.is_empty() {
                        return Err(Error::invalid(
                            "model",
                            format!(
                                "differs from the candidate's header.spec in {} (the port may have run another spec, or written a wrong one); trust the model to compare against it anyway",
                                diff.join(", ")
                            ),
                        ));
                    }
                }
            }
            Ok(spec)
        }
        None => {
            let Some(header) = header_of(None) else {
                return Err(no_spec());
            };
            let spec = header?.with_overrides(overrides)?;
            let work = run_work(&spec);
            if work > max_steps as u128 {
                return Err(Error::invalid(
                    "max_steps",
                    format!(
                        "the candidate's header.spec describes a run of {work} parameter-updates × batch rows \
                         (epochs × samples × parameters), more than this budget of {max_steps}; \
                         give a spec you trust as the model instead, or raise the budget"
                    ),
                ));
            }
            Ok(spec)
        }
    }
}

/// The error of a candidate without `header.spec` compared without a model.
fn no_spec() -> Error {
    Error::invalid(
        "model",
        format!(
            "the candidate has no header.spec, so the spec to compare against is unknown: name the spec file the port ran with (or {ARTICLE:?} for the article's run)"
        ),
    )
}

/// The keys on which two specs differ, each with both values (keys set by overrides
/// are not compared: the caller chose them).
pub fn differences(model: &Spec, header: &Spec, overrides: &Overrides) -> Vec<String> {
    let mut out = Vec::new();
    let mut key = |name: &str, a: String, b: String, overridden: bool| {
        if a != b && !overridden {
            out.push(format!("{name} (model {a}, header {b})"));
        }
    };
    key(
        "sizes",
        format!("{:?}", model.sizes),
        format!("{:?}", header.sizes),
        false,
    );
    let acts = |s: &Spec| {
        s.activations
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(",")
    };
    key("activations", acts(model), acts(header), false);
    key(
        "loss",
        model.loss.name().into(),
        header.loss.name().into(),
        false,
    );
    match (&model.initial, &header.initial) {
        (None, None) => {
            key(
                "seed",
                model.seed.to_string(),
                header.seed.to_string(),
                overrides.seed.is_some(),
            );
            key(
                "init_scale",
                model.init_scale.to_string(),
                header.init_scale.to_string(),
                false,
            );
        }
        (Some(a), Some(b)) => {
            // Shapes are the sizes' (compared above); the first value that differs.
            let first = a
                .layers
                .iter()
                .zip(&b.layers)
                .enumerate()
                .find_map(|(k, (a, b))| {
                    let w = a.0.indexed_iter().find(|(i, v)| b.0.get(*i) != Some(v));
                    let at = |(r, c): (usize, usize)| {
                        (
                            format!("initial.layers[{k}].W[{r}][{c}]"),
                            a.0[[r, c]],
                            b.0.get([r, c]).copied(),
                        )
                    };
                    w.map(|(i, _)| at(i)).or_else(|| {
                        a.1.indexed_iter()
                            .find(|(i, v)| b.1.get(*i) != Some(v))
                            .map(|(i, v)| {
                                (
                                    format!("initial.layers[{k}].b[{i}]"),
                                    *v,
                                    b.1.get(i).copied(),
                                )
                            })
                    })
                });
            if let Some((name, x, y)) = first {
                let y = y.map_or("missing".to_string(), |y| y.to_string());
                key(&name, x.to_string(), y, false);
            }
        }
        (a, b) => {
            let source = |s: &Spec, given: bool| {
                if given {
                    "given".to_string()
                } else {
                    format!("seed {} init_scale {}", s.seed, s.init_scale)
                }
            };
            key(
                "initial",
                source(model, a.is_some()),
                source(header, b.is_some()),
                false,
            );
        }
    }
    key(
        "lr",
        model.lr.to_string(),
        header.lr.to_string(),
        overrides.lr.is_some(),
    );
    key(
        "epochs",
        model.epochs.to_string(),
        header.epochs.to_string(),
        overrides.epochs.is_some(),
    );
    key(
        "batch_size",
        model.batch_size.to_string(),
        header.batch_size.to_string(),
        overrides.batch_size.is_some(),
    );
    for (name, a, b) in [("x", &model.x, &header.x), ("y", &model.y, &header.y)] {
        if a.shape() != b.shape() {
            key(
                name,
                format!("shape {:?}", a.shape()),
                format!("shape {:?}", b.shape()),
                false,
            );
        } else if a != b {
            // Different somewhere (a whole-array test first: the scan for the first
            // difference runs only when there is one).
            let Some(((r, c), v)) = a.indexed_iter().find(|(i, v)| **v != b[*i]) else {
                continue;
            };
            key(
                &format!("{name}[{r}][{c}]"),
                v.to_string(),
                b[[r, c]].to_string(),
                false,
            );
        }
    }
    out
}
