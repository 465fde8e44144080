//! Writes what the command line needs to run without downloads: a tiny model's weights in
//! torchvision's layout, filled by the deterministic formula of the PyTorch parity fixtures
//! (`excitation::synthetic`, spec in docs/reference-fixtures.md), and a few PNG test images.
//! The weights are untrained: pictures drawn with them show the layout of the outputs, not
//! meaningful explanations.
//!
//! ```sh
//! cargo run --release --example tiny_weights -- tiny-vgg out/tiny      # then:
//! cargo run --release -- ascent --model tiny-vgg --weights out/tiny/tiny-vgg.safetensors \
//!     --images out/tiny/images --classes 0,3,7 --out out/tiny/ascent
//! ```

use std::path::PathBuf;

use burn::tensor::Device;
use excitation::densenet::DenseNetConfig;
use excitation::gate::GradientMode;
use excitation::resnet::{BlockKind, ResNetConfig};
use excitation::synthetic::{synthetic_state_dict, write_safetensors};
use excitation::vgg::VggConfig;
use excitation::weights::expected_shapes;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, out] = args.as_slice() else {
        return Err("usage: tiny_weights <tiny-resnet|tiny-vgg|tiny-densenet> <out-folder>".into());
    };
    let device = Device::flex();
    let mode = GradientMode::Vanilla;
    let shapes = match model.as_str() {
        "tiny-resnet" => {
            expected_shapes(&ResNetConfig::tiny(BlockKind::Bottleneck).init(&device, mode)?)
        }
        "tiny-vgg" => expected_shapes(&VggConfig::tiny(true).init(&device, mode)?),
        "tiny-densenet" => expected_shapes(&DenseNetConfig::tiny().init(&device, mode)?),
        other => {
            return Err(format!(
                "unknown model `{other}`; use tiny-resnet, tiny-vgg or tiny-densenet"
            )
            .into())
        }
    };
    let out = PathBuf::from(out);
    std::fs::create_dir_all(out.join("images"))?;
    let entries: Vec<(String, Vec<usize>)> = shapes.into_iter().collect();
    let weights = out.join(format!("{model}.safetensors"));
    write_safetensors(&synthetic_state_dict(&entries)?, &weights)?;
    println!("wrote {}", weights.display());
    // Test images: a disc, stripes and a gradient, of different sizes.
    let disc = image::RgbImage::from_fn(256, 256, |x, y| {
        let (dx, dy) = (x as f32 - 128.0, y as f32 - 110.0);
        if dx * dx + dy * dy < 70.0 * 70.0 {
            image::Rgb([220, 80, 40])
        } else {
            image::Rgb([40, 90, 160])
        }
    });
    let stripes = image::RgbImage::from_fn(320, 240, |x, y| {
        let v = if (x / 20 + y / 40) % 2 == 0 { 230 } else { 30 };
        image::Rgb([v, v, 120])
    });
    let gradient = image::RgbImage::from_fn(240, 300, |x, y| {
        image::Rgb([(x % 256) as u8, (y * 255 / 300) as u8, 128])
    });
    for (name, img) in [("disc", disc), ("stripes", stripes), ("gradient", gradient)] {
        let path = out.join("images").join(format!("{name}.png"));
        img.save(&path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
