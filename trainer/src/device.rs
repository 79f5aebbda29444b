//! The one place that knows about backends: turns `--device` strings into Burn devices.

use anyhow::{Result, bail};
use burn::tensor::Device;

/// `cpu` (the pure-Rust `flex` backend, always built), `cuda[:N]` (feature `cuda`), `wgpu` (feature `wgpu`).
pub fn parse(name: &str) -> Result<Device> {
    let (kind, index) = match name.split_once(':') {
        Some((kind, index)) => (kind, Some(index)),
        None => (name, None),
    };
    match kind {
        "cpu" | "flex" => {
            if index.is_some() {
                bail!("device {name:?}: the cpu device takes no index");
            }
            Ok(Device::flex())
        }
        "cuda" => cuda(
            index
                .map(str::parse::<usize>)
                .transpose()
                .map_err(|_| anyhow::anyhow!("device {name:?}: bad index"))?
                .unwrap_or(0),
        ),
        "wgpu" => wgpu(),
        _ => bail!("unknown device {name:?} (cpu, cuda[:N], wgpu)"),
    }
}

/// The device named by the environment variable `var` (as [`parse`] reads it), else the CPU.
/// The trainer's test suites read `MOJ_TEST_DEVICE`, so a GPU machine runs them on its device
/// (`MOJ_TEST_DEVICE=cuda cargo test -p moj-trainer --features cuda`).
pub fn from_env(var: &str) -> Result<Device> {
    match std::env::var(var) {
        Ok(name) => parse(&name),
        Err(_) => Ok(Device::flex()),
    }
}

/// The same device with autodiff enabled, for the policy being trained.
pub fn trainable(device: &Device) -> Device {
    device.clone().autodiff()
}

/// The device without autodiff, for frozen models (reference, reward) and generation.
pub fn frozen(device: &Device) -> Device {
    device.clone().inner()
}

#[cfg(feature = "cuda")]
fn cuda(index: usize) -> Result<Device> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_index: usize) -> Result<Device> {
    bail!("this trainer was built without CUDA; rebuild with `--features cuda`")
}

#[cfg(feature = "wgpu")]
fn wgpu() -> Result<Device> {
    Ok(Device::wgpu(Default::default()))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu() -> Result<Device> {
    bail!("this trainer was built without wgpu; rebuild with `--features wgpu`")
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_checked() {
        assert!(super::parse("cpu").is_ok());
        assert!(super::parse("tpu").unwrap_err().to_string().contains("tpu"));
        assert!(super::parse("cpu:1").is_err());
    }
}
