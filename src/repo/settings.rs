//! One setting of config.toml by its dotted name (`p2pfs config KEY
//! [VALUE]`, as `ipfs config`): read it, or set it keeping the file's
//! comments. A value that makes the config invalid is refused and the file
//! stays as it was (`config::edit`).

use super::config::{Config, ConfigError, IMPORT_PROFILE_KEYS, edit};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error(
        "config.toml has no setting {0} (names look like network.provide; `p2pfs config show` lists them)"
    )]
    NoSuch(String),
    #[error("{key}: {value:?} is not JSON: {reason}")]
    Json {
        key: String,
        value: String,
        reason: String,
    },
    #[error("{0}: JSON null, objects and mixed lists cannot be set here")]
    Unsupported(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

fn parts(key: &str) -> Result<Vec<&str>, SettingError> {
    let p: Vec<&str> = key.split('.').collect();
    if p.iter().any(|s| s.is_empty()) {
        return Err(SettingError::NoSuch(key.to_string()));
    }
    Ok(p)
}

/// The setting as written in the file: a string bare, anything else as TOML.
pub fn get(path: &Path, key: &str) -> Result<String, SettingError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let doc: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut at = &toml::Value::Table(doc);
    for p in parts(key)? {
        at = at.get(p).ok_or_else(|| SettingError::NoSuch(key.to_string()))?;
    }
    Ok(match at {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Sets the setting: `value` is a string, or with `json` a JSON number,
/// boolean, string or list of those.
pub fn set(path: &Path, key: &str, value: &str, json: bool) -> Result<Config, SettingError> {
    let parts = parts(key)?;
    let item = if json {
        let v: serde_json::Value = serde_json::from_str(value).map_err(|e| SettingError::Json {
            key: key.to_string(),
            value: value.to_string(),
            reason: e.to_string(),
        })?;
        toml_edit::value(to_toml(&v).ok_or_else(|| SettingError::Unsupported(key.to_string()))?)
    } else {
        toml_edit::value(value)
    };
    // A name the config does not know fails the edit's validation (unknown
    // fields are refused), so typos do not land in the file.
    Ok(edit(path, |doc| {
        let (last, tables) = parts.split_last().expect("split gives at least one part");
        let mut t = doc.as_item_mut();
        for p in tables {
            t = &mut t[p];
        }
        t[last] = item;
        if key == "import.profile" {
            // As Kubo's profiles rewrite its Import.* keys: the profile's
            // values apply, not ones left from before.
            if let Some(import) = doc.get_mut("import").and_then(|i| i.as_table_like_mut()) {
                for k in IMPORT_PROFILE_KEYS {
                    import.remove(k);
                }
            }
        }
    })?)
}

fn to_toml(v: &serde_json::Value) -> Option<toml_edit::Value> {
    Some(match v {
        serde_json::Value::Bool(b) => (*b).into(),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64()?.into(),
        },
        serde_json::Value::String(s) => s.as_str().into(),
        serde_json::Value::Array(a) => {
            let mut arr = toml_edit::Array::new();
            for x in a {
                arr.push(to_toml(x)?);
            }
            toml_edit::Value::Array(arr)
        }
        serde_json::Value::Null | serde_json::Value::Object(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.toml");
        std::fs::write(&p, super::super::config::DEFAULT_FILE).unwrap();
        (d, p)
    }

    #[test]
    fn get_and_set_keep_comments_and_refuse_bad_values() {
        let (_d, p) = file();
        assert_eq!(get(&p, "network.provide").unwrap(), "all");
        set(&p, "network.provide", "roots", false).unwrap();
        assert_eq!(get(&p, "network.provide").unwrap(), "roots");
        assert!(
            std::fs::read_to_string(&p)
                .unwrap()
                .contains("# p2pfs configuration")
        );
        set(&p, "mount.allow_other", "true", true).unwrap();
        assert_eq!(get(&p, "mount.allow_other").unwrap(), "true");
        let before = std::fs::read_to_string(&p).unwrap();
        // A bool given as a string, a typo, a bad value: refused, file unchanged.
        assert!(set(&p, "mount.allow_other", "yes", false).is_err());
        assert!(set(&p, "network.provde", "all", false).is_err());
        assert!(set(&p, "network.provide", "sometimes", false).is_err());
        assert!(matches!(
            set(&p, "x", "{}", true),
            Err(SettingError::Unsupported(_))
        ));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), before);
        assert!(matches!(get(&p, "network.nope"), Err(SettingError::NoSuch(_))));
        assert!(matches!(
            get(&p, "network..provide"),
            Err(SettingError::NoSuch(_))
        ));
    }

    #[test]
    fn import_profile_is_checked_and_replaces_the_keys_it_sets() {
        let (_d, p) = file();
        // A config written before profiles: its keys were explicit.
        let old = std::fs::read_to_string(&p).unwrap().replace(
            "profile = \"\"",
            "chunk_size = 262144\ncid_version = 1\nraw_leaves = true",
        );
        std::fs::write(&p, old).unwrap();
        assert!(set(&p, "import.profile", "unixfs-v3", false).is_err());
        assert_eq!(get(&p, "import.chunk_size").unwrap(), "262144");
        let cfg = set(&p, "import.profile", "unixfs-v1-2025", false).unwrap();
        assert!(matches!(
            get(&p, "import.chunk_size"),
            Err(SettingError::NoSuch(_))
        ));
        assert_eq!(get(&p, "import.profile").unwrap(), "unixfs-v1-2025");
        let o = cfg.import_options();
        assert_eq!((o.chunk_size, o.max_links, o.cid_version), (1 << 20, 1024, 1));
        // A key set afterwards overrides that one value.
        let cfg = set(&p, "import.chunk_size", "262144", true).unwrap();
        assert_eq!(cfg.import_options().chunk_size, 262_144);
        assert_eq!(cfg.import_options().max_links, 1024);
        assert!(set(&p, "import.max_links", "1", true).is_err());
        assert!(set(&p, "import.hamt_fanout", "100", true).is_err());
        assert!(set(&p, "import.hamt_estimation", "count", false).is_err());
        assert!(set(&p, "import.chunk_size", "2000000", true).is_err());
    }
}
