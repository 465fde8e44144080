//! Exporting a trained small network as safetensors (the format of the embedded demo
//! model) and loading it back, from a file or from bytes.

use std::path::Path;

use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;

use crate::experiment_error::{ExperimentError, ExperimentResult};
use crate::small_nets::{PlainCnn, PlainCnnConfig};

/// Writes `model`'s parameters and BatchNorm statistics to `path` as safetensors.
pub fn export_safetensors(model: &PlainCnn, path: &Path) -> ExperimentResult<()> {
    let mut store = SafetensorsStore::from_file(path).overwrite(true);
    model
        .save_into(&mut store)
        .map_err(|e| ExperimentError::Checkpoint {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Builds a network of `config` and loads safetensors `bytes` into it; every tensor of the
/// network must be present and every tensor of the file used.
pub fn import_safetensors(
    config: &PlainCnnConfig,
    bytes: &[u8],
    device: &Device,
) -> ExperimentResult<PlainCnn> {
    let mut model = config.init(device)?;
    let mut store = SafetensorsStore::from_bytes(Some(bytes.to_vec()));
    let err = |reason: String| ExperimentError::Checkpoint {
        path: "<safetensors bytes>".into(),
        reason,
    };
    let result = model
        .load_from(&mut store)
        .map_err(|e| err(e.to_string()))?;
    if !result.missing.is_empty() || !result.unused.is_empty() || !result.errors.is_empty() {
        return Err(err(format!(
            "weights do not fit the network {config:?}: missing {:?}, unused {:?}, errors {:?}",
            result.missing, result.unused, result.errors
        )));
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tensor};

    #[test]
    fn safetensors_round_trip_keeps_logits_and_rejects_other_shapes() {
        let dev = Device::flex();
        let ad = Device::flex().autodiff();
        ad.seed(31);
        let cfg = PlainCnnConfig {
            image_size: 8,
            channels: vec![4, 8],
            ..PlainCnnConfig::fashion_mnist(true)
        };
        // One training-mode pass moves the BatchNorm running statistics off their initial
        // values, so the round trip must carry them to reproduce the logits.
        let trained = cfg.init(&ad).unwrap();
        let _ = trained
            .forward(Tensor::<4>::random([4, 1, 8, 8], Distribution::Default, &ad) * 3.0 + 1.0);
        let net = burn::module::Module::fork(burn::module::Module::valid(&trained), &dev);
        let p = crate::testing::temp_path("export.safetensors");
        export_safetensors(&net, &p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let back = import_safetensors(&cfg, &bytes, &dev).unwrap();
        let x = Tensor::<4>::random([2, 1, 8, 8], Distribution::Default, &dev);
        let want = net
            .forward(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(
            want,
            back.forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        );
        let header = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned();
        assert!(
            header.contains("running_mean") && header.contains("running_var"),
            "{header}"
        );
        let other = PlainCnnConfig {
            channels: vec![4, 6],
            ..cfg
        };
        assert!(import_safetensors(&other, &bytes, &dev).is_err());
        assert!(import_safetensors(
            &PlainCnnConfig {
                batch_norm: false,
                ..PlainCnnConfig {
                    image_size: 8,
                    channels: vec![4, 8],
                    ..PlainCnnConfig::fashion_mnist(true)
                }
            },
            &bytes,
            &dev
        )
        .is_err());
    }
}
