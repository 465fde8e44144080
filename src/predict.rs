//! Forward passes for the summaries: logits and top-5 predictions of every image.

use burn::tensor::Tensor;
use excitation::backend::tensor_to_vec;
use excitation::classifier::Classifier;
use excitation::imagenet::images::ImageSet;
use serde_json::{json, Value};

use crate::error::Result;
use crate::model::ModelInfo;

/// The logits of every image, row-major `[n, num_classes]`, computed `batch_size` images
/// at a time (plain device, no autodiff).
///
/// # Shapes
/// `images`: `[n, 3, h, w]`; output `n · num_classes` values.
pub fn logits<M: Classifier>(model: &M, images: &Tensor<4>, batch_size: usize) -> Result<Vec<f32>> {
    let n = images.dims()[0];
    let mut out = Vec::with_capacity(n * model.num_classes());
    let mut start = 0;
    while start < n {
        let end = (start + batch_size.max(1)).min(n);
        let chunk = images.clone().slice(start..end);
        out.extend(tensor_to_vec(model.forward(chunk))?);
        start = end;
    }
    Ok(out)
}

/// Per image: the logits, and the top-5 classes by logit.
pub struct Predictions {
    /// `[n, num_classes]`, row-major.
    pub logits: Vec<f32>,
    /// Number of classes.
    pub num_classes: usize,
}

impl Predictions {
    /// The `k` highest-scoring classes of image `i`, best first.
    pub fn top(&self, i: usize, k: usize) -> Vec<(usize, f32)> {
        let row = &self.logits[i * self.num_classes..(i + 1) * self.num_classes];
        let mut idx: Vec<usize> = (0..row.len()).collect();
        idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        idx.into_iter().take(k).map(|c| (c, row[c])).collect()
    }
}

/// Logits and predictions of every image.
///
/// # Shapes
/// `images`: `[n, 3, h, w]`.
pub fn predictions<M: Classifier>(
    model: &M,
    images: &Tensor<4>,
    batch_size: usize,
) -> Result<Predictions> {
    Ok(Predictions {
        logits: logits(model, images, batch_size)?,
        num_classes: model.num_classes(),
    })
}

/// One JSON object per image: name, path, folder, top-5 predictions.
pub fn predictions_json(set: &ImageSet, preds: &Predictions, info: &ModelInfo) -> Vec<Value> {
    set.images
        .iter()
        .enumerate()
        .map(|(i, img)| {
            json!({
                "name": img.name,
                "path": img.path,
                "folder": img.folder,
                "top5": preds.top(i, 5).iter().map(|&(c, l)| json!({"class": c, "name": info.class_name(c), "logit": l})).collect::<Vec<_>>(),
            })
        })
        .collect()
}
