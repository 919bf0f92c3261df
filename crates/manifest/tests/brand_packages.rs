//! The brand packages of the repository (`brands/<brand>/spin.toml`): the
//! manifests a running store is given to bring a brand in. Nothing loads
//! them at start, so these tests are what keeps them loadable.

use std::path::{Path, PathBuf};

use agent_store_manifest::{Manifest, Route};
use anyhow::{Context, Result};

fn brands_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../brands")
}

/// Every `brands/*/spin.toml`, sorted.
fn packages() -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(brands_dir())? {
        let manifest = entry?.path().join("spin.toml");
        if manifest.is_file() {
            found.push(manifest);
        }
    }
    found.sort();
    Ok(found)
}

#[test]
fn the_sports_package_validates_and_names_its_brand() -> Result<()> {
    let manifest = Manifest::load(&brands_dir().join("sports/spin.toml"))?;
    manifest.validate()?;
    assert_eq!(manifest.application.name, "agent-store-sports");

    let tool = manifest.app_tool()?;
    let brand = tool.brand.context("[application.tool.agent-store.brand]")?;
    assert_eq!(brand.name, "sports");
    assert_eq!(brand.whatsapp_number, "100000000000006");
    assert_eq!((brand.catalog.as_str(), brand.persona.as_str()), ("catalog.json", "persona.toml"));
    assert_eq!(tool.key_value.get("seller-sports").and_then(|s| s.ttl.as_deref()), Some("24h"));

    assert_eq!(manifest.active_components()?, ["seller-sports"]);
    assert_eq!(manifest.trigger.http[0].route, Route::Private { private: true });
    let seller = &manifest.component["seller-sports"];
    assert_eq!(seller.key_value_stores, ["seller-sports"]);
    assert_eq!(seller.ai_models, ["chat"]);
    let source = manifest.source_path("seller-sports")?;
    assert_eq!(source.file_name().and_then(|n| n.to_str()), Some("seller_sports.wasm"));

    let seller = manifest.tool("seller-sports")?;
    assert_eq!(seller.brand(), Some("sports"));
    assert_eq!(seller.concurrency(), 5);
    assert!(seller.emits.iter().any(|e| e == "store.order.create"), "{:?}", seller.emits);
    Ok(())
}

/// What every package must hold for the store to take it: a valid manifest,
/// a brand named after its folder, the files its brand table points at, and
/// components that serve that brand only (a seller may emit only its own
/// brand's events, and the host tells whose they are from the subscriptions).
#[test]
fn every_brand_package_is_complete() -> Result<()> {
    let packages = packages()?;
    assert!(!packages.is_empty(), "no brands/*/spin.toml");
    for path in packages {
        let manifest = Manifest::load(&path)?;
        manifest.validate().with_context(|| path.display().to_string())?;
        let folder = path.parent().and_then(Path::file_name).and_then(|n| n.to_str()).unwrap_or_default();
        let brand = manifest.app_tool()?.brand.with_context(|| format!("{}: no brand table", path.display()))?;
        assert_eq!(brand.name, folder, "{}", path.display());
        for file in [&brand.catalog, &brand.persona] {
            assert!(manifest.root.join(file).is_file(), "{}: {file} is missing", path.display());
        }
        let components = manifest.active_components()?;
        assert!(!components.is_empty(), "{}: no component", path.display());
        for id in components {
            assert_eq!(manifest.tool(&id)?.brand(), Some(folder), "{}: {id}", path.display());
        }
    }
    Ok(())
}
