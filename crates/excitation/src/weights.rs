//! torchvision weights: loading `.pth` checkpoints and `.safetensors` exports, and writing a
//! model's state dict in torchvision naming.
//!
//! Every key is accounted for. Before anything is applied, the file's keys are compared with the
//! model's torchvision state dict: a missing key, an unexpected key (BatchNorm's
//! `num_batches_tracked` excepted, which has no burn counterpart) or a tensor of another shape
//! is an [`Error::WeightMismatch`] listing each key with the shape found and the shape expected
//! (torchvision layout: Linear weights `[out, in]`). A file that is neither a PyTorch
//! checkpoint (ZIP or legacy pickle) nor a safetensors file is [`Error::NotACheckpoint`]; one that
//! starts like a checkpoint but cannot be read is [`Error::CorruptCheckpoint`].
//!
//! DenseNet's legacy key names (`denselayer1.norm.1.weight`) are read as torchvision reads them.
//! VGG's `features.N` indices are kept as they are (no contiguous renumbering).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{
    BurnToPyTorchAdapter, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, PytorchStore,
    SafetensorsStore,
};
use burn::tensor::{DType, TensorData};

use crate::classifier::Classifier;
use crate::error::{Error, Result, WeightProblem};

/// On-disk weight formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// `torch.save` output: a ZIP archive (PyTorch ≥ 1.6) or a legacy pickle stream.
    PyTorch,
    /// A safetensors file.
    Safetensors,
}

/// A tensor of a state dict, in torchvision naming and layout, as f32.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// torchvision key, e.g. `layer1.0.bn1.running_mean`.
    pub name: String,
    /// Shape (torchvision layout).
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// Detects the format of a weight file from its first bytes.
pub fn detect_format(path: &Path) -> Result<WeightFormat> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut head = [0u8; 9];
    let n = read_up_to(&mut f, &mut head).map_err(io)?;
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(WeightFormat::PyTorch);
    }
    // Legacy torch.save: a pickle (protocol 2) whose first object is the magic number.
    if head.starts_with(&[0x80, 0x02]) {
        return Ok(WeightFormat::PyTorch);
    }
    if n == 9 && head[8] == b'{' {
        let header_len = u64::from_le_bytes(head[..8].try_into().unwrap_or([0; 8]));
        if header_len.saturating_add(8) <= len {
            return Ok(WeightFormat::Safetensors);
        }
        return Err(Error::CorruptCheckpoint {
            path: path.to_path_buf(),
            reason: format!(
                "safetensors header announces {header_len} bytes but the file has only {len}"
            ),
        });
    }
    let reason = if len == 0 {
        "the file is empty".to_string()
    } else {
        format!(
            "its first bytes {:02x?} are neither a ZIP/pickle PyTorch checkpoint nor a safetensors \
             header; download torchvision's `.pth` file or export a `.safetensors`",
            head
        )
    };
    Err(Error::NotACheckpoint {
        path: path.to_path_buf(),
        reason,
    })
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

/// Reads every tensor of a weight file, keyed as in the file (no renaming, no renumbering).
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, PackTensor>> {
    let corrupt = |reason: String| Error::CorruptCheckpoint {
        path: path.to_path_buf(),
        reason,
    };
    let tensors = match detect_format(path)? {
        WeightFormat::PyTorch => {
            let mut store = PytorchStore::from_file(path).map_indices_contiguous(false);
            let all = store
                .get_all_tensors()
                .map_err(|e| corrupt(e.to_string()))?;
            all.clone()
        }
        WeightFormat::Safetensors => {
            let mut store = SafetensorsStore::from_file(path).map_indices_contiguous(false);
            let all = store
                .get_all_tensors()
                .map_err(|e| corrupt(e.to_string()))?;
            all.clone()
        }
    };
    // A state dict wrapped in a dict under "state_dict"/"model" is common; say so.
    if tensors.is_empty() {
        return Err(Error::NotACheckpoint {
            path: path.to_path_buf(),
            reason: "it holds no tensors at its top level (a training checkpoint that nests the \
                     state dict under a key is not supported; save `model.state_dict()` itself)"
                .into(),
        });
    }
    Ok(tensors)
}

/// The model's state dict in torchvision naming: key → shape (torchvision layout).
pub fn expected_shapes<M: Classifier>(model: &M) -> BTreeMap<String, Vec<usize>> {
    model
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|t| (model.torch_key(&t.name), t.shape.to_vec()))
        .collect()
}

/// The model's state dict in torchvision naming, with values (f32).
pub fn state_dict<M: Classifier>(model: &M) -> Result<Vec<NamedTensor>> {
    model
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|t| {
            let name = model.torch_key(&t.name);
            let shape = t.shape.to_vec();
            let dtype = t.dtype;
            let bytes = t
                .into_bytes()
                .map_err(|e| Error::TensorRead(format!("`{name}`: {e:?}")))?;
            let data = TensorData::from_bytes(bytes, shape.clone(), dtype);
            let values = if dtype == DType::F32 {
                data
            } else {
                data.convert::<f32>()
            }
            .try_to_vec::<f32>()
            .map_err(|e| Error::TensorRead(format!("`{name}`: {e:?}")))?;
            Ok(NamedTensor {
                name,
                shape,
                values,
            })
        })
        .collect()
}

fn is_ignorable(key: &str) -> bool {
    key.ends_with(".num_batches_tracked") || key == "num_batches_tracked"
}

fn dtype_name(d: DType) -> String {
    format!("{d:?}")
}

/// Loads torchvision weights (`.pth` or `.safetensors`) into `model`, checking every key first.
///
/// The model keeps its gradient modes and stays frozen (eval mode).
pub fn load_weights<M: Classifier>(model: &mut M, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let file = read_tensors(path)?;
    apply_checked(model, file, path)
}

/// Loads an in-memory state dict in torchvision naming (e.g. synthetic weights), with the same
/// checks as [`load_weights`]; errors name the source `<memory>`.
pub fn load_state_dict<M: Classifier>(model: &mut M, tensors: &[NamedTensor]) -> Result<()> {
    let mut map = BTreeMap::new();
    for t in tensors {
        if t.shape.iter().product::<usize>() != t.values.len() {
            return Err(Error::InvalidShape {
                what: "state-dict tensor",
                found: t.shape.clone(),
                expected: format!("{} values for `{}`", t.values.len(), t.name),
            });
        }
        let data = TensorData::new(t.values.clone(), t.shape.clone());
        let pack = PackTensor::new(
            t.name.clone(),
            DType::F32,
            t.shape.clone(),
            None,
            data.into_bytes(),
        );
        map.insert(t.name.clone(), pack);
    }
    apply_checked(model, map, Path::new("<memory>"))
}

fn apply_checked<M: Classifier>(
    model: &mut M,
    file: BTreeMap<String, PackTensor>,
    path: &Path,
) -> Result<()> {
    let expected = expected_shapes(model);
    let mismatch = |problems| Error::WeightMismatch {
        path: path.to_path_buf(),
        problems,
    };

    let mut problems = Vec::new();
    let mut found: BTreeMap<String, PackTensor> = BTreeMap::new();
    for (key, tensor) in file {
        if is_ignorable(&key) {
            continue;
        }
        // Canonical torchvision key (reads DenseNet's legacy names).
        let canonical = model.torch_key(&model.burn_path(&key));
        if !expected.contains_key(&canonical) {
            problems.push(WeightProblem::Unexpected {
                key,
                found: tensor.shape.to_vec(),
            });
            continue;
        }
        found.insert(canonical, tensor);
    }
    for (key, shape) in &expected {
        match found.get(key) {
            None => problems.push(WeightProblem::Missing {
                key: key.clone(),
                expected: shape.clone(),
            }),
            Some(t) if t.shape.to_vec() != *shape => problems.push(WeightProblem::Shape {
                key: key.clone(),
                found: t.shape.to_vec(),
                expected: shape.clone(),
            }),
            Some(t) if !matches!(t.dtype, DType::F32 | DType::F64 | DType::F16 | DType::BF16) => {
                problems.push(WeightProblem::Dtype {
                    key: key.clone(),
                    found: dtype_name(t.dtype),
                })
            }
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(mismatch(problems));
    }

    // Rename to burn paths (torch parameter names: the adapter maps weight/bias → gamma/beta),
    // converting to f32 where needed.
    let mut tensors = Vec::with_capacity(found.len());
    for (key, t) in found {
        let burn_name = model.burn_path(&key);
        let t = if t.dtype == DType::F32 {
            let mut t = t;
            t.name = burn_name;
            t
        } else {
            let (_, dtype, shape, _, bytes) =
                t.into_parts().map_err(|e| Error::CorruptCheckpoint {
                    path: path.to_path_buf(),
                    reason: format!("`{key}`: {e:?}"),
                })?;
            let data = TensorData::from_bytes(bytes, shape.clone(), dtype).convert::<f32>();
            PackTensor::new(burn_name, DType::F32, shape, None, data.into_bytes())
        };
        tensors.push(t);
    }
    let n = tensors.len();
    let result = model.apply(tensors, None, Some(Box::new(PyTorchToBurnAdapter)), true);
    // The key check above makes these impossible unless burn's matching disagrees with ours.
    let mut problems = Vec::new();
    for (p, _) in &result.missing {
        problems.push(WeightProblem::Missing {
            key: model.torch_key(p),
            expected: vec![],
        });
    }
    for p in &result.unused {
        problems.push(WeightProblem::Unexpected {
            key: model.torch_key(p),
            found: vec![],
        });
    }
    for e in &result.errors {
        if let burn::store::ApplyError::ShapeMismatch {
            path: p,
            expected,
            found,
        } = e
        {
            problems.push(WeightProblem::Shape {
                key: model.torch_key(p),
                found: found.to_vec(),
                expected: expected.to_vec(),
            });
        } else {
            return Err(Error::CorruptCheckpoint {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
        }
    }
    if !problems.is_empty() || result.applied.len() != n {
        if problems.is_empty() {
            return Err(Error::CorruptCheckpoint {
                path: path.to_path_buf(),
                reason: format!("applied {} of {n} tensors", result.applied.len()),
            });
        }
        return Err(mismatch(problems));
    }
    Ok(())
}

/// Options for [`save_safetensors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveOptions {
    /// Also write BatchNorm's `num_batches_tracked` (int64 scalar 0) so that PyTorch's
    /// `load_state_dict(strict=True)` accepts the file (default true).
    pub num_batches_tracked: bool,
}

impl Default for SaveOptions {
    fn default() -> Self {
        Self {
            num_batches_tracked: true,
        }
    }
}

/// Writes the model's state dict, in torchvision naming and layout, to a safetensors file that
/// torchvision's `load_state_dict` and [`load_weights`] both accept.
pub fn save_safetensors<M: Classifier>(
    model: &M,
    path: impl AsRef<Path>,
    options: SaveOptions,
) -> Result<()> {
    let path = path.as_ref();
    let tensors = state_dict(model)?;
    write_safetensors(&tensors, path, options)
}

/// Writes named f32 tensors (torchvision naming) to a safetensors file.
pub fn write_safetensors(tensors: &[NamedTensor], path: &Path, options: SaveOptions) -> Result<()> {
    use safetensors::tensor::{Dtype, TensorView};
    let fail = |reason: String| Error::WriteWeights {
        path: PathBuf::from(path),
        reason,
    };
    let mut bufs: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut names = BTreeSet::new();
    for t in tensors {
        if t.shape.iter().product::<usize>() != t.values.len() {
            return Err(fail(format!(
                "`{}` has {} values for shape {:?}",
                t.name,
                t.values.len(),
                t.shape
            )));
        }
        if !names.insert(t.name.clone()) {
            return Err(fail(format!("key `{}` appears twice", t.name)));
        }
        let bytes: Vec<u8> = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        bufs.push((t.name.clone(), Dtype::F32, t.shape.clone(), bytes));
        if options.num_batches_tracked {
            if let Some(prefix) = t.name.strip_suffix(".running_mean") {
                bufs.push((
                    format!("{prefix}.num_batches_tracked"),
                    Dtype::I64,
                    vec![],
                    0i64.to_le_bytes().to_vec(),
                ));
            }
        }
    }
    let views = bufs
        .iter()
        .map(|(n, d, s, b)| {
            TensorView::new(*d, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| fail(format!("`{n}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize_to_file(views, None, path).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor_to_vec, BackendKind};
    use crate::densenet::DenseNetConfig;
    use crate::gate::GradientMode;
    use crate::resnet::{BlockKind, ResNetConfig};
    use crate::testing::{fill, images, temp_path, TempPath};
    use crate::vgg::VggConfig;

    fn tiny_resnet() -> crate::resnet::ResNet {
        let dev = BackendKind::Flex.device();
        ResNetConfig::tiny(BlockKind::Bottleneck)
            .init(&dev, GradientMode::Vanilla)
            .unwrap()
    }

    fn logits<M: Classifier>(m: &M) -> Vec<f32> {
        let dev = BackendKind::Flex.device();
        tensor_to_vec(m.forward(images(2, 32, 32, 5, &dev))).unwrap()
    }

    fn round_trip<M: Classifier>(mut a: M, mut b: M, name: &str) {
        fill(&mut a, 42);
        let path = temp_path(name);
        save_safetensors(&a, &path, SaveOptions::default()).unwrap();
        assert_eq!(detect_format(&path).unwrap(), WeightFormat::Safetensors);
        load_weights(&mut b, &path).unwrap();
        assert_eq!(state_dict(&a).unwrap(), state_dict(&b).unwrap(), "{name}");
        assert_eq!(logits(&a), logits(&b), "{name}");
        // And the loaded model really changed: a fresh one differs.
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn safetensors_round_trip_every_family() {
        let dev = BackendKind::Flex.device();
        let v = GradientMode::Vanilla;
        for block in [BlockKind::Basic, BlockKind::Bottleneck] {
            let c = ResNetConfig::tiny(block);
            round_trip(
                c.init(&dev, v).unwrap(),
                c.init(&dev, v).unwrap(),
                &format!("resnet-{block:?}.safetensors"),
            );
        }
        for bn in [false, true] {
            let c = VggConfig::tiny(bn);
            round_trip(
                c.init(&dev, v).unwrap(),
                c.init(&dev, v).unwrap(),
                &format!("vgg-{bn}.safetensors"),
            );
        }
        let c = DenseNetConfig::tiny();
        round_trip(
            c.init(&dev, v).unwrap(),
            c.init(&dev, v).unwrap(),
            "densenet.safetensors",
        );
    }

    #[test]
    fn loading_changes_the_model_and_keeps_it_frozen() {
        let ad = BackendKind::Flex.autodiff_device();
        let init = || {
            ResNetConfig::tiny(BlockKind::Basic)
                .init(&ad, GradientMode::Vanilla)
                .unwrap()
        };
        let mut a = init();
        fill(&mut a, 1);
        let mut b = init();
        fill(&mut b, 2);
        assert_ne!(logits(&a), logits(&b));
        let path = temp_path("frozen.safetensors");
        save_safetensors(&a, &path, SaveOptions::default()).unwrap();
        load_weights(&mut b, &path).unwrap();
        assert_eq!(logits(&a), logits(&b));
        assert!(
            !b.bn1.training.is_enabled(),
            "BatchNorm must stay in eval mode"
        );
        assert!(
            !b.conv1.weight.val().is_require_grad(),
            "parameters must stay frozen"
        );
        // The check above can fail: an unfrozen copy does require gradients.
        let u = burn::module::Module::unfreeze(b.clone());
        assert!(u.conv1.weight.val().is_require_grad() && u.bn1.training.is_enabled());
    }

    fn write_named(tensors: &[NamedTensor], name: &str, nbt: bool) -> TempPath {
        let path = temp_path(name);
        write_safetensors(
            tensors,
            &path,
            SaveOptions {
                num_batches_tracked: nbt,
            },
        )
        .unwrap();
        path
    }

    fn mismatch_problems(e: Error) -> Vec<WeightProblem> {
        match e {
            Error::WeightMismatch { problems, .. } => problems,
            other => panic!("expected WeightMismatch, got {other}"),
        }
    }

    #[test]
    fn missing_unexpected_and_misshaped_keys_are_named() {
        let mut a = tiny_resnet();
        fill(&mut a, 3);
        let sd = state_dict(&a).unwrap();

        // Missing.
        let removed = sd
            .iter()
            .find(|t| t.name == "layer2.0.downsample.1.running_var")
            .unwrap()
            .clone();
        let less: Vec<_> = sd
            .iter()
            .filter(|t| t.name != removed.name)
            .cloned()
            .collect();
        let path = write_named(&less, "missing.safetensors", true);
        let err = load_weights(&mut tiny_resnet(), &path).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("layer2.0.downsample.1.running_var") && msg.contains("missing"),
            "{msg}"
        );
        assert_eq!(
            mismatch_problems(err),
            vec![WeightProblem::Missing {
                key: removed.name.clone(),
                expected: removed.shape.clone()
            }]
        );

        // Unexpected.
        let mut more = sd.clone();
        more.push(NamedTensor {
            name: "layer9.0.conv1.weight".into(),
            shape: vec![2, 2],
            values: vec![0.0; 4],
        });
        let path = write_named(&more, "unexpected.safetensors", true);
        let err = load_weights(&mut tiny_resnet(), &path).unwrap_err();
        assert!(err.to_string().contains("layer9.0.conv1.weight"), "{err}");
        assert_eq!(
            mismatch_problems(err),
            vec![WeightProblem::Unexpected {
                key: "layer9.0.conv1.weight".into(),
                found: vec![2, 2]
            }]
        );

        // Mis-shaped: fc.weight given transposed.
        let mut bad = sd.clone();
        let fc = bad.iter_mut().find(|t| t.name == "fc.weight").unwrap();
        let expected = fc.shape.clone();
        fc.shape = vec![expected[1], expected[0]];
        let path = write_named(&bad, "shape.safetensors", true);
        let err = load_weights(&mut tiny_resnet(), &path).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!(
                "`fc.weight` has shape {:?}, expected {:?}",
                [expected[1], expected[0]],
                expected
            )),
            "{msg}"
        );

        // num_batches_tracked may be present or absent.
        let path = write_named(&sd, "no-nbt.safetensors", false);
        load_weights(&mut tiny_resnet(), &path).unwrap();
    }

    #[test]
    fn wrong_family_lists_every_problem() {
        let mut a = tiny_resnet();
        fill(&mut a, 3);
        let path = temp_path("family.safetensors");
        save_safetensors(&a, &path, SaveOptions::default()).unwrap();
        let dev = BackendKind::Flex.device();
        let mut vgg = VggConfig::tiny(true)
            .init(&dev, GradientMode::Vanilla)
            .unwrap();
        let problems = mismatch_problems(load_weights(&mut vgg, &path).unwrap_err());
        let n_expected = expected_shapes(&vgg).len();
        let n_file = state_dict(&a).unwrap().len();
        let missing = problems
            .iter()
            .filter(|p| matches!(p, WeightProblem::Missing { .. }))
            .count();
        let unexpected = problems
            .iter()
            .filter(|p| matches!(p, WeightProblem::Unexpected { .. }))
            .count();
        assert_eq!((missing, unexpected), (n_expected, n_file));
    }

    #[test]
    fn non_checkpoints_and_truncated_files_are_clear_errors() {
        let text = temp_path("notes.txt");
        std::fs::write(&text, "this is not a checkpoint\n").unwrap();
        let err = load_weights(&mut tiny_resnet(), &text).unwrap_err();
        assert!(matches!(err, Error::NotACheckpoint { .. }), "{err}");
        let empty = temp_path("empty.pth");
        std::fs::write(&empty, b"").unwrap();
        let err = load_weights(&mut tiny_resnet(), &empty).unwrap_err();
        assert!(
            matches!(err, Error::NotACheckpoint { .. }) && err.to_string().contains("empty"),
            "{err}"
        );
        let err = load_weights(&mut tiny_resnet(), temp_path("does-not-exist.pth")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");

        let mut a = tiny_resnet();
        fill(&mut a, 3);
        let good = temp_path("good.safetensors");
        save_safetensors(&a, &good, SaveOptions::default()).unwrap();
        let bytes = std::fs::read(&good).unwrap();
        // Cut in the data section, then inside the header.
        let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        for (name, cut) in [
            ("cut-data.safetensors", bytes.len() - 100),
            ("cut-header.safetensors", 8 + header / 2),
        ] {
            let p = temp_path(name);
            std::fs::write(&p, &bytes[..cut]).unwrap();
            let err = load_weights(&mut tiny_resnet(), &p).unwrap_err();
            assert!(
                matches!(err, Error::CorruptCheckpoint { .. }),
                "{name}: {err}"
            );
        }
        // Looks like a ZIP (a .pth) but is not one.
        let p = temp_path("fake.pth");
        std::fs::write(&p, b"PK\x03\x04 definitely not a zip archive").unwrap();
        let err = load_weights(&mut tiny_resnet(), &p).unwrap_err();
        assert!(matches!(err, Error::CorruptCheckpoint { .. }), "{err}");
    }

    #[test]
    fn densenet_legacy_keys_load() {
        let dev = BackendKind::Flex.device();
        let cfg = DenseNetConfig::tiny();
        let mut a = cfg.init(&dev, GradientMode::Vanilla).unwrap();
        fill(&mut a, 9);
        let legacy: Vec<NamedTensor> = state_dict(&a)
            .unwrap()
            .into_iter()
            .map(|mut t| {
                for (new, old) in [
                    ("norm1.", "norm.1."),
                    ("norm2.", "norm.2."),
                    ("conv1.", "conv.1."),
                    ("conv2.", "conv.2."),
                ] {
                    if t.name.contains("denselayer") {
                        t.name = t.name.replace(new, old);
                    }
                }
                t
            })
            .collect();
        assert!(legacy
            .iter()
            .any(|t| t.name == "features.denseblock1.denselayer1.norm.1.weight"));
        let path = write_named(&legacy, "legacy.safetensors", true);
        let mut b = cfg.init(&dev, GradientMode::Vanilla).unwrap();
        load_weights(&mut b, &path).unwrap();
        assert_eq!(logits(&a), logits(&b));
    }

    #[test]
    fn float64_files_are_converted() {
        use safetensors::tensor::{Dtype, TensorView};
        let mut a = tiny_resnet();
        fill(&mut a, 4);
        let sd = state_dict(&a).unwrap();
        let bufs: Vec<(String, Vec<usize>, Vec<u8>)> = sd
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    t.shape.clone(),
                    t.values
                        .iter()
                        .flat_map(|v| (*v as f64).to_le_bytes())
                        .collect(),
                )
            })
            .collect();
        let views: Vec<_> = bufs
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F64, s.clone(), b).unwrap(),
                )
            })
            .collect();
        let path = temp_path("f64.safetensors");
        safetensors::serialize_to_file(views, None, &path).unwrap();
        let mut b = tiny_resnet();
        load_weights(&mut b, &path).unwrap();
        assert_eq!(state_dict(&a).unwrap(), state_dict(&b).unwrap());
    }

    /// torchvision-written fixtures (see `fixtures/weights/make_fixtures.py`): a `.pth` in ZIP
    /// format with DenseNet's legacy key names, one in the legacy pickle format, and the same
    /// values as safetensors, all load to the same parameters.
    #[test]
    fn torchvision_pth_files_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/weights");
        let dev = BackendKind::Flex.device();
        let load = |file: &str| {
            let path = dir.join(file);
            let mut m = DenseNetConfig::tiny()
                .init(&dev, GradientMode::Vanilla)
                .unwrap();
            load_weights(&mut m, &path).unwrap_or_else(|e| panic!("{file}: {e}"));
            (m.clone(), state_dict(&m).unwrap())
        };
        assert_eq!(
            detect_format(&dir.join("densenet_tiny.pth")).unwrap(),
            WeightFormat::PyTorch
        );
        let (m, reference) = load("densenet_tiny.safetensors");
        let (_, zip) = load("densenet_tiny.pth");
        let (_, pickle) = load("densenet_tiny_legacy_pickle.pth");
        assert_eq!(zip, reference);
        assert_eq!(pickle, reference);
        // Values really came from the file: a fresh model differs.
        let fresh = DenseNetConfig::tiny()
            .init(&dev, GradientMode::Vanilla)
            .unwrap();
        assert_ne!(state_dict(&fresh).unwrap(), reference);
        assert!(logits(&m).iter().all(|v| v.is_finite()));
        // A truncated .pth is a clear error.
        let bytes = std::fs::read(dir.join("densenet_tiny.pth")).unwrap();
        let cut = temp_path("cut.pth");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let mut m2 = DenseNetConfig::tiny()
            .init(&dev, GradientMode::Vanilla)
            .unwrap();
        let err = load_weights(&mut m2, &cut).unwrap_err();
        assert!(matches!(err, Error::CorruptCheckpoint { .. }), "{err}");
    }
}
