//! Environment overrides: `MOJ_LISTEN`, `MOJ_DATA_DIR`, `DATABASE_URL`, `MOJ_API_KEYS`,
//! `MOJ_ADMIN_KEYS`, `MOJ_ALLOW_UNAUTHENTICATED`, and `MOJ_<SECTION>_<KEY>` for the sections
//! below, applied to the TOML document before it is deserialised (so unknown keys are errors).

use anyhow::bail;

/// Sections whose keys can be overridden by `MOJ_<SECTION>_<KEY>` environment variables.
const OVERRIDABLE_SECTIONS: [&str; 5] = ["server", "limits", "cache", "database", "sandbox"];

pub(super) fn apply_env(doc: &mut toml::Table, env: &[(String, String)]) -> anyhow::Result<()> {
    for (name, value) in env {
        let (section, key, parsed) = match name.as_str() {
            "MOJ_LISTEN" => (
                "server",
                "listen".to_owned(),
                toml::Value::String(value.clone()),
            ),
            "MOJ_DATA_DIR" => (
                "server",
                "data_dir".to_owned(),
                toml::Value::String(value.clone()),
            ),
            "DATABASE_URL" => (
                "database",
                "url".to_owned(),
                toml::Value::String(value.clone()),
            ),
            "MOJ_API_KEYS" => ("auth", "api_keys".to_owned(), key_list(value)),
            "MOJ_ADMIN_KEYS" => ("auth", "admin_keys".to_owned(), key_list(value)),
            "MOJ_ALLOW_UNAUTHENTICATED" => (
                "auth",
                "allow_unauthenticated".to_owned(),
                toml::Value::Boolean(parse_bool(name, value)?),
            ),
            other => {
                let Some(rest) = other.strip_prefix("MOJ_") else {
                    continue;
                };
                let lower = rest.to_ascii_lowercase();
                let Some(section) = OVERRIDABLE_SECTIONS
                    .iter()
                    .find(|s| lower.starts_with(&format!("{s}_")))
                else {
                    continue;
                };
                let key = lower[section.len() + 1..].to_owned();
                (*section, key, scalar(value))
            }
        };
        let table = doc
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(table) = table.as_table_mut() else {
            bail!("config section [{section}] must be a table");
        };
        table.insert(key, parsed);
    }
    Ok(())
}

fn key_list(value: &str) -> toml::Value {
    toml::Value::Array(
        value
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| toml::Value::String(k.to_owned()))
            .collect(),
    )
}

fn parse_bool(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => bail!("{name} must be 1/0/true/false, got {value:?}"),
    }
}

/// An environment value as a TOML scalar: integer, float or boolean when it parses as one.
fn scalar(value: &str) -> toml::Value {
    if let Ok(int) = value.parse::<i64>() {
        toml::Value::Integer(int)
    } else if let Ok(float) = value.parse::<f64>() {
        toml::Value::Float(float)
    } else if let Ok(boolean) = value.parse::<bool>() {
        toml::Value::Boolean(boolean)
    } else {
        toml::Value::String(value.to_owned())
    }
}
