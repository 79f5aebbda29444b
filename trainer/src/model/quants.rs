//! GGML tensor types and their dequantisation to f32 (block layouts as in ggml-quants.c).

use anyhow::{Result, bail};
use half::f16;

/// (elements per block, bytes per block) of a GGML type.
pub fn block_size(kind: u32) -> Result<(usize, usize)> {
    Ok(match kind {
        0 => (1, 4),
        1 | 30 => (1, 2),
        2 => (32, 18),
        3 => (32, 20),
        6 => (32, 22),
        7 => (32, 24),
        8 => (32, 34),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210),
        other => bail!(
            "GGML type {other} is not supported (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)"
        ),
    })
}

fn half_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Dequantises `count` values of GGML type `kind` (layouts as in ggml-quants.c).
pub fn dequantize(kind: u32, raw: &[u8], count: usize) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(count);
    let (block, size) = block_size(kind)?;
    for b in raw.chunks_exact(size).take(count / block) {
        match kind {
            0 => out.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            1 => out.push(half_at(b, 0)),
            30 => out.push(half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
            2 | 3 => {
                let d = half_at(b, 0);
                let (m, qs) = if kind == 3 {
                    (half_at(b, 2), &b[4..20])
                } else {
                    (-8.0 * d, &b[2..18])
                };
                out.extend(qs.iter().map(|q| (q & 0x0f) as f32 * d + m));
                out.extend(qs.iter().map(|q| (q >> 4) as f32 * d + m));
            }
            6 | 7 => {
                let d = half_at(b, 0);
                let (m, qh_at) = if kind == 7 {
                    (half_at(b, 2), 4)
                } else {
                    (-16.0 * d, 2)
                };
                let qh = u32::from_le_bytes(b[qh_at..qh_at + 4].try_into()?);
                let qs = &b[qh_at + 4..qh_at + 20];
                for (j, q) in qs.iter().enumerate() {
                    let high = ((qh >> j) & 1) << 4;
                    out.push(((q & 0x0f) as u32 | high) as f32 * d + m);
                }
                for (j, q) in qs.iter().enumerate() {
                    let high = (qh >> (j + 12)) & 0x10;
                    out.push(((q >> 4) as u32 | high) as f32 * d + m);
                }
            }
            8 => {
                let d = half_at(b, 0);
                out.extend(b[2..34].iter().map(|&q| q as i8 as f32 * d));
            }
            12 | 13 => {
                let (d, dmin) = (half_at(b, 0), half_at(b, 2));
                let scales = &b[4..16];
                let (qh, qs) = if kind == 13 {
                    (&b[16..48], &b[48..176])
                } else {
                    (&b[0..0], &b[16..144])
                };
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
                for chunk in 0..4 {
                    let q = &qs[chunk * 32..chunk * 32 + 32];
                    let (s1, m1) = scale_min(2 * chunk);
                    let (s2, m2) = scale_min(2 * chunk + 1);
                    for (l, byte) in q.iter().enumerate() {
                        let high = if kind == 13 {
                            ((qh[l] >> (2 * chunk)) & 1) << 4
                        } else {
                            0
                        };
                        out.push(d * s1 * ((byte & 0x0f) | high) as f32 - dmin * m1);
                    }
                    for (l, byte) in q.iter().enumerate() {
                        let high = if kind == 13 {
                            ((qh[l] >> (2 * chunk + 1)) & 1) << 4
                        } else {
                            0
                        };
                        out.push(d * s2 * ((byte >> 4) | high) as f32 - dmin * m2);
                    }
                }
            }
            14 => {
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
            _ => unreachable!("block_size rejected it"),
        }
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
        let values = dequantize(3, &block, 32).unwrap();
        assert_eq!(values[0], -1.0);
        assert_eq!(values[15], 6.5);
        assert_eq!(values[16], 6.5);
        assert_eq!(values[31], -1.0);
        // Q8_0: d = 0.25, quants -128..
        let mut block = Vec::new();
        block.extend(f16::from_f32(0.25).to_le_bytes());
        block.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let values = dequantize(8, &block, 32).unwrap();
        assert_eq!(values[0], -4.0);
        assert_eq!(values[31], 3.75);
    }
}
