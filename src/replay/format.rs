//! The history export format (`Client.export_history`), read back by the replayer.
//!
//! One JSON document per instance: every execution's events exactly as the core stores
//! them (`duroxide::Event`'s serde form), under a format name and version so that a file
//! that is not one, or one from a newer SDK, is refused with a clear message.

use serde::{Deserialize, Serialize};

use crate::ffi::error::{DuroxideError, Result};

pub const FORMAT: &str = "duroxide-history";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct HistoryExport {
    pub format: String,
    pub format_version: u32,
    /// The duroxide core version that wrote the events.
    pub core_version: String,
    pub instance_id: String,
    pub orchestration_name: String,
    pub orchestration_version: String,
    /// "Running", "Completed", "Failed", ... at export time.
    pub status: String,
    pub executions: Vec<ExecutionExport>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExecutionExport {
    pub execution_id: u64,
    pub events: Vec<duroxide::Event>,
}

impl HistoryExport {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| DuroxideError::internal(format!("cannot encode the history export: {e}")))
    }

    /// Reads an export, saying precisely why a document is not one.
    pub fn parse(text: &str) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            DuroxideError::invalid(format!(
                "not a history export: the text is not valid JSON ({e}); a truncated file looks like this"
            ))
        })?;
        let Some(object) = value.as_object() else {
            return Err(DuroxideError::invalid(
                "not a history export: expected a JSON object with \"format\": \"duroxide-history\"",
            ));
        };
        match object.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(DuroxideError::invalid(format!(
                    "not a history export: its format is {other:?}, expected {FORMAT:?}"
                )))
            }
            None => {
                return Err(DuroxideError::invalid(format!(
                    "not a history export: it has no \"format\": {FORMAT:?} field (write one with Client.export_history() or `duroxide export`)"
                )))
            }
        }
        match object.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(DuroxideError::invalid(format!(
                    "history export format version {v} is not supported: this SDK reads version {FORMAT_VERSION}"
                )))
            }
            None => {
                return Err(DuroxideError::invalid(
                    "not a history export: \"format_version\" is missing or not a number",
                ))
            }
        }
        let export: HistoryExport = serde_json::from_value(value)
            .map_err(|e| DuroxideError::invalid(format!("malformed history export: {e}")))?;
        if export.executions.is_empty() {
            return Err(DuroxideError::invalid(format!(
                "malformed history export: instance {:?} has no executions",
                export.instance_id
            )));
        }
        Ok(export)
    }
}

#[cfg(test)]
mod tests {
    use super::HistoryExport;

    fn error_of(text: &str) -> String {
        HistoryExport::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn documents_that_are_not_exports_say_why() {
        assert!(error_of("{\"format\": \"duroxide-his").contains("not valid JSON"));
        assert!(error_of("[1]").contains("expected a JSON object"));
        assert!(error_of("{\"format\": \"other\"}").contains("its format is \"other\""));
        assert!(error_of("{}").contains("no \"format\""));
        let newer = "{\"format\": \"duroxide-history\", \"format_version\": 2}";
        assert!(error_of(newer).contains("version 2 is not supported"));
        let empty = r#"{"format": "duroxide-history", "format_version": 1, "core_version": "x",
            "instance_id": "i", "orchestration_name": "n", "orchestration_version": "1.0.0",
            "status": "Running", "executions": []}"#;
        assert!(error_of(empty).contains("no executions"));
    }
}
