//! Run-time choice of the compute device.
//!
//! Library code is device-generic (`Tensor<D>` and modules take a `&Device`); binaries and tests
//! pick one here. `flex` (pure-Rust CPU, fast) is the default, `ndarray` (burn-ndarray, CPU) stays
//! supported, and `wgpu` (GPU through Vulkan/Metal/DX12, or Mesa's lavapipe on a CPU) exists
//! when the crate is built with the `wgpu` feature.

use burn::tensor::{Device, Tensor};

use crate::error::{Error, Result};

/// A compute backend that can be chosen at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackendKind {
    /// burn-flex: pure-Rust CPU execution (default).
    #[default]
    Flex,
    /// burn-ndarray: CPU execution through `ndarray` (deprecated upstream, slower backward).
    NdArray,
    /// burn-wgpu on the default adapter (requires the `wgpu` cargo feature).
    Wgpu,
}

impl BackendKind {
    /// Every backend, compiled in or not.
    pub const ALL: [BackendKind; 3] = [BackendKind::Flex, BackendKind::NdArray, BackendKind::Wgpu];

    /// Name on the command line: `flex`, `ndarray`, `wgpu`.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::NdArray => "ndarray",
            BackendKind::Wgpu => "wgpu",
        }
    }

    /// Parses `flex`, `ndarray` or `wgpu`.
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "flex" | "cpu" => Ok(BackendKind::Flex),
            "ndarray" => Ok(BackendKind::NdArray),
            "wgpu" | "gpu" => Ok(BackendKind::Wgpu),
            _ => Err(Error::UnknownName {
                what: "backend",
                name: name.to_string(),
                expected: "flex, ndarray, wgpu".into(),
            }),
        }
    }

    /// Whether this backend is compiled into this build.
    pub fn is_available(self) -> bool {
        match self {
            BackendKind::Flex | BackendKind::NdArray => true,
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The backends compiled into this build.
    pub fn available() -> Vec<BackendKind> {
        Self::ALL.into_iter().filter(|b| b.is_available()).collect()
    }

    /// The plain (inference) device, or an error if the backend is not compiled in.
    pub fn try_device(self) -> Result<Device> {
        match self {
            BackendKind::Flex => Ok(Device::flex()),
            #[allow(deprecated)]
            BackendKind::NdArray => Ok(Device::ndarray()),
            BackendKind::Wgpu => wgpu_device(),
        }
    }

    /// The plain (inference) device.
    ///
    /// # Panics
    /// If the backend is not compiled in; use [`BackendKind::try_device`] for user input.
    #[track_caller]
    pub fn device(self) -> Device {
        match self.try_device() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    /// The same device with autodiff enabled (needed for gradients and pullbacks).
    ///
    /// # Panics
    /// If the backend is not compiled in; use [`BackendKind::try_device`] for user input.
    #[track_caller]
    pub fn autodiff_device(self) -> Device {
        self.device().autodiff()
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    Err(Error::BackendUnavailable {
        name: "wgpu".into(),
        reason: "this build has no GPU support; rebuild with `--features wgpu`".into(),
    })
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BackendKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        BackendKind::parse(s)
    }
}

/// Reads a float tensor back to the host as a flat `Vec<f32>` (row-major).
///
/// # Shapes
/// - `t`: any shape; output: `t.shape().num_elements()` values.
pub fn tensor_to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    let data = t
        .try_into_data()
        .map_err(|e| Error::TensorRead(format!("{e:?}")))?;
    let data = if data.dtype() == burn::tensor::DType::F32 {
        data
    } else {
        data.convert::<f32>()
    };
    data.try_to_vec::<f32>()
        .map_err(|e| Error::TensorRead(format!("{e:?}")))
}

/// [`tensor_to_vec`], widened to `f64`.
///
/// # Shapes
/// - `t`: any shape; output: `t.shape().num_elements()` values.
pub fn tensor_to_f64<const D: usize>(t: Tensor<D>) -> Result<Vec<f64>> {
    Ok(tensor_to_vec(t)?.into_iter().map(f64::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names() {
        for b in BackendKind::ALL {
            assert_eq!(BackendKind::parse(b.name()).unwrap(), b);
        }
        assert!(BackendKind::parse("cuda9").is_err());
        assert!(BackendKind::Flex.is_available() && BackendKind::NdArray.is_available());
        assert_eq!(BackendKind::Wgpu.is_available(), cfg!(feature = "wgpu"));
        if !cfg!(feature = "wgpu") {
            let e = BackendKind::Wgpu.try_device().unwrap_err().to_string();
            assert!(e.contains("--features wgpu"), "{e}");
        }
    }
}
