//! Method settings as people and files give them: one setting from text (the CLI's `--set`, the page's fields) and
//! the settings in a peft adapter_config.json.

use super::{MethodConfig, MethodError};

impl MethodConfig {
    /// Sets one of the method's settings (a field of its JSON form, e.g. `r`, `num_virtual_tokens`,
    /// `target_modules`) from text, as [`apply_setting`] reads it. Returns false when the method has no such
    /// setting.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool, MethodError> {
        let mut json = serde_json::to_value(&*self).expect("plain data serialises");
        if key == "method" || json.get(key).is_none() {
            return Ok(false);
        }
        *self = apply_setting(&mut json, key, value)
            .map_err(|e| MethodError::Invalid(format!("{key}={value} does not fit {}: {e}", self.label())))?;
        Ok(true)
    }

    /// The names of the settings [`Self::set`] accepts.
    pub fn setting_names(&self) -> Vec<String> {
        match serde_json::to_value(self).expect("plain data serialises") {
            serde_json::Value::Object(fields) => fields.keys().filter(|k| *k != "method").cloned().collect(),
            _ => Vec::new(),
        }
    }
}

/// Sets `key` in a method's JSON settings from text, read as the JSON kind of its current value: text for
/// text, a comma-separated list for a list, nothing for an empty optional field, else a JSON number or
/// boolean — and, when that does not fit, as text (a prompt text "2024") or a comma-separated list (target modules
/// in a field left to the model's default). Returns the configuration the
/// settings now describe, or why they describe none (the typed value stays, for the page to show).
pub fn apply_setting(settings: &mut serde_json::Value, key: &str, typed: &str) -> Result<MethodConfig, String> {
    use serde_json::Value;
    let typed = typed.trim();
    let parsed = match settings.get(key) {
        Some(Value::String(_)) => typed.into(),
        Some(Value::Array(_)) if !typed.starts_with('[') => {
            typed.split(',').map(str::trim).filter(|v| !v.is_empty()).map(Value::from).collect()
        }
        _ if typed.is_empty() => Value::Null,
        _ => serde_json::from_str(typed).unwrap_or_else(|_| typed.into()),
    };
    let retry_as_text = !(parsed.is_string() || parsed.is_null() || parsed.is_array());
    settings[key] = parsed;
    let error = match serde_json::from_value(settings.clone()) {
        Ok(config) => return Ok(config),
        Err(e) => e.to_string(),
    };
    let previous = settings[key].clone();
    // A number-like text may be text ("2024"); a text in an empty optional field may be a list ("q_proj, v_proj").
    let list: Value = typed.split(',').map(str::trim).filter(|v| !v.is_empty()).map(Value::from).collect();
    let retries = [retry_as_text.then(|| typed.into()), previous.is_string().then_some(list)];
    for retry in retries.into_iter().flatten() {
        settings[key] = retry;
        if let Ok(config) = serde_json::from_value(settings.clone()) {
            return Ok(config);
        }
    }
    settings[key] = previous;
    Err(error)
}

/// An adapter_config.json written by peft, as a method reads its own settings back from it.
pub struct PeftConfig(pub serde_json::Value);

impl PeftConfig {
    /// The field's value, null where it is missing.
    pub fn field(&self, key: &str) -> serde_json::Value {
        self.0.get(key).cloned().unwrap_or(serde_json::Value::Null)
    }

    /// The given fields that are present and not null, as an object (our settings use peft's names).
    pub fn pick(&self, keys: &[&str]) -> serde_json::Value {
        keys.iter()
            .filter_map(|k| self.0.get(*k).filter(|v| !v.is_null()).map(|v| (k.to_string(), v.clone())))
            .collect()
    }

    /// `fields` read as the settings type `C`.
    pub fn parse<C: serde::de::DeserializeOwned>(fields: serde_json::Value) -> Result<C, String> {
        serde_json::from_value(fields).map_err(|e| e.to_string())
    }
}
