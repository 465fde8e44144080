//! ImageNet inputs for the paper's visualisations (Section 6, Figures 1–4): reading and
//! preprocessing images exactly as the paper's code does, and the 1000 class names.
//!
//! - [`images`]: JPEG/PNG files, folders and ImageFolder trees → `[3, 224, 224]` tensors
//!   in `[-1, 1]` (the paper's `ConditionalTransform`).
//! - [`classes`]: the 1000 ImageNet class names (torchvision's), lookup by index or name,
//!   the Imagenette → ImageNet mapping and the paper's default target set.

pub mod classes;
pub mod images;
