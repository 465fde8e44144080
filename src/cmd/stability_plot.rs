//! `curtain stability plot`: figures from the CSV files of `curtain stability measure`
//! (drawn with the `figures` crate; numbers are read, never recomputed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figures::{draw_heat_map, draw_line_plot, Format, HeatMap, LinePlot, Series};

use super::stability::PlotArgs;
use super::CmdResult;

/// A CSV file as header names and rows of fields.
struct Csv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Csv {
    fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read `{}` ({e}); run `curtain stability measure` first",
                path.display()
            )
        })?;
        let mut lines = text.lines();
        let header = lines
            .next()
            .ok_or_else(|| format!("`{}` is empty", path.display()))?;
        Ok(Self {
            header: header.split(',').map(str::to_string).collect(),
            rows: lines
                .filter(|l| !l.is_empty())
                .map(|l| l.split(',').map(str::to_string).collect())
                .collect(),
        })
    }

    fn col(&self, name: &str) -> Result<usize, String> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("no column `{name}` in {:?}", self.header))
    }

    fn f(&self, row: &[String], name: &str) -> Result<f64, String> {
        let v = &row[self.col(name)?];
        if v.is_empty() {
            return Ok(f64::NAN);
        }
        v.parse::<f64>()
            .map_err(|e| format!("`{v}` in column `{name}`: {e}"))
    }

    fn s<'r>(&self, row: &'r [String], name: &str) -> Result<&'r str, String> {
        Ok(&row[self.col(name)?])
    }
}

fn parse_variant(v: &str) -> Result<(String, PathBuf), String> {
    let (label, path) = v
        .split_once('=')
        .ok_or_else(|| format!("variant `{v}` is not `label=folder`"))?;
    Ok((label.to_string(), PathBuf::from(path)))
}

/// Draws every figure for every variant, and the side-by-side comparisons.
pub fn plot(args: &PlotArgs) -> CmdResult {
    std::fs::create_dir_all(&args.out)?;
    let variants: Vec<(String, PathBuf)> = args
        .variants
        .iter()
        .map(|v| parse_variant(v))
        .collect::<Result<_, _>>()?;
    let mut written = Vec::new();
    let mut rho_last = LinePlot::new(
        "Hypothesis 1: ρ(f^(T)(X), f_π^(T)(X)) with π = gates of checkpoint s",
        "checkpoint step s",
        "Pearson ρ",
    );
    let mut agree_last = LinePlot::new(
        "Mean gate agreement with the final checkpoint",
        "checkpoint step t",
        "agreement",
    );
    for (label, dir) in &variants {
        // Gate agreement against the final checkpoint, per layer.
        let ga = Csv::read(&dir.join("gate_agreement.csv"))?;
        let last = ga
            .rows
            .iter()
            .map(|r| ga.f(r, "t_step"))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .fold(0.0, f64::max);
        let mut per_layer: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for r in &ga.rows {
            if ga.f(r, "t_step")? == last {
                per_layer
                    .entry(ga.s(r, "layer")?.to_string())
                    .or_default()
                    .push((ga.f(r, "s_step")?, ga.f(r, "agreement")?));
            }
        }
        let mut plot = LinePlot::new(
            format!("{label}: gate agreement of G^(t) with the final gates, per layer"),
            "checkpoint step t",
            "agreement",
        );
        let mut mean: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
        for (layer, pts) in &per_layer {
            plot = plot.with_series(Series::new(
                layer.clone(),
                pts.iter().map(|p| p.0).collect(),
                pts.iter().map(|p| p.1).collect(),
            ));
            for p in pts {
                let e = mean.entry(p.0 as u64).or_insert((0.0, 0));
                e.0 += p.1;
                e.1 += 1;
            }
        }
        let p = args.out.join(format!("gate_agreement_{label}.png"));
        draw_line_plot(&plot, &p, Format::Png)?;
        written.push(p);
        agree_last = agree_last.with_series(Series::new(
            label.clone(),
            mean.keys().map(|&k| k as f64).collect(),
            mean.values().map(|(s, n)| s / *n as f64).collect(),
        ));

        // ρ(s, t) heat map.
        let ind = Csv::read(&dir.join("induced.csv"))?;
        let mut steps: Vec<f64> = ind
            .rows
            .iter()
            .map(|r| ind.f(r, "t_step"))
            .collect::<Result<_, _>>()?;
        steps.sort_by(f64::total_cmp);
        steps.dedup();
        let idx = |v: f64| steps.iter().position(|&s| s == v).unwrap_or(0);
        let c = steps.len();
        let mut m = vec![f32::NAN; c * c];
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for r in &ind.rows {
            let (s, t, rho) = (ind.f(r, "s_step")?, ind.f(r, "t_step")?, ind.f(r, "rho")?);
            m[idx(s) * c + idx(t)] = rho as f32;
            if t == last {
                xs.push(s);
                ys.push(rho);
            }
        }
        let mut hm = HeatMap::new(&m, c, c)?;
        hm.title = format!("{label}: ρ(f^(t)(X), f_π^(t)(X)), π = G̃^(s)");
        hm.x_label = "t (parameters θ^(t))".into();
        hm.y_label = "s (frozen gates)".into();
        hm.row_labels = steps.iter().map(|s| format!("{s}")).collect();
        hm.col_labels = hm.row_labels.clone();
        hm.show_values = Some(2);
        let p = args.out.join(format!("induced_rho_{label}.png"));
        draw_heat_map(&hm, &p, Format::Png)?;
        written.push(p);
        rho_last = rho_last.with_series(Series::new(label.clone(), xs, ys));

        // Excitation correlation: diagonal s = t per temperature, and against the final Γ̃.
        // (Not measured for networks with skip connections: then the file is absent.)
        if dir.join("excitation_corr.csv").is_file() {
            let ex = Csv::read(&dir.join("excitation_corr.csv"))?;
            let mut diag: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            let mut vs_last: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            for r in &ex.rows {
                let (s, t, temp, mean) = (
                    ex.f(r, "s_step")?,
                    ex.f(r, "t_step")?,
                    ex.s(r, "temperature")?,
                    ex.f(r, "mean_rho")?,
                );
                if s == t {
                    diag.entry(format!("T = {temp}, s = t"))
                        .or_default()
                        .push((t, mean));
                }
                if t == last {
                    vs_last
                        .entry(format!("T = {temp}, Γ̃^(final) vs G̃^(s)"))
                        .or_default()
                        .push((s, mean));
                }
            }
            let mut plot = LinePlot::new(
                format!("{label}: mean over X of ρ(Γ̃^(t)(x), G̃^(s)(x))"),
                "checkpoint step",
                "mean Pearson ρ",
            );
            for (name, pts) in diag.into_iter().chain(vs_last) {
                plot = plot.with_series(Series::new(
                    name,
                    pts.iter().map(|p| p.0).collect(),
                    pts.iter().map(|p| p.1).collect(),
                ));
            }
            let p = args.out.join(format!("excitation_corr_{label}.png"));
            draw_line_plot(&plot, &p, Format::Png)?;
            written.push(p);
        }

        // Kernel machines (absent for networks with skip connections).
        if dir.join("kernel.csv").is_file() {
            let k = Csv::read(&dir.join("kernel.csv"))?;
            let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            for r in &k.rows {
                let step = k.f(r, "step")?;
                if step < 0.0 {
                    continue;
                }
                series
                    .entry(k.s(r, "kernel")?.to_string())
                    .or_default()
                    .push((step, k.f(r, "accuracy")?));
                series
                    .entry("network".into())
                    .or_default()
                    .push((step, k.f(r, "network_accuracy")?));
            }
            let mut plot = LinePlot::new(
                format!("{label}: kernel machines (ridge regression) vs the network"),
                "checkpoint step",
                "test accuracy",
            );
            for (name, mut pts) in series {
                pts.dedup();
                plot = plot.with_series(Series::new(
                    name,
                    pts.iter().map(|p| p.0).collect(),
                    pts.iter().map(|p| p.1).collect(),
                ));
            }
            let p = args.out.join(format!("kernel_{label}.png"));
            draw_line_plot(&plot, &p, Format::Png)?;
            written.push(p);
        }

        // Frozen-gate retraining.
        if dir.join("frozen_retrain.csv").is_file() {
            let fr = Csv::read(&dir.join("frozen_retrain.csv"))?;
            let (mut xs, mut ys, mut relu) = (Vec::new(), Vec::new(), f64::NAN);
            for r in &fr.rows {
                if fr.s(r, "source")? == "relu" {
                    relu = fr.f(r, "accuracy")?;
                } else {
                    xs.push(fr.f(r, "gate_step")?);
                    ys.push(fr.f(r, "accuracy")?);
                }
            }
            let span = (
                xs.first().copied().unwrap_or(0.0),
                xs.last().copied().unwrap_or(1.0),
            );
            let plot = LinePlot::new(
                format!("{label}: value network trained on frozen gates of checkpoint s (s = 0: random gates)"),
                "gate checkpoint step s",
                "test accuracy",
            )
            .with_series(Series::new("frozen gates of s", xs, ys))
            .with_series(Series::new("ReLU network, same budget", vec![span.0, span.1], vec![relu, relu]));
            let p = args.out.join(format!("frozen_retrain_{label}.png"));
            draw_line_plot(&plot, &p, Format::Png)?;
            written.push(p);
        }
    }
    // The variants side by side (`bn_vs_nobn_rho.png` for `--variant bn=… --variant nobn=…`).
    if variants.len() > 1 {
        let stem = variants
            .iter()
            .map(|v| v.0.as_str())
            .collect::<Vec<_>>()
            .join("_vs_");
        for (name, plot) in [("rho", rho_last), ("agreement", agree_last)] {
            let p = args.out.join(format!("{stem}_{name}.png"));
            draw_line_plot(&plot, &p, Format::Png)?;
            written.push(p);
        }
    }
    for p in written {
        println!("{}", p.display());
    }
    Ok(())
}
