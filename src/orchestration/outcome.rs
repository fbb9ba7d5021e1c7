//! What a yielded task produced, and how it travels back to the generator.

/// The result of one task, or of a composite `all`/`race`, in task order.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// JSON text (or, from a non-SDK producer, any text) of a successful result.
    Value(String),
    /// The failure message.
    Error(String),
    All(Vec<Outcome>),
    /// The winner's index and outcome.
    Race(usize, Box<Outcome>),
}

pub const KIND_VALUE: u8 = 0;
pub const KIND_ERROR: u8 = 1;
pub const KIND_COMPOSITE: u8 = 2;

impl Outcome {
    /// Approximate memory the outcome takes, for the replay cache's budget.
    pub fn bytes(&self) -> usize {
        match self {
            Outcome::Value(s) | Outcome::Error(s) => s.len() + 24,
            Outcome::All(items) => items.iter().map(Outcome::bytes).sum::<usize>() + 24,
            Outcome::Race(_, winner) => winner.bytes() + 24,
        }
    }

    /// `(outcome_kind, payload)` as `OrchestrationStepper.resume` takes them.
    ///
    /// Composites become one JSON tree so the generator gets them in one call:
    /// `{"v": <json>}` | `{"e": "message"}` | `{"all": [..]}` | `{"race": i, "of": <tree>}`.
    pub fn into_wire(self) -> (u8, String) {
        match self {
            Outcome::Value(v) => (KIND_VALUE, v),
            Outcome::Error(e) => (KIND_ERROR, e),
            composite => {
                let mut out = String::new();
                composite.write_tree(&mut out);
                (KIND_COMPOSITE, out)
            }
        }
    }

    fn write_tree(&self, out: &mut String) {
        match self {
            Outcome::Value(v) => {
                out.push_str("{\"v\":");
                if is_json(v) {
                    out.push_str(v);
                } else {
                    out.push_str(&serde_json::Value::String(v.clone()).to_string());
                }
                out.push('}');
            }
            Outcome::Error(e) => {
                out.push_str("{\"e\":");
                out.push_str(&serde_json::Value::String(e.clone()).to_string());
                out.push('}');
            }
            Outcome::All(items) => {
                out.push_str("{\"all\":[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_tree(out);
                }
                out.push_str("]}");
            }
            Outcome::Race(index, winner) => {
                out.push_str(&format!("{{\"race\":{index},\"of\":"));
                winner.write_tree(out);
                out.push('}');
            }
        }
    }
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_tree_embeds_json_and_quotes_raw_text() {
        let tree = Outcome::All(vec![
            Outcome::Value("{\"a\":1}".into()),
            Outcome::Value("not json".into()),
            Outcome::Race(1, Box::new(Outcome::Error("boom \"x\"".into()))),
        ]);
        let (kind, payload) = tree.into_wire();
        assert_eq!(kind, KIND_COMPOSITE);
        let parsed: serde_json::Value = serde_json::from_str(&payload).unwrap();
        assert_eq!(parsed["all"][0]["v"]["a"], 1);
        assert_eq!(parsed["all"][1]["v"], "not json");
        assert_eq!(parsed["all"][2]["race"], 1);
        assert_eq!(parsed["all"][2]["of"]["e"], "boom \"x\"");
    }
}
