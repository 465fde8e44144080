//! The Rust synthetic weights and images are bit-identical to those PyTorch used for every
//! fixture (checksums of every tensor of torchvision's state dict), and the fixtures' key
//! lists are torchvision's.

mod parity_common;

use excitation::synthetic;
use parity_common::Fixture;

/// Tiny models: every tensor, every key.
#[test]
fn tiny_model_weights_and_images_match_pytorch_bit_for_bit() {
    for name in [
        "tiny_resnet",
        "tiny_resnet_basic",
        "tiny_vgg",
        "tiny_densenet",
    ] {
        let fx = Fixture::load(name);
        let sd = fx.synthetic_weights();
        assert!(sd.len() > 10, "{name}: only {} tensors", sd.len());
        let input = fx.tensor("input");
        let ours = synthetic::synthetic_images(fx.image_shape());
        assert_eq!(
            ours.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            input.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            "{name}: synthetic images"
        );
    }
}

/// The full models' key lists have torchvision's sizes. (Their 8–133 M synthetic values are
/// checked bit for bit against PyTorch's checksums in `parity.rs`, where they are generated
/// anyway to be written and loaded.)
#[test]
fn imagenet_fixtures_list_torchvision_state_dicts() {
    for (name, n_keys, n_params) in [
        ("resnet50", 320usize, 25_557_032usize),
        ("vgg11_bn", 62, 132_868_840),
        ("densenet121", 727, 7_978_856),
    ] {
        let fx = Fixture::load(name);
        let entries = fx.state_dict_entries();
        assert_eq!(
            entries.len(),
            n_keys,
            "{name}: number of state-dict entries"
        );
        let learnable: usize = entries
            .iter()
            .filter(|(k, _, _)| !k.contains("running_") && !k.ends_with("num_batches_tracked"))
            .map(|(_, s, _)| s.iter().product::<usize>())
            .sum();
        assert_eq!(learnable, n_params, "{name}: number of parameters");
    }
}
