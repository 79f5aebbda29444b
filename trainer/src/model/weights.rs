//! Host-side weights keyed by Hugging Face tensor names, and the safetensors format in and out.

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::collections::BTreeMap;
use std::path::Path;

use super::ModelConfig;

/// One tensor in host memory, in f32, with its HF shape.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl HostTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        HostTensor { shape, data }
    }

    pub fn from_tensor<const D: usize>(tensor: Tensor<D>) -> Self {
        let shape = tensor.dims().to_vec();
        let data = tensor.try_into_vec_as::<f32>().expect("f32 tensor data");
        HostTensor { shape, data }
    }

    /// The transpose of a 2-D tensor, materialised (a lazily transposed tensor would be copied
    /// again by every matmul that reads it).
    pub fn transposed(&self) -> HostTensor {
        let (rows, cols) = (self.shape[0], self.shape[1]);
        let mut data = vec![0f32; self.data.len()];
        for r in 0..rows {
            for c in 0..cols {
                data[c * rows + r] = self.data[r * cols + c];
            }
        }
        HostTensor {
            shape: vec![cols, rows],
            data,
        }
    }

    pub fn to_tensor1(&self, device: &Device) -> Tensor<1> {
        Tensor::from_data(TensorData::new(self.data.clone(), [self.shape[0]]), device)
    }

    pub fn to_tensor2(&self, device: &Device) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(self.data.clone(), [self.shape[0], self.shape[1]]),
            device,
        )
    }
}

/// HF-named tensors of one model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeightMap(pub BTreeMap<String, HostTensor>);

impl WeightMap {
    pub fn insert(&mut self, name: String, tensor: HostTensor) {
        self.0.insert(name, tensor);
    }

    /// The tensor `name`, which must have `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&HostTensor> {
        let tensor = self
            .0
            .get(name)
            .with_context(|| format!("weight {name} is missing"))?;
        if tensor.shape != shape {
            bail!(
                "weight {name} has shape {:?}, the config implies {shape:?}",
                tensor.shape
            );
        }
        Ok(tensor)
    }

    /// Random weights for `config`: normal(0, 0.02) matrices, unit norms, zero biases.
    pub fn random(config: &ModelConfig, rng: &mut impl Rng) -> Self {
        let h = config.hidden_size;
        let (nh, nkv, hd, ff) = (
            config.num_attention_heads,
            config.kv_heads(),
            config.head_dim(),
            config.intermediate_size,
        );
        let mut map = WeightMap::default();
        let mut normal = |rows: usize, cols: usize| {
            // Box-Muller from the seeded RNG: identical on every backend and platform.
            let data = (0..rows * cols)
                .map(|_| {
                    let u1: f64 = rng.random::<f64>().max(1e-12);
                    let u2: f64 = rng.random::<f64>();
                    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * 0.02)
                        as f32
                })
                .collect();
            HostTensor::new(vec![rows, cols], data)
        };
        map.insert(
            "model.embed_tokens.weight".into(),
            normal(config.vocab_size, h),
        );
        if !config.tie_word_embeddings {
            map.insert("lm_head.weight".into(), normal(config.vocab_size, h));
        }
        for i in 0..config.num_hidden_layers {
            let p = format!("model.layers.{i}");
            for (name, rows, cols) in [
                ("self_attn.q_proj", nh * hd, h),
                ("self_attn.k_proj", nkv * hd, h),
                ("self_attn.v_proj", nkv * hd, h),
                ("self_attn.o_proj", h, nh * hd),
                ("mlp.gate_proj", ff, h),
                ("mlp.up_proj", ff, h),
                ("mlp.down_proj", h, ff),
            ] {
                map.insert(format!("{p}.{name}.weight"), normal(rows, cols));
            }
            if config.qkv_bias() {
                for (name, rows) in [
                    ("q_proj", nh * hd),
                    ("k_proj", nkv * hd),
                    ("v_proj", nkv * hd),
                ] {
                    map.insert(
                        format!("{p}.self_attn.{name}.bias"),
                        HostTensor::new(vec![rows], vec![0.0; rows]),
                    );
                }
            }
            for name in ["input_layernorm", "post_attention_layernorm"] {
                map.insert(
                    format!("{p}.{name}.weight"),
                    HostTensor::new(vec![h], vec![1.0; h]),
                );
            }
        }
        map.insert(
            "model.norm.weight".into(),
            HostTensor::new(vec![h], vec![1.0; h]),
        );
        map
    }

    /// Adds every tensor of one safetensors file (f32, bf16 or f16), converted to f32.
    pub fn read_safetensors(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let file = SafeTensors::deserialize(&bytes)
            .with_context(|| format!("parsing {}", path.display()))?;
        for (name, view) in file.tensors() {
            let data =
                to_f32(&view).with_context(|| format!("tensor {name} in {}", path.display()))?;
            self.insert(name, HostTensor::new(view.shape().to_vec(), data));
        }
        Ok(())
    }

    /// Writes all tensors to one safetensors file as `dtype` (F32, BF16 or F16).
    pub fn write_safetensors(&self, path: &Path, dtype: Dtype) -> Result<()> {
        let encoded: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .0
            .iter()
            .map(|(name, t)| Ok((name.clone(), from_f32(&t.data, dtype)?, t.shape.clone())))
            .collect::<Result<_>>()?;
        let views: Vec<(String, TensorView)> = encoded
            .iter()
            .map(|(name, bytes, shape)| {
                Ok((name.clone(), TensorView::new(dtype, shape.clone(), bytes)?))
            })
            .collect::<Result<_>>()?;
        let metadata = Some(
            [("format".to_string(), "pt".to_string())]
                .into_iter()
                .collect(),
        );
        safetensors::serialize_to_file(views, metadata, path)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

fn to_f32(view: &TensorView) -> Result<Vec<f32>> {
    let bytes = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => bail!("dtype {other:?} is not supported (f32, bf16, f16)"),
    })
}

fn from_f32(data: &[f32], dtype: Dtype) -> Result<Vec<u8>> {
    Ok(match dtype {
        Dtype::F32 => data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Dtype::BF16 => data
            .iter()
            .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
            .collect(),
        Dtype::F16 => data
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect(),
        other => bail!("cannot export as {other:?} (f32, bf16, f16)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_round_trip_in_every_dtype() {
        let dir = tempfile::tempdir().unwrap();
        let mut map = WeightMap::default();
        map.insert(
            "a".into(),
            HostTensor::new(vec![2, 3], vec![0.5, -1.25, 3.0, 0.0, 1e-3, 7.75]),
        );
        for dtype in [Dtype::F32, Dtype::BF16, Dtype::F16] {
            let path = dir.path().join(format!("{dtype:?}.safetensors"));
            map.write_safetensors(&path, dtype).unwrap();
            let mut back = WeightMap::default();
            back.read_safetensors(&path).unwrap();
            let got = &back.0["a"];
            assert_eq!(got.shape, vec![2, 3]);
            let tolerance = if dtype == Dtype::F32 { 0.0 } else { 1e-2 };
            for (x, y) in got.data.iter().zip(&map.0["a"].data) {
                assert!(
                    (x - y).abs() <= tolerance * y.abs().max(1.0),
                    "{dtype:?}: {x} vs {y}"
                );
            }
        }
    }

    #[test]
    fn shape_mismatch_names_the_weight() {
        let mut map = WeightMap::default();
        map.insert("w".into(), HostTensor::new(vec![2], vec![1.0, 2.0]));
        let err = map.get("w", &[3]).unwrap_err().to_string();
        assert!(err.contains("w") && err.contains("[2]"), "{err}");
        assert!(
            map.get("missing", &[1])
                .unwrap_err()
                .to_string()
                .contains("missing")
        );
    }
}
