//! What a network check looks at: the mode, the options, and the checked tensors.

use crate::check::config::CheckConfig;
use crate::variant::Bug;

/// Which coordinates to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every coordinate of every tensor.
    Exhaustive,
    /// `per_tensor` random coordinates of each `W` and of `X`, and every bias element.
    Sampled {
        /// Coordinates per tensor.
        per_tensor: usize,
    },
    /// `directions` random unit directions per tensor: one dual pass gives `∇L·v`.
    Directional {
        /// Directions per tensor.
        directions: usize,
    },
}

impl Mode {
    /// `exhaustive`, `sampled` or `directional`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Exhaustive => "exhaustive",
            Mode::Sampled { .. } => "sampled",
            Mode::Directional { .. } => "directional",
        }
    }
}

/// What to check and how.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkCheckOptions {
    /// Coordinates to check.
    pub mode: Mode,
    /// Check the parameters after each of these numbers of training epochs (0 = initial;
    /// `e` means "after `e` epochs", i.e. at the start of epoch `e`).
    pub at_epochs: Vec<usize>,
    /// Batch size of the checked losses (`None`: the spec's).
    pub batch_size: Option<usize>,
    /// A mistake to inject into the backward pass and update.
    pub bug: Option<Bug>,
    /// Tolerances and step.
    pub config: CheckConfig,
    /// Seed for the sampled coordinates and directions.
    pub sample_seed: u32,
    /// How many batches of each checked epoch to check, evenly spread over it (the
    /// first and the last included). `None`: every batch in the exhaustive mode, at
    /// most [`SAMPLED_BATCHES`] in the sampled and directional modes.
    pub batches: Option<usize>,
}

/// The batches the sampled and directional modes check by default: at most this many,
/// evenly spread over the epoch (a sample of the data as the coordinates are a sample
/// of the tensors; every batch of a large data set would cost as much as an exhaustive
/// check of a small one).
pub const SAMPLED_BATCHES: usize = 8;

impl Default for NetworkCheckOptions {
    fn default() -> Self {
        NetworkCheckOptions {
            mode: Mode::Exhaustive,
            at_epochs: vec![0],
            batch_size: None,
            bug: None,
            config: CheckConfig::default(),
            sample_seed: 0,
            batches: None,
        }
    }
}

/// A checked tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tensor {
    /// `layers[k].W`.
    W(usize),
    /// `layers[k].b`.
    B(usize),
    /// The batch's inputs `X`.
    X,
}

impl Tensor {
    /// The tensor's name in reports, e.g. `layers[0].W`.
    pub fn name(self) -> String {
        match self {
            Tensor::W(k) => format!("layers[{k}].W"),
            Tensor::B(k) => format!("layers[{k}].b"),
            Tensor::X => "x".into(),
        }
    }

    /// Every tensor of a network with `layers` layers: `W`, `b` of each, then `X`.
    pub fn all(layers: usize) -> Vec<Tensor> {
        let mut v: Vec<Tensor> = (0..layers)
            .flat_map(|k| [Tensor::W(k), Tensor::B(k)])
            .collect();
        v.push(Tensor::X);
        v
    }

    /// The tensor's shape in a network of `sizes`, for a batch of `batch` samples.
    pub fn shape(self, sizes: &[usize], batch: usize) -> Vec<usize> {
        match self {
            Tensor::W(k) => vec![sizes[k + 1], sizes[k]],
            Tensor::B(k) => vec![sizes[k + 1]],
            Tensor::X => vec![batch, sizes[0]],
        }
    }

    /// Where this tensor's update report sits among the update reports (`None` for `X`,
    /// which is not updated).
    pub fn update_index(self) -> Option<usize> {
        match self {
            Tensor::W(k) => Some(2 * k),
            Tensor::B(k) => Some(2 * k + 1),
            Tensor::X => None,
        }
    }
}
