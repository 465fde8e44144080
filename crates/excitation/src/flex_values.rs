//! The raw values of flex tensors, for this crate's custom operations (`conv_op`, `linear_op`,
//! `elementwise_op`, `pool_op`), which compute on `f32` slices.

use burn::backend::tensor::FloatTensor;
use burn::backend::Flex;

/// `t` itself if its values are laid out contiguously, else a contiguous copy.
pub(crate) fn contiguous(t: FloatTensor<Flex>) -> FloatTensor<Flex> {
    if t.is_contiguous() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The values of a contiguous `f32` flex tensor, borrowed (the operations admit only `f32`
/// tensors and check slice lengths against the shapes).
///
/// # Panics
/// If `t` is not a contiguous `f32` tensor.
pub(crate) fn values(t: &FloatTensor<Flex>) -> &[f32] {
    t.as_slice::<f32>().expect("contiguous f32 tensor")
}
