//! Parity of this crate's frozen-gate network `f_π^(t)` with the exact core crate
//! (`pathspace`) on an MLP: a [`PlainCnn`](crate::small_nets::PlainCnn) on 1×1 images with
//! one block of conv units and no BatchNorm is an MLP (a padded 3×3 conv on a 1×1 input
//! uses only its centre tap), so its weights can be handed to `pathspace::Mlp` and
//! `f_π^(t)(X)` with `π = G̃^(s)` compared with `pathspace::stability::induced_values`
//! under `CheckpointGating::new(θ^(s), HardGating)` (an independent f64 implementation,
//! via pullbacks: `f_π(x) = ⟨v_π(x), x̃⟩`).

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};
    use ndarray::{Array1, Array2};
    use pathspace::gating::{CheckpointGating, HardGating};
    use pathspace::Mlp;

    use crate::small_nets::{GateMode, PlainCnn, PlainCnnConfig};

    fn floats(t: Tensor<1>) -> Vec<f64> {
        t.into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect()
    }

    /// The MLP of a 1×1-image plain CNN: weights are the conv centre taps.
    fn to_mlp(net: &PlainCnn) -> Mlp {
        let (weights, biases, head_w, head_b) = net.mlp_parameters().unwrap();
        let w: Vec<Array2<f64>> = weights
            .into_iter()
            .map(|(rows, cols, v)| {
                Array2::from_shape_vec((rows, cols), v.into_iter().map(f64::from).collect())
                    .unwrap()
            })
            .collect();
        let b: Vec<Array1<f64>> = biases
            .into_iter()
            .map(|v| Array1::from_vec(v.into_iter().map(f64::from).collect()))
            .collect();
        let (c, d, hv) = head_w;
        let head = Array2::from_shape_vec((c, d), hv.into_iter().map(f64::from).collect()).unwrap();
        Mlp::new(
            w,
            b,
            head,
            Array1::from_vec(head_b.into_iter().map(f64::from).collect()),
        )
        .unwrap()
    }

    #[test]
    fn frozen_gate_network_matches_core_crate_on_an_mlp() {
        let dev = Device::flex();
        let cfg = PlainCnnConfig {
            in_channels: 5,
            image_size: 1,
            channels: vec![7],
            convs_per_block: 3,
            batch_norm: false,
            num_classes: 4,
        };
        dev.seed(41);
        let net_t = cfg.init(&dev).unwrap();
        dev.seed(42);
        let net_s = cfg.init(&dev).unwrap();
        let x = Tensor::<4>::random([16, 5, 1, 1], Distribution::Normal(0.0, 1.0), &dev);
        let gates_s = net_s
            .forward_traced(x.clone(), GateMode::Relu)
            .unwrap()
            .gates()
            .unwrap();
        let f_pi = net_t
            .forward_traced(x.clone(), GateMode::Frozen(&gates_s))
            .unwrap()
            .logits;
        let f = net_t.forward(x.clone());
        let (mlp_t, mlp_s) = (to_mlp(&net_t), to_mlp(&net_s));
        let xs = Array2::from_shape_vec((16, 5), floats(x.flatten::<1>(0, 3))).unwrap();
        for class in 0..4 {
            let core_pi = pathspace::stability::induced_values(
                &mlp_t,
                &CheckpointGating::new(&mlp_s, HardGating),
                class,
                xs.view(),
            )
            .unwrap();
            let core_f =
                pathspace::stability::induced_values(&mlp_t, &HardGating, class, xs.view())
                    .unwrap();
            let ours_pi = floats(
                f_pi.clone()
                    .slice([0..16, class..class + 1])
                    .flatten::<1>(0, 1),
            );
            let ours_f = floats(
                f.clone()
                    .slice([0..16, class..class + 1])
                    .flatten::<1>(0, 1),
            );
            for n in 0..16 {
                assert!(
                    (ours_pi[n] - core_pi[n]).abs() < 1e-4 * (1.0 + core_pi[n].abs()),
                    "f_π class {class} x{n}: {} vs {}",
                    ours_pi[n],
                    core_pi[n]
                );
                assert!(
                    (ours_f[n] - core_f[n]).abs() < 1e-4 * (1.0 + core_f[n].abs()),
                    "f class {class} x{n}"
                );
            }
        }
        // The frozen gates of another checkpoint really change the function.
        let diff = (f_pi - f)
            .abs()
            .max()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()[0];
        assert!(diff > 1e-3, "{diff}");
    }
}
