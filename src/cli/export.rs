//! `backprop-oracle export --out DIR`: golden files for port authors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::cli::{eprint_line, write_stdout, ConventionArgs, ModelArgs};
use crate::error::Result;
use crate::oracle::export::{export, ExportOptions};
use crate::oracle::trajectory::{check_export, record_variant};
use crate::variant::{Conventions, Variant};

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The model and its overrides.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The output folder (created; replaced only with --force).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Record the first N updates in full (forward, backward, parameters).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub trace_steps: usize,
    /// Also write every array as its own .npy file into DIR/npy/.
    #[arg(long)]
    pub npy: bool,
    /// Replace an existing output folder.
    #[arg(long)]
    pub force: bool,
    /// Derivative conventions at z = 0 to export under (for a port that follows its
    /// framework's; recorded in the header).
    #[command(flatten)]
    pub conventions: ConventionArgs,
}

/// Runs `export`.
pub fn run(args: &ExportArgs) -> Result<ExitCode> {
    let spec = args.model.spec(None)?;
    let conventions = args.conventions.conventions(Conventions::default())?;
    // What it writes is planned against what compare reads back.
    let epochs_field = if args.model.epochs.is_some() {
        "Overrides.epochs"
    } else {
        "spec.epochs"
    };
    check_export(&spec, args.trace_steps, epochs_field, "trace_steps")?;
    let variant = Variant {
        bug: None,
        conventions: conventions.unwrap_or_default(),
    };
    let trajectory = record_variant(&spec, args.trace_steps, variant)?;
    let command = portable_command(std::env::args_os().skip(1), &args.out);
    let summary = export(
        &trajectory,
        &ExportOptions {
            out: args.out.clone(),
            force: args.force,
            npy: args.npy,
            command,
        },
    )?;
    for p in &summary.removed_stale {
        eprint_line(&format!(
            "note: removed {}, the temporary folder of an earlier export that was killed",
            p.display()
        ));
    }
    if let Some(k) = &summary.kept {
        eprint_line(&format!(
            "note: entries that appeared in {} while the export ran were kept in {}",
            args.out.display(),
            k.display()
        ));
    }
    write_stdout(&format!(
        "wrote {} ({} arrays in reference.npz, {} traced steps, {} epochs)\n",
        args.out.display(),
        summary.arrays,
        trajectory.steps.len(),
        trajectory.loss.len()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// The command line recorded in the header, without the paths of the machine that ran
/// it: `--model FILE` as `--model spec.json` (the folder's own fully resolved spec,
/// which runs the same export) and `--out DIR` as the folder's name.
fn portable_command(args: impl Iterator<Item = std::ffi::OsString>, out: &Path) -> String {
    let name = folder_name(out);
    crate::cli::portable_command(args, &[("--model", "spec.json"), ("--out", &name)])
}

/// A folder's own name (`DIR` when it has none), as a recorded command gives it.
pub(crate) fn folder_name(dir: &Path) -> String {
    dir.file_name()
        .map_or_else(|| "DIR".into(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_command_holds_no_path_of_this_machine() {
        let args = [
            "export",
            "--model",
            "/home/me/specs/mnist.json",
            "--out=/tmp/golden",
            "--epochs",
            "3",
        ]
        .map(std::ffi::OsString::from);
        assert_eq!(
            portable_command(args.into_iter(), Path::new("/tmp/golden")),
            "backprop-oracle export --model spec.json --out=golden --epochs 3"
        );
    }
}
