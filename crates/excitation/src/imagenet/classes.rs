//! The 1000 ImageNet classes, the Imagenette → ImageNet mapping, and the paper's
//! default target set.
//!
//! The names are torchvision's (`weights.meta["categories"]`), written to `classes.txt`
//! by `tools/reference/imagenet_classes.py`; index `i` is logit `i` of every torchvision
//! ImageNet classifier. They are unique as written; compared case-insensitively, only
//! "Cardigan" (264, the corgi) and "cardigan" (474, the sweater) collide, and the exact
//! spelling picks one.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Number of ImageNet classes.
pub const NUM_CLASSES: usize = 1000;

static CLASSES_TXT: &str = include_str!("classes.txt");

/// Imagenette's 10 labels (0–9, sorted WordNet ids) → ImageNet class index, as the
/// paper's `IMAGENETTE_TO_IMAGENET`.
pub const IMAGENETTE_TO_IMAGENET: [usize; 10] = [0, 217, 482, 491, 497, 566, 569, 571, 574, 701];

/// Imagenette's WordNet ids (its folder names), in label order (as torchvision's
/// `Imagenette` dataset).
pub const IMAGENETTE_WNIDS: [&str; 10] = [
    "n01440764",
    "n02102040",
    "n02979186",
    "n03000684",
    "n03028079",
    "n03394916",
    "n03417042",
    "n03425413",
    "n03445777",
    "n03888257",
];

/// The paper's Figures 1–4 targets: tench, cassette player, church, garbage truck,
/// golf ball (Imagenette labels 0, 2, 4, 6, 8) …
pub const PAPER_TARGETS: [usize; 5] = [0, 482, 497, 569, 574];
/// … plus "ostrich", the extra column that is no image's own class.
pub const PAPER_EXTRA_TARGET: usize = 9;

/// The paper's default column set: [`PAPER_TARGETS`] then [`PAPER_EXTRA_TARGET`].
pub fn paper_default_targets() -> Vec<usize> {
    let mut v = PAPER_TARGETS.to_vec();
    v.push(PAPER_EXTRA_TARGET);
    v
}

/// All 1000 class names in index order.
pub fn class_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| CLASSES_TXT.lines().collect())
}

/// The name of class `index`, if `index < 1000`.
pub fn class_name(index: usize) -> Option<&'static str> {
    class_names().get(index).copied()
}

fn normalise(s: &str) -> String {
    s.trim().replace(['_', '-'], " ").to_lowercase()
}

/// The index of a class name: exact first, then ignoring case and treating `_`/`-` as
/// spaces.
pub fn class_index(name: &str) -> Result<usize> {
    let names = class_names();
    if let Some(i) = names.iter().position(|n| *n == name.trim()) {
        return Ok(i);
    }
    let want = normalise(name);
    let hits: Vec<usize> = (0..names.len())
        .filter(|&i| normalise(names[i]) == want)
        .collect();
    match hits.len() {
        1 => Ok(hits[0]),
        0 => {
            let close: Vec<String> = (0..names.len())
                .filter(|&i| !want.is_empty() && normalise(names[i]).contains(&want))
                .take(5)
                .map(|i| format!("{i} `{}`", names[i]))
                .collect();
            let hint = if close.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", close.join(", "))
            };
            Err(Error::UnknownClassName {
                name: name.to_string(),
                hint,
            })
        }
        _ => Err(Error::AmbiguousClassName {
            name: name.to_string(),
            matches: hits
                .iter()
                .map(|&i| format!("{i} `{}`", names[i]))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// One class given as an index (`"574"`) or a name (`"golf ball"`).
pub fn parse_class(spec: &str) -> Result<usize> {
    let s = spec.trim();
    if s.is_empty() {
        return Err(Error::EmptyClassEntry(spec.to_string()));
    }
    if let Ok(i) = s.parse::<usize>() {
        return if i < NUM_CLASSES {
            Ok(i)
        } else {
            Err(Error::ClassIndexOutOfRange(i))
        };
    }
    class_index(s)
}

/// A comma-separated list of classes (indices or names), e.g. `"tench,482,golf ball"`.
pub fn parse_class_list(spec: &str) -> Result<Vec<usize>> {
    spec.split(',')
        .map(|item| {
            if item.trim().is_empty() {
                Err(Error::EmptyClassEntry(spec.to_string()))
            } else {
                parse_class(item)
            }
        })
        .collect()
}

/// The ImageNet class of an ImageFolder sub-folder name, if it names one: an Imagenette
/// WordNet id (`n01440764`), a class index (`"574"`) or a class name.
pub fn class_of_folder(folder: &str) -> Option<usize> {
    if let Some(k) = IMAGENETTE_WNIDS.iter().position(|w| *w == folder) {
        return Some(IMAGENETTE_TO_IMAGENET[k]);
    }
    parse_class(folder).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousand_unique_names() {
        let names = class_names();
        assert_eq!(names.len(), NUM_CLASSES);
        let mut sorted = names.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), NUM_CLASSES, "names are unique as written");
        assert!(names.iter().all(|n| !n.is_empty() && n.trim() == *n));
    }

    #[test]
    fn imagenette_mapping_names_match_the_paper() {
        // lib/dataset.py's comments name these classes.
        let expected = [
            "tench",
            "English springer",
            "cassette player",
            "chain saw",
            "church",
            "French horn",
            "garbage truck",
            "gas pump",
            "golf ball",
            "parachute",
        ];
        for (k, &i) in IMAGENETTE_TO_IMAGENET.iter().enumerate() {
            assert_eq!(class_name(i), Some(expected[k]));
            assert_eq!(class_of_folder(IMAGENETTE_WNIDS[k]), Some(i));
        }
        assert_eq!(class_name(PAPER_EXTRA_TARGET), Some("ostrich"));
        let names: Vec<_> = paper_default_targets()
            .iter()
            .map(|&i| class_name(i).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "tench",
                "cassette player",
                "church",
                "garbage truck",
                "golf ball",
                "ostrich"
            ]
        );
    }

    #[test]
    fn lookup_by_index_and_name() {
        assert_eq!(parse_class("574").unwrap(), 574);
        assert_eq!(parse_class(" golf ball ").unwrap(), 574);
        assert_eq!(parse_class("Golf_Ball").unwrap(), 574);
        assert_eq!(parse_class("Cardigan").unwrap(), 264);
        assert_eq!(parse_class("cardigan").unwrap(), 474);
        assert!(matches!(
            parse_class("CARDIGAN"),
            Err(Error::AmbiguousClassName { .. })
        ));
        assert!(matches!(
            parse_class("1000"),
            Err(Error::ClassIndexOutOfRange(1000))
        ));
        let e = parse_class("golf").unwrap_err();
        assert!(e.to_string().contains("574 `golf ball`"), "{e}");
        assert_eq!(
            parse_class_list("tench, 482,church").unwrap(),
            vec![0, 482, 497]
        );
        assert!(matches!(
            parse_class_list("tench,,9"),
            Err(Error::EmptyClassEntry(_))
        ));
        assert_eq!(class_of_folder("n03888257"), Some(701));
        assert_eq!(class_of_folder("cats and dogs"), None);
    }
}
