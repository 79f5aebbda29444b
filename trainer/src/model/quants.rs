//! GGML tensor types and their dequantisation to f32 (block layouts as in ggml-quants.c).

use anyhow::{Result, bail};
use half::f16;

/// The GGML tensor types this loader reads (ids as in ggml.h's `enum ggml_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Bf16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

impl GgmlType {
    pub fn from_id(id: u32) -> Result<Self> {
        Ok(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            30 => GgmlType::Bf16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            12 => GgmlType::Q4K,
            13 => GgmlType::Q5K,
            14 => GgmlType::Q6K,
            other => bail!(
                "GGML type {other} is not supported (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)"
            ),
        })
    }

    /// (elements per block, bytes per block).
    pub fn block_size(self) -> (usize, usize) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::Bf16 => (1, 2),
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q5_0 => (32, 22),
            GgmlType::Q5_1 => (32, 24),
            GgmlType::Q8_0 => (32, 34),
            GgmlType::Q4K => (256, 144),
            GgmlType::Q5K => (256, 176),
            GgmlType::Q6K => (256, 210),
        }
    }

    /// Appends the values of one block `b` to `out`.
    fn dequantize_block(self, b: &[u8], out: &mut Vec<f32>) {
        match self {
            GgmlType::F32 => out.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            GgmlType::F16 => out.push(half_at(b, 0)),
            GgmlType::Bf16 => out.push(half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
            GgmlType::Q4_0 => q4(half_at(b, 0), -8.0 * half_at(b, 0), &b[2..18], out),
            GgmlType::Q4_1 => q4(half_at(b, 0), half_at(b, 2), &b[4..20], out),
            GgmlType::Q5_0 => q5(half_at(b, 0), -16.0 * half_at(b, 0), &b[2..22], out),
            GgmlType::Q5_1 => q5(half_at(b, 0), half_at(b, 2), &b[4..24], out),
            GgmlType::Q8_0 => {
                let d = half_at(b, 0);
                out.extend(b[2..34].iter().map(|&q| q as i8 as f32 * d));
            }
            GgmlType::Q4K => k_quant(b, &b[0..0], &b[16..144], out),
            GgmlType::Q5K => k_quant(b, &b[16..48], &b[48..176], out),
            GgmlType::Q6K => q6k(b, out),
        }
    }
}

fn half_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Q4_0 / Q4_1: 32 nibbles `q`, value `q * d + m` (low nibbles first).
fn q4(d: f32, m: f32, qs: &[u8], out: &mut Vec<f32>) {
    out.extend(qs.iter().map(|q| (q & 0x0f) as f32 * d + m));
    out.extend(qs.iter().map(|q| (q >> 4) as f32 * d + m));
}

/// Q5_0 / Q5_1: `rest` is the 32 high bits (u32 LE) then 16 bytes of nibbles.
fn q5(d: f32, m: f32, rest: &[u8], out: &mut Vec<f32>) {
    let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let qs = &rest[4..20];
    for (j, q) in qs.iter().enumerate() {
        let high = ((qh >> j) & 1) << 4;
        out.push(((q & 0x0f) as u32 | high) as f32 * d + m);
    }
    for (j, q) in qs.iter().enumerate() {
        let high = (qh >> (j + 12)) & 0x10;
        out.push(((q >> 4) as u32 | high) as f32 * d + m);
    }
}

/// Q4_K / Q5_K: super-block scale and min, 8 six-bit (scale, min) pairs, nibbles, and for
/// Q5_K the fifth bits `qh` (empty for Q4_K).
fn k_quant(b: &[u8], qh: &[u8], qs: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (half_at(b, 0), half_at(b, 2));
    let scales = &b[4..16];
    let scale_min = |j: usize| -> (f32, f32) {
        if j < 4 {
            ((scales[j] & 63) as f32, (scales[j + 4] & 63) as f32)
        } else {
            (
                ((scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4)) as f32,
                ((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4)) as f32,
            )
        }
    };
    let fifth_bit = |l: usize, shift: usize| -> u8 {
        match qh.get(l) {
            Some(h) => ((h >> shift) & 1) << 4,
            None => 0,
        }
    };
    for chunk in 0..4 {
        let q = &qs[chunk * 32..chunk * 32 + 32];
        let (s1, m1) = scale_min(2 * chunk);
        let (s2, m2) = scale_min(2 * chunk + 1);
        for (l, byte) in q.iter().enumerate() {
            let value = (byte & 0x0f) | fifth_bit(l, 2 * chunk);
            out.push(d * s1 * value as f32 - dmin * m1);
        }
        for (l, byte) in q.iter().enumerate() {
            let value = (byte >> 4) | fifth_bit(l, 2 * chunk + 1);
            out.push(d * s2 * value as f32 - dmin * m2);
        }
    }
}

/// Q6_K: low nibbles, high two bits, 16 signed scales, one f16 scale; two halves of 128.
fn q6k(b: &[u8], out: &mut Vec<f32>) {
    let (ql, qh, sc) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = half_at(b, 208);
    for n in 0..2 {
        let (ql, qh, sc) = (&ql[n * 64..], &qh[n * 32..], &sc[n * 8..]);
        let mut y = [0f32; 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
            y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
        out.extend_from_slice(&y);
    }
}

/// Dequantises `count` values of type `kind` from `raw`.
pub fn dequantize(kind: GgmlType, raw: &[u8], count: usize) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(count);
    let (block, size) = kind.block_size();
    for b in raw.chunks_exact(size).take(count / block) {
        kind.dequantize_block(b, &mut out);
    }
    if out.len() != count {
        bail!("dequantised {} of {count} values", out.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_1_and_q8_0_blocks_by_hand() {
        // Q4_1: d = 0.5, m = -1, nibbles 0..15 then 15..0
        let mut block = Vec::new();
        block.extend(f16::from_f32(0.5).to_le_bytes());
        block.extend(f16::from_f32(-1.0).to_le_bytes());
        block.extend((0..16u8).map(|i| i | ((15 - i) << 4)));
        let values = dequantize(GgmlType::Q4_1, &block, 32).unwrap();
        assert_eq!(values[0], -1.0);
        assert_eq!(values[15], 6.5);
        assert_eq!(values[16], 6.5);
        assert_eq!(values[31], -1.0);
        // Q8_0: d = 0.25, quants -128..
        let mut block = Vec::new();
        block.extend(f16::from_f32(0.25).to_le_bytes());
        block.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let values = dequantize(GgmlType::Q8_0, &block, 32).unwrap();
        assert_eq!(values[0], -4.0);
        assert_eq!(values[31], 3.75);
    }
}
