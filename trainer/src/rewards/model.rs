//! The reward model: the policy's decoder with a scalar head read at the last real token, as
//! Hugging Face's `LlamaForSequenceClassification` / `Qwen2ForSequenceClassification` do
//! (`score.weight` of shape `[1, hidden]`, no bias).

use anyhow::{Context, Result, bail};
use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use safetensors::Dtype;
use std::path::Path;
use std::sync::Mutex;

use super::{RewardQuery, RewardSource};
use crate::model::{HostTensor, Model, ModelConfig, PaddedBatch, hf};
use crate::tokenizer::TextTokenizer;

#[derive(Module, Debug)]
pub struct RewardModel {
    pub body: Model,
    /// `[hidden, 1]`.
    pub score: Param<Tensor<2>>,
}

impl RewardModel {
    /// Rewards `[batch]` of token rows (prompt ++ response), read at each row's last token.
    pub fn forward(&self, rows: &[Vec<u32>]) -> Result<Tensor<1>> {
        if rows.is_empty() || rows.iter().any(Vec::is_empty) {
            bail!("reward model: empty batch or empty row");
        }
        let padded = PaddedBatch::right(rows);
        if padded.len > self.body.config.max_position_embeddings {
            bail!(
                "a row has {} tokens, more than the model's {} positions",
                padded.len,
                self.body.config.max_position_embeddings
            );
        }
        let hidden = self.body.hidden(&padded.input(), None)?;
        let [b, _, h] = hidden.dims();
        let device = self.body.device();
        let last: Vec<i64> = padded.lengths.iter().map(|&l| (l - 1) as i64).collect();
        let index = Tensor::<3, Int>::from_data(TensorData::new(last, [b, 1, 1]), &device)
            .expand([b, 1, h]);
        let at_last: Tensor<2> = hidden.gather(1, index).reshape([b, h]);
        Ok(at_last.matmul(self.score.val()).reshape([b]))
    }

    /// A reward model initialised from a causal-LM folder: same body, zero head.
    pub fn from_causal_lm(dir: &Path, device: &Device) -> Result<Self> {
        let body = hf::load(dir, device)?;
        let h = body.config.hidden_size;
        let score = Param::from_tensor(Tensor::zeros([h, 1], device));
        Ok(RewardModel { body, score })
    }

    /// Loads an HF `*ForSequenceClassification` folder (`score.weight` `[1, hidden]`).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let mut config = ModelConfig::load(&dir.join("config.json"))?;
        // Classification checkpoints carry no lm_head; build the body as tied.
        config.tie_word_embeddings = true;
        let weights = hf::read_weights(dir)?;
        let h = config.hidden_size;
        let score = weights
            .get("score.weight", &[1, h])
            .with_context(|| format!("{} is not a reward model", dir.display()))?;
        let score = Param::from_tensor(score.to_tensor2(device).transpose());
        let body = Model::from_weights(config, &weights, device)?;
        Ok(RewardModel { body, score })
    }

    /// Writes an HF `LlamaForSequenceClassification`-style folder with `num_labels = 1`.
    pub fn save(&self, dir: &Path, tokenizer: &TextTokenizer) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut weights = self.body.to_weights();
        weights.0.remove("lm_head.weight");
        weights.insert(
            "score.weight".into(),
            HostTensor::from_tensor(self.score.val().transpose()),
        );
        weights.write_safetensors(&dir.join("model.safetensors"), Dtype::F32)?;
        let mut config = serde_json::to_value(&self.body.config)?;
        let arch = self
            .body
            .config
            .architecture()
            .replace("ForCausalLM", "ForSequenceClassification");
        config["architectures"] = serde_json::json!([arch]);
        config["num_labels"] = serde_json::json!(1);
        config["pad_token_id"] =
            serde_json::json!(tokenizer.eos_ids().first().copied().unwrap_or(0));
        std::fs::write(
            dir.join("config.json"),
            serde_json::to_string_pretty(&config)?,
        )?;
        tokenizer.save(dir)?;
        Ok(())
    }
}

/// A frozen reward model as a reward source.
pub struct LocalRewardModel {
    model: Mutex<RewardModel>,
    tokenizer: TextTokenizer,
    name: String,
    batch_size: usize,
}

impl LocalRewardModel {
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let model = RewardModel::load(dir, device)?;
        let tokenizer = TextTokenizer::load(dir)?;
        Ok(LocalRewardModel {
            model: Mutex::new(model),
            tokenizer,
            name: dir.display().to_string(),
            batch_size: 16,
        })
    }

    pub fn new(model: RewardModel, tokenizer: TextTokenizer, name: impl Into<String>) -> Self {
        LocalRewardModel {
            model: Mutex::new(model),
            tokenizer,
            name: name.into(),
            batch_size: 16,
        }
    }
}

impl RewardSource for LocalRewardModel {
    fn name(&self) -> String {
        format!("reward model {}", self.name)
    }

    fn score(&self, queries: &[RewardQuery]) -> Result<Vec<f32>> {
        let model = self
            .model
            .lock()
            .map_err(|_| anyhow::anyhow!("reward model lock poisoned"))?;
        let mut out = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(self.batch_size) {
            let rows = chunk
                .iter()
                .map(|q| {
                    self.tokenizer
                        .encode(&format!("{}{}", q.prompt, q.response))
                })
                .collect::<Result<Vec<_>>>()?;
            let rewards = model.forward(&rows)?.detach();
            out.extend(
                rewards
                    .try_into_vec_as::<f32>()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?,
            );
        }
        Ok(out)
    }
}
