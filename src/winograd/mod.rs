//! Winograd F(2×2, 3×3): a 3×3 convolution (stride 1, dilation 1, group 1) computed on 4×4
//! input tiles taken every 2 pixels, each giving a 2×2 block of outputs (Lavin & Gray, "Fast
//! Algorithms for Convolutional Neural Networks", 2016):
//!
//! `Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A`
//!
//! which is an identity in real arithmetic (floats differ by rounding only). The rule
//! `conv3x3-winograd-f2` (`rules/winograd.rules`) writes it in standard ONNX ops:
//!
//! 1. the input transform `V = Bᵀ d B` as a Conv of group C with 16 constant 4×4 filters per
//!    channel (entries 0, ±1), stride 2: `V` is `[N, 16·C, TH, TW]`, channel `c·16 + f`;
//! 2. `V` reshaped to `[N, C, 16, T]` and transposed to `[N, 16, C, T]`;
//! 3. the 16 products as one batched MatMul with the transformed filter `U = G g Gᵀ`
//!    (`[16, K, C]`, folded at optimization time): `M` is `[N, 16, K, T]`;
//! 4. `M` transposed to `[N, K, 16, T]` and reshaped to `[N, 16·K, TH, TW]`;
//! 5. the output transform `Aᵀ M A` as a ConvTranspose of group K with 2×2 constant filters
//!    (entries 0, ±1), stride 2, the bias, and end pads that crop the last row and column of
//!    tiles when the output size is odd.
//!
//! The multiply-adds per output drop from 9·C to 4·C (16 per 2×2 block instead of 36); the
//! transforms are additions and subtractions. This module holds the matrices, the constant
//! tensors of the rule and the tile geometry; the Rust back end recognizes the form and runs
//! it with dedicated transform kernels around the matrix-product microkernel.

mod form;

pub use form::{forms, Form};

use crate::tensor::TensorType;
use crate::work::{bytes_of, OpClass, Tally, Work};

/// `Bᵀ` of F(2, 3): the input transform.
pub const BT: [[f64; 4]; 4] =
    [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]];

/// `G` of F(2, 3): the filter transform.
pub const G: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];

/// `Aᵀ` of F(2, 3): the output transform.
pub const AT: [[f64; 4]; 2] = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];

/// The constant function (`@wino_bt`) whose result is the input transform's Conv weight: the
/// cost model recognizes the form by it (and by [`OUTPUT_WEIGHT`] and [`FILTER`]).
pub const INPUT_WEIGHT: &str = "wino_bt";

/// The constant function (`@wino_at`) whose result is the output transform's weight.
pub const OUTPUT_WEIGHT: &str = "wino_at";

/// The constant function (`@wino_filter`) whose result is the transformed filter `U`.
pub const FILTER: &str = "wino_filter";

/// Products per tile (`4 × 4`).
pub const TILE: usize = 16;

/// The tiling of one 3×3 convolution's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiles {
    /// Output height and width of the convolution.
    pub out: [usize; 2],
    /// Tile rows and columns (`ceil(out / 2)`).
    pub tiles: [usize; 2],
    /// The convolution's pads: top, left, bottom, right.
    pub pads: [usize; 4],
}

impl Tiles {
    /// The tiling of a 3×3, stride-1 convolution of an `h × w` input with pads `[top, left,
    /// bottom, right]`; `None` when the output is empty.
    pub fn new(h: usize, w: usize, pads: [usize; 4]) -> Option<Tiles> {
        let oh = (h + pads[0] + pads[2]).checked_sub(2).filter(|&o| o > 0)?;
        let ow = (w + pads[1] + pads[3]).checked_sub(2).filter(|&o| o > 0)?;
        Some(Tiles { out: [oh, ow], tiles: [oh.div_ceil(2), ow.div_ceil(2)], pads })
    }

    /// Tiles in all.
    pub fn count(&self) -> usize {
        self.tiles[0] * self.tiles[1]
    }

    /// The input transform's pads: the convolution's at the top and left, and at the bottom
    /// and right as many as the last tile reads (`2·tiles + 2` padded rows and columns).
    pub fn input_pads(&self, h: usize, w: usize) -> [usize; 4] {
        let [pt, pl, _, _] = self.pads;
        [pt, pl, 2 * self.tiles[0] + 2 - h - pt, 2 * self.tiles[1] + 2 - w - pl]
    }

    /// The output transform's end pads: the rows and columns of the last tiles past the output.
    pub fn crop(&self) -> [usize; 2] {
        [2 * self.tiles[0] - self.out[0], 2 * self.tiles[1] - self.out[1]]
    }
}

/// Additions per tile and input channel of the input transform `Bᵀ d B`: four per column of
/// the 4×4 tile, then four per row.
const INPUT_ADDS: u64 = 32;

/// Additions per tile and output channel of the output transform `Aᵀ M A`: four per column of
/// the 4×4 products (2×4 left), then four per row of those.
const OUTPUT_ADDS: u64 = 24;

/// The work of the input transform from `x` into the tiles `v` (`[N, 16·C, tiles]`): additions
/// only, reading `x` and writing `v`. The back end makes `v` a block of tile rows at a time and
/// multiplies it at once (`k_wino`), so `v` is streamed through the cache like a packing
/// buffer: it counts in the bytes moved, not in the working set.
/// The additions vectorize along a row's tiles where a row has at least [`VECTOR_TILES`] of
/// them (the back end's vector path); shorter rows run one lane at a time.
pub fn input_work(x: &TensorType, v: &TensorType) -> Work {
    let mut t = Tally::default();
    let adds = v.numel() as u64 * INPUT_ADDS / TILE as u64;
    if v.shape.last().is_some_and(|&tw| tw >= VECTOR_TILES) {
        t.on(v.dtype, OpClass::Add, adds);
    } else {
        t.on_scalar(v.dtype, OpClass::Add, adds);
    }
    t.work(bytes_of([x, v]), bytes_of([x]))
}

/// The fewest tiles a row needs for the input transform to run in vector lanes (`k_wino`'s
/// AVX2 path takes eight at a time; with fewer, cnn_small's 7-tile rows measured 2.1× slower
/// than the direct convolution where vector pricing predicted 0.67×).
pub const VECTOR_TILES: usize = 8;

/// The work of the output transform from the products `m` (`[N, 16·K, tiles]`) into `y`, with
/// the bias when there is one: additions only, reading `m` and writing `y`; `m`, a block at a
/// time, is streamed (as in [`input_work`]).
pub fn output_work(m: &TensorType, y: &TensorType, bias: Option<&TensorType>) -> Work {
    let mut t = Tally::default();
    t.on(y.dtype, OpClass::Add, m.numel() as u64 * OUTPUT_ADDS / TILE as u64);
    if bias.is_some() {
        t.on(y.dtype, OpClass::Add, y.numel() as u64);
    }
    t.work(bytes_of([m, y].into_iter().chain(bias)), bytes_of([y].into_iter().chain(bias)))
}

/// The work of the 16 products, given their work as a MatMul (`matmul`) and the transformed
/// filter `u`: the same operations and bytes, but only `u` must stay resident, since the back
/// end streams the tiles and products through the cache a block at a time (as in
/// [`input_work`]).
pub fn products_work(matmul: Work, u: &TensorType) -> Work {
    Work { working_set: bytes_of([u]), ..matmul }
}

/// The input transform as Conv weights `[16·C, 1, 4, 4]`: filter `c·16 + 4a + b` is
/// `Bᵀ[a][i] · Bᵀ[b][j]` at `(i, j)` (the same for every channel).
pub fn input_weight(c: usize) -> Vec<f64> {
    let one: Vec<f64> = (0..TILE * TILE)
        .map(|q| {
            let (f, p) = (q / TILE, q % TILE);
            BT[f / 4][p / 4] * BT[f % 4][p % 4]
        })
        .collect();
    one.repeat(c)
}

/// The output transform as ConvTranspose weights `[16·K, 1, 2, 2]`: input channel
/// `k·16 + 4a + b` adds `Aᵀ[i][a] · Aᵀ[j][b]` times itself to output `(i, j)` of its tile.
pub fn output_weight(k: usize) -> Vec<f64> {
    let one: Vec<f64> = (0..TILE * 4)
        .map(|q| {
            let (f, p) = (q / 4, q % 4);
            AT[p / 2][f / 4] * AT[p % 2][f % 4]
        })
        .collect();
    one.repeat(k)
}

/// The filter transform `U[4a + b][k][c] = (G g_kc Gᵀ)[a][b]` of weights `g` (`[K, C, 3, 3]`),
/// computed in f64 (the caller rounds once).
pub fn filter_transform(g: &[f64], k: usize, c: usize) -> Vec<f64> {
    let mut u = vec![0.0; TILE * k * c];
    for ki in 0..k {
        for ci in 0..c {
            let f = &g[(ki * c + ci) * 9..][..9];
            for a in 0..4 {
                for b in 0..4 {
                    let mut s = 0.0;
                    for i in 0..3 {
                        for j in 0..3 {
                            s += G[a][i] * f[i * 3 + j] * G[b][j];
                        }
                    }
                    u[((a * 4 + b) * k + ki) * c + ci] = s;
                }
            }
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    /// Direct 3×3 convolution (cross-correlation) of `x` (`[C, H, W]`) with `g`, zero pads.
    fn direct(x: &[f64], g: &[f64], c: usize, k: usize, h: usize, w: usize, t: &Tiles) -> Vec<f64> {
        let [oh, ow] = t.out;
        let mut y = vec![0.0; k * oh * ow];
        for ki in 0..k {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut s = 0.0;
                    for ci in 0..c {
                        for i in 0..3 {
                            for j in 0..3 {
                                let (iy, ix) = ((oy + i) as i64 - t.pads[0] as i64, (ox + j) as i64 - t.pads[1] as i64);
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    s += x[(ci * h + iy as usize) * w + ix as usize]
                                        * g[((ki * c + ci) * 3 + i) * 3 + j];
                                }
                            }
                        }
                    }
                    y[(ki * oh + oy) * ow + ox] = s;
                }
            }
        }
        y
    }

    /// The five steps of the module comment, with the constant tensors of this module.
    fn winograd(x: &[f64], g: &[f64], c: usize, k: usize, h: usize, w: usize, t: &Tiles) -> Vec<f64> {
        let [pt, pl, _, _] = t.input_pads(h, w);
        let [th, tw] = t.tiles;
        let n = t.count();
        let (bt, u, at) = (input_weight(c), filter_transform(g, k, c), output_weight(k));
        let px = |ci: usize, y: usize, x_: usize| {
            let (iy, ix) = (y as i64 - pt as i64, x_ as i64 - pl as i64);
            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                x[(ci * h + iy as usize) * w + ix as usize]
            } else {
                0.0
            }
        };
        // V[f][c][tile] (the transposed layout of step 2).
        let mut v = vec![0.0; TILE * c * n];
        for ci in 0..c {
            for f in 0..TILE {
                for ty in 0..th {
                    for tx in 0..tw {
                        let wf = &bt[(ci * TILE + f) * 16..][..16];
                        let s: f64 = (0..16).map(|q| wf[q] * px(ci, 2 * ty + q / 4, 2 * tx + q % 4)).sum();
                        v[(f * c + ci) * n + ty * tw + tx] = s;
                    }
                }
            }
        }
        let mut m = vec![0.0; TILE * k * n];
        for f in 0..TILE {
            for ki in 0..k {
                for p in 0..n {
                    m[(f * k + ki) * n + p] = (0..c).map(|ci| u[(f * k + ki) * c + ci] * v[(f * c + ci) * n + p]).sum();
                }
            }
        }
        let [oh, ow] = t.out;
        let mut y = vec![0.0; k * oh * ow];
        for ki in 0..k {
            for ty in 0..th {
                for tx in 0..tw {
                    for i in 0..2 {
                        for j in 0..2 {
                            let (oy, ox) = (2 * ty + i, 2 * tx + j);
                            if oy < oh && ox < ow {
                                y[(ki * oh + oy) * ow + ox] = (0..TILE)
                                    .map(|f| at[((ki * TILE + f) * 2 + i) * 2 + j] * m[(f * k + ki) * n + ty * tw + tx])
                                    .sum();
                            }
                        }
                    }
                }
            }
        }
        y
    }

    #[test]
    fn the_transforms_compute_the_direct_convolution() {
        for (c, k, h, w, pads) in
            [(1, 1, 4, 4, [0; 4]), (3, 2, 5, 7, [1; 4]), (2, 3, 6, 5, [1, 0, 0, 1]), (4, 5, 3, 3, [1; 4])]
        {
            let t = Tiles::new(h, w, pads).unwrap();
            let (x, g) = (values(c * h * w, 1), values(k * c * 9, 2));
            let (want, got) = (direct(&x, &g, c, k, h, w, &t), winograd(&x, &g, c, k, h, w, &t));
            assert_eq!(want.len(), got.len());
            for (a, b) in want.iter().zip(&got) {
                assert!((a - b).abs() < 1e-12, "{c}x{k} {h}x{w} {pads:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn tiles_cover_the_output_and_crop_the_rest() {
        let t = Tiles::new(5, 5, [1; 4]).unwrap();
        assert_eq!((t.out, t.tiles, t.crop()), ([5, 5], [3, 3], [1, 1]));
        assert_eq!(t.input_pads(5, 5), [1, 1, 2, 2]);
        let even = Tiles::new(8, 8, [1; 4]).unwrap();
        assert_eq!((even.tiles, even.crop(), even.input_pads(8, 8)), ([4, 4], [0, 0], [1, 1, 1, 1]));
        assert!(Tiles::new(2, 2, [0; 4]).is_none());
    }
}
