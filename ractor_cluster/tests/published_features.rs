//! The published crate's Cargo features exist here too, so that a `features = [...]` line written
//! for it still resolves, and its default set is part of ours.

use std::collections::HashMap;

/// `[features]` of this crate's manifest: each feature and what it turns on.
fn features() -> HashMap<String, Vec<String>> {
    let manifest = include_str!("../Cargo.toml");
    let mut features = HashMap::new();
    let mut in_features = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_features = line == "[features]";
            continue;
        }
        if !in_features || line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name, list) = line.split_once('=').expect("a feature is `name = [...]`");
        let list = list.trim().trim_start_matches('[').trim_end_matches(']');
        let enables = list
            .split(',')
            .map(|item| item.trim().trim_matches('"').to_owned())
            .filter(|item| !item.is_empty())
            .collect();
        features.insert(name.trim().to_owned(), enables);
    }
    features
}

#[test]
fn the_published_features_exist() {
    let features = features();
    for name in [
        "default",
        "monitors",
        "message_span_propogation",
        "async-trait",
    ] {
        assert!(features.contains_key(name), "no feature {name:?}");
    }
    assert_eq!(features["monitors"], ["ractor/monitors"]);
    assert_eq!(
        features["message_span_propogation"],
        ["ractor/message_span_propogation"]
    );
}

#[test]
fn the_default_set_holds_the_published_default_and_prost() {
    let default = &features()["default"];
    for name in ["message_span_propogation", "prost"] {
        assert!(
            default.iter().any(|f| f == name),
            "{name} is not on by default"
        );
    }
}

/// `derive_serialization_for_prost_type!` is there without asking for a feature, as in the
/// published crate (this test runs with the default features in `cargo test`).
#[cfg(feature = "prost")]
#[test]
fn the_prost_macro_is_available() {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Reading {
        #[prost(uint32, tag = "1")]
        value: u32,
    }
    ractor_cluster::derive_serialization_for_prost_type! {Reading}

    use ractor_cluster::BytesConvertable;
    let bytes = Reading { value: 7 }.into_bytes();
    assert_eq!(Reading::from_bytes(bytes).value, 7);
}

/// The derive's output calls `ractor_cluster::__private`, which may change in any release: only
/// the derive of the same release may be used with this crate (as thiserror pins thiserror-impl).
#[test]
fn the_derive_crate_is_pinned_to_this_release() {
    let workspace = include_str!("../../Cargo.toml");
    let line = workspace
        .lines()
        .find(|line| line.starts_with("ractor_cluster_derive ="))
        .expect("the workspace names the derive crate");
    let pinned = format!("version = \"={}\"", env!("CARGO_PKG_VERSION"));
    assert!(line.contains(&pinned), "{line}");
}
