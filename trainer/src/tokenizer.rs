//! Tokenizers (HF `tokenizer.json` through the `tokenizers` crate) and chat templates
//! (`tokenizer_config.json`'s Jinja template, rendered with minijinja).

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::Path;

/// One chat message, OpenAI style.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

#[derive(Clone)]
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    chat_template: Option<String>,
    bos_token: Option<String>,
    eos_token: Option<String>,
}

/// ChatML, used by the from-scratch tokenizer (and by SmolLM2 and Qwen2).
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// Special tokens of the from-scratch byte-level tokenizer, after the 256 byte tokens.
pub const SCRATCH_SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

impl TextTokenizer {
    /// Loads `tokenizer.json` and, if present, `tokenizer_config.json` (chat template, BOS/EOS).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        let inner = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| anyhow!("loading {}: {e}", path.display()))?;
        let config_path = dir.join("tokenizer_config.json");
        let config: Value = if config_path.exists() {
            let text = std::fs::read_to_string(&config_path)?;
            serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", config_path.display()))?
        } else {
            Value::Null
        };
        let token = |key: &str| match config.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(o)) => o.get("content").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        Ok(TextTokenizer {
            inner,
            chat_template: config
                .get("chat_template")
                .and_then(Value::as_str)
                .map(str::to_string),
            bos_token: token("bos_token"),
            eos_token: token("eos_token"),
        })
    }

    /// A tokenizer from an HF `tokenizer.json` document and its config strings (used for GGUF files).
    pub fn from_parts(
        json: &Value,
        chat_template: Option<String>,
        bos_token: Option<String>,
        eos_token: Option<String>,
    ) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_bytes(json.to_string().as_bytes())
            .map_err(|e| anyhow!("building the tokenizer: {e}"))?;
        Ok(TextTokenizer {
            inner,
            chat_template,
            bos_token,
            eos_token,
        })
    }

    /// A byte-level tokenizer (256 byte tokens + ChatML specials) for models trained from scratch.
    /// It is a real HF `tokenizer.json`: `save` writes files transformers loads.
    pub fn byte_level() -> Result<Self> {
        let json = byte_level_tokenizer_json();
        let inner = tokenizers::Tokenizer::from_bytes(json.to_string().as_bytes())
            .map_err(|e| anyhow!("building the byte-level tokenizer: {e}"))?;
        Ok(TextTokenizer {
            inner,
            chat_template: Some(CHATML_TEMPLATE.to_string()),
            bos_token: None,
            eos_token: Some("<|im_end|>".to_string()),
        })
    }

    /// Writes `tokenizer.json` and `tokenizer_config.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        self.inner
            .save(dir.join("tokenizer.json"), false)
            .map_err(|e| anyhow!("writing tokenizer.json: {e}"))?;
        let config = json!({
            "chat_template": self.chat_template,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "tokenizer_class": "PreTrainedTokenizerFast",
        });
        std::fs::write(
            dir.join("tokenizer_config.json"),
            serde_json::to_string_pretty(&config)?,
        )?;
        Ok(())
    }

    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Token ids of `text`; special-token strings in the text are recognised (they come from templates).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| anyhow!("tokenizing: {e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| anyhow!("decoding: {e}"))
    }

    /// The ids that end a response: the EOS token of the tokenizer config, if any.
    pub fn eos_ids(&self) -> Vec<u32> {
        self.eos_token
            .as_deref()
            .and_then(|t| self.token_id(t))
            .into_iter()
            .collect()
    }

    /// Renders `messages` with the model's chat template, exactly as HF's `apply_chat_template`.
    pub fn apply_chat_template(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self
            .chat_template
            .as_deref()
            .context("the tokenizer has no chat_template; give the prompt as plain text")?;
        let mut env = minijinja::Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        env.add_template("chat", template)
            .map_err(|e| anyhow!("chat template: {e}"))?;
        let rendered = env
            .get_template("chat")
            .and_then(|t| {
                t.render(minijinja::context! {
                    messages => minijinja::Value::from(minijinja::value::Serde(messages)),
                    add_generation_prompt => add_generation_prompt,
                    bos_token => self.bos_token.clone().unwrap_or_default(),
                    eos_token => self.eos_token.clone().unwrap_or_default(),
                })
            })
            .map_err(|e| anyhow!("rendering the chat template: {e}"))?;
        if rendered.is_empty() {
            bail!("the chat template rendered nothing");
        }
        Ok(rendered)
    }
}

/// GPT-2's byte-to-unicode table, which ByteLevel pre-tokenizers use.
fn byte_to_char() -> Vec<char> {
    let mut printable: Vec<u32> = (33..=126).chain(161..=172).chain(174..=255).collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut extra = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + extra);
            extra += 1;
        }
    }
    let mut table = vec![' '; 256];
    for (b, c) in printable.iter().zip(chars) {
        table[*b as usize] = char::from_u32(c).expect("valid char");
    }
    table
}

fn byte_level_tokenizer_json() -> Value {
    let table = byte_to_char();
    let mut vocab = serde_json::Map::new();
    for (byte, ch) in table.iter().enumerate() {
        vocab.insert(ch.to_string(), json!(byte));
    }
    let added: Vec<Value> = SCRATCH_SPECIALS
        .iter()
        .enumerate()
        .map(|(i, content)| {
            vocab.insert(content.to_string(), json!(256 + i));
            json!({"id": 256 + i, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab, "merges": []}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_round_trips_any_text_and_knows_specials() {
        let tok = TextTokenizer::byte_level().unwrap();
        assert_eq!(tok.vocab_size(), 259);
        let text = "naïve café 😀\n\tdef f(x): return 2*x";
        let ids = tok.encode(text).unwrap();
        assert_eq!(ids.len(), text.len(), "one token per byte");
        assert_eq!(tok.decode(&ids).unwrap(), text);
        let chat = tok
            .apply_chat_template(
                &[Message {
                    role: "user".into(),
                    content: "hi".into(),
                }],
                true,
            )
            .unwrap();
        assert_eq!(
            chat,
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
        let ids = tok.encode(&chat).unwrap();
        assert_eq!(ids[0], 257);
        assert_eq!(tok.eos_ids(), vec![258]);
    }

    #[test]
    fn saved_tokenizer_loads_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        let tok = TextTokenizer::byte_level().unwrap();
        tok.save(dir.path()).unwrap();
        let back = TextTokenizer::load(dir.path()).unwrap();
        let text = "<|im_start|>user\nx = 1<|im_end|>";
        assert_eq!(back.encode(text).unwrap(), tok.encode(text).unwrap());
        assert_eq!(back.eos_ids(), tok.eos_ids());
    }

    #[test]
    fn template_errors_are_reported() {
        let mut tok = TextTokenizer::byte_level().unwrap();
        tok.chat_template = Some("{{ raise_exception('roles must alternate') }}".into());
        let err = tok.apply_chat_template(&[], true).unwrap_err().to_string();
        assert!(err.contains("roles must alternate"), "{err}");
    }
}
