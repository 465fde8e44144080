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

/// wgpu's default adapter as cubecl names it (`Device::wgpu(DefaultDevice)`: the default
/// adapter, graphics API chosen by the runtime), or cubecl's words for why there is none.
/// The adapters are enumerated once per process; nothing is initialised.
#[cfg(feature = "wgpu")]
fn wgpu_adapter() -> &'static std::result::Result<burn::cubecl::Device, String> {
    use burn::cubecl::device::WgpuDeviceKind;
    use std::sync::OnceLock;

    static ADAPTER: OnceLock<std::result::Result<burn::cubecl::Device, String>> = OnceLock::new();
    ADAPTER.get_or_init(|| {
        burn::cubecl::Device::wgpu(WgpuDeviceKind::DefaultDevice).map_err(|e| e.to_string())
    })
}

/// burn's wgpu device on the default adapter, or an error saying how to get an adapter.
///
/// burn's `Device::wgpu` is lazy: on a machine without a usable driver the first operation
/// would panic on cubecl's device thread ("Unable to acquire wgpu device: AdapterUnavailable").
/// So the adapter is looked up here first ([`wgpu_adapter`]).
#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    match wgpu_adapter() {
        Ok(_) => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        Err(found) => Err(Error::BackendUnavailable {
            name: "wgpu".into(),
            reason: format!(
                "wgpu found no graphics adapter ({found}). On Linux it needs a Vulkan driver \
                 (or an EGL one): the GPU vendor's (NVIDIA's ICD, with `libvulkan1` and the GL \
                 vendor libraries), or Mesa's CPU fallback lavapipe (`apt install \
                 mesa-vulkan-drivers libvulkan1`); `VK_DRIVER_FILES=/path/to/icd.json` names a \
                 driver the Vulkan loader does not find by itself. Or use the flex (CPU) backend"
            ),
        }),
    }
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    Err(Error::BackendUnavailable {
        name: "wgpu".into(),
        reason: "this build has no GPU support; rebuild with `--features wgpu`".into(),
    })
}

/// Makes the calling thread one of the workers of rayon's global pool, which the CPU backends'
/// parallel operations run on. Call it first thing in `main`, before anything uses rayon
/// (it fails if the global pool exists already). `RAYON_NUM_THREADS` (default: one per CPU)
/// still counts all the pool's threads, this one included.
///
/// Why: a parallel operation started from a thread outside the pool is handed to the pool
/// while that thread sleeps until it is done, two context switches per operation: 1 600–2 600
/// per ResNet50 batch-1 pullback on 2 cores, 90–200 with this thread in the pool
/// (docs/performance.md "Session 8"). Inside the pool the caller takes its share of the work
/// instead, as the first thread of an OpenMP team (PyTorch's CPU pool) does.
///
/// # Errors
/// rayon's error if the global pool was built already.
pub fn join_rayon_pool() -> std::result::Result<(), rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global()
}

/// The largest buffer, in bytes, that one GPU kernel can bind on `device`, where there is such a
/// limit: on wgpu, the driver's `max_storage_buffer_binding_size` (128 MiB on Mesa's lavapipe,
/// about 4 GiB on NVIDIA's and AMD's Vulkan drivers) as cubecl reads it; `None` on the CPU
/// backends. A tensor over it makes wgpu panic on its device thread, so models check their
/// largest parameters against it first ([`ensure_fits`]).
pub fn max_binding_bytes(device: &Device) -> Option<u64> {
    wgpu_max_binding_bytes(device)
}

#[cfg(feature = "wgpu")]
fn wgpu_max_binding_bytes(device: &Device) -> Option<u64> {
    if device.clone().inner() != wgpu_device().ok()? {
        return None;
    }
    // The device that `Device::wgpu(DeviceKind::DefaultDevice)` names; cubecl keeps one client
    // per device, so this reads the properties of the runtime that the tensors use.
    let wgpu = wgpu_adapter().as_ref().ok()?;
    Some(wgpu.client().properties().memory.max_page_size)
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_max_binding_bytes(_device: &Device) -> Option<u64> {
    None
}

/// Checks that a float32 parameter `what` of `shape` fits in one buffer binding of `device`
/// ([`max_binding_bytes`]); an error naming it, its size, the limit and the fix otherwise.
pub fn ensure_fits(device: &Device, what: &str, shape: &[usize]) -> Result<()> {
    check_fits(what, shape, max_binding_bytes(device))
}

/// [`ensure_fits`] against an explicit `limit` (`None`: no limit).
fn check_fits(what: &str, shape: &[usize], limit: Option<u64>) -> Result<()> {
    let bytes = shape.iter().product::<usize>() as u64 * 4;
    match limit {
        Some(limit) if bytes > limit => Err(Error::TooLargeForDevice {
            what: what.to_string(),
            shape: shape.to_vec(),
            bytes,
            limit,
        }),
        _ => Ok(()),
    }
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

    /// The size check: within the limit passes, one byte over fails with the parameter's name,
    /// size, the limit and the fix; the CPU backends have no limit.
    #[test]
    fn parameters_are_checked_against_the_binding_limit() {
        // VGG11_BN's `classifier.0.weight` against lavapipe's 128 MiB.
        let e = check_fits("classifier.0.weight", &[4096, 25088], Some(1 << 27)).unwrap_err();
        let m = e.to_string();
        for part in [
            "classifier.0.weight",
            "[4096, 25088]",
            "411041792 bytes",
            "134217728",
            "--device flex",
        ] {
            assert!(m.contains(part), "{part:?} missing from: {m}");
        }
        assert!(check_fits("w", &[1 << 25], Some(1 << 27)).is_ok());
        assert!(check_fits("w", &[(1 << 25) + 1], Some(1 << 27)).is_err());
        assert!(check_fits("w", &[4096, 25088], None).is_ok());
        for b in [BackendKind::Flex, BackendKind::NdArray] {
            assert_eq!(max_binding_bytes(&b.device()), None);
            assert_eq!(max_binding_bytes(&b.autodiff_device()), None);
        }
    }

    /// Without a graphics driver, asking for wgpu is an error that says what to install, not a
    /// panic at the first operation. Needs a process that sees no Vulkan and no EGL driver:
    /// `VK_DRIVER_FILES=/nonexistent __EGL_VENDOR_LIBRARY_FILENAMES=/nonexistent cargo test -p
    /// excitation --features wgpu --lib -- --ignored no_adapter` (docs/excitation.md).
    #[cfg(feature = "wgpu")]
    #[test]
    #[ignore = "needs a process without graphics drivers (see the comment above)"]
    fn no_adapter_is_an_error_naming_the_fix() {
        let e = BackendKind::Wgpu.try_device().unwrap_err().to_string();
        assert!(e.contains("no graphics adapter"), "{e}");
        assert!(e.contains("mesa-vulkan-drivers"), "{e}");
        assert!(e.contains("flex"), "{e}");
    }

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
