//! Winograd F(m×m, 3×3) for m = 2 and m = 4: a 3×3 convolution (stride 1, dilation 1, group 1)
//! computed on (m+2)×(m+2) input tiles taken every m pixels, each giving an m×m block of outputs
//! (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016, sections 4.1-4.2):
//!
//! `Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A`
//!
//! which is an identity in real arithmetic (floats differ by rounding only). With `n = m + 2`
//! and `P = n²` products per tile, the rules `conv3x3-winograd-f2` and `conv3x3-winograd-f4`
//! (`rules/winograd.rules`) write it in standard ONNX ops:
//!
//! 1. the input transform `V = Bᵀ d B` as a Conv of group C with P constant n×n filters per
//!    channel, stride m: `V` is `[N, P·C, TH, TW]`, channel `c·P + f`;
//! 2. `V` reshaped to `[N, C, P, T]` and transposed to `[N, P, C, T]`;
//! 3. the P products as one batched MatMul with the transformed filter `U = G g Gᵀ`
//!    (`[P, K, C]`, folded at optimization time): `M` is `[N, P, K, T]`;
//! 4. `M` transposed to `[N, K, P, T]` and reshaped to `[N, P·K, TH, TW]`;
//! 5. the output transform `Aᵀ M A` as a ConvTranspose of group K with m×m constant filters,
//!    stride m, the bias, and end pads that crop the tiles past the output.
//!
//! F(2×2, 3×3) ([`Size::F2`]): points 0, ±1, ∞; `Bᵀ` and `Aᵀ` of 0, ±1, `G` of 0, ±1/2, ±1; 16
//! products per 2×2 block instead of 36 (2.25× fewer multiplies), transforms by additions.
//! F(4×4, 3×3) ([`Size::F4`]): points 0, ±1, ±2, ∞; `Bᵀ` of 0, ±1, ±2, ±4, ±5, `G` of ±1/4,
//! ±1/6, 1/12, 1/24, 1, `Aᵀ` of 0, ±1, ±2, ±4, ±8; 36 products per 4×4 block instead of 144 (4×
//! fewer), transforms by additions and multiplies by those small constants. F4 loses more
//! bits: its transforms sum six values weighted up to 5 and 8 (measured on the shared ResNets
//! in the README, "Winograd"; the pipeline verifies every written model and falls back to F2,
//! then to none, when it does not verify).
//!
//! This module holds the matrices, the constant tensors of the rules and the tile geometry;
//! the Rust back end recognizes the forms and runs them with dedicated transform kernels around
//! the matrix-product microkernel.

mod form;

pub use form::{forms, Form};

use crate::tensor::TensorType;
use crate::work::{bytes_of, OpClass, Tally, Work};

/// `Bᵀ` of F(2, 3): the input transform.
const BT2: [[f64; 4]; 4] = [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]];

/// `G` of F(2, 3): the filter transform.
const G2: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];

/// `Aᵀ` of F(2, 3): the output transform.
const AT2: [[f64; 4]; 2] = [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]];

/// `Bᵀ` of F(4, 3) (Lavin & Gray, section 4.2).
const BT4: [[f64; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// `G` of F(4, 3) (Lavin & Gray, section 4.2).
const G4: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `Aᵀ` of F(4, 3) (Lavin & Gray, section 4.2).
const AT4: [[f64; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// Products per F(2×2, 3×3) tile (`4 × 4`): the integer Winograd's too.
pub const TILE: usize = 16;

/// Which Winograd algorithm: the output block's side m.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Size {
    /// F(2×2, 3×3): 4×4 tiles every 2 pixels, 16 products per 2×2 block.
    F2,
    /// F(4×4, 3×3): 6×6 tiles every 4 pixels, 36 products per 4×4 block.
    F4,
}

impl Size {
    /// Both sizes.
    pub const ALL: [Size; 2] = [Size::F2, Size::F4];

    /// Outputs per tile side (`m`): the tiles' stride.
    pub fn m(self) -> usize {
        match self {
            Size::F2 => 2,
            Size::F4 => 4,
        }
    }

    /// Inputs per tile side (`n = m + 2`).
    pub fn n(self) -> usize {
        self.m() + 2
    }

    /// Products per tile (`n²`).
    pub fn products(self) -> usize {
        self.n() * self.n()
    }

    /// `Bᵀ[i][j]` (`n × n`).
    pub fn bt(self, i: usize, j: usize) -> f64 {
        match self {
            Size::F2 => BT2[i][j],
            Size::F4 => BT4[i][j],
        }
    }

    /// `G[i][j]` (`n × 3`).
    pub fn g(self, i: usize, j: usize) -> f64 {
        match self {
            Size::F2 => G2[i][j],
            Size::F4 => G4[i][j],
        }
    }

    /// `Aᵀ[i][j]` (`m × n`).
    pub fn at(self, i: usize, j: usize) -> f64 {
        match self {
            Size::F2 => AT2[i][j],
            Size::F4 => AT4[i][j],
        }
    }

    /// The constant function (`@wino_bt`, `@wino4_bt`) whose result is the input transform's
    /// Conv weight: the cost model recognizes the form by it (and by [`Size::output_weight_fn`]
    /// and [`Size::filter_fn`]).
    pub const fn input_weight_fn(self) -> &'static str {
        match self {
            Size::F2 => "wino_bt",
            Size::F4 => "wino4_bt",
        }
    }

    /// The constant function (`@wino_at`, `@wino4_at`) whose result is the output transform's
    /// weight.
    pub const fn output_weight_fn(self) -> &'static str {
        match self {
            Size::F2 => "wino_at",
            Size::F4 => "wino4_at",
        }
    }

    /// The constant function (`@wino_filter`, `@wino4_filter`) whose result is the transformed
    /// filter `U`.
    pub const fn filter_fn(self) -> &'static str {
        match self {
            Size::F2 => "wino_filter",
            Size::F4 => "wino4_filter",
        }
    }

    /// Operations per tile and input channel of the input transform `Bᵀ d B`: `2n` transforms
    /// of n values (columns, then rows). F2: 4 additions each. F4: 14 additions and 5 multiplies
    /// each, with Lavin & Gray's shared terms (`d0 − d2`, `d4 − d2`, `d1 − d3`, ...; the
    /// kernels' `m_bt6`).
    fn input_ops(self) -> [(OpClass, u64); 2] {
        match self {
            Size::F2 => [(OpClass::Add, 32), (OpClass::Mul, 0)],
            Size::F4 => [(OpClass::Add, 12 * 14), (OpClass::Mul, 12 * 5)],
        }
    }

    /// Operations per tile and output channel of the output transform `Aᵀ M A`: `n + m`
    /// transforms of n values into m (the columns, then the m rows of those). F2: 4 additions
    /// each. F4: 10 additions and 3 multiplies each (the kernels' `m_at6_rows`).
    fn output_ops(self) -> [(OpClass, u64); 2] {
        match self {
            Size::F2 => [(OpClass::Add, 24), (OpClass::Mul, 0)],
            Size::F4 => [(OpClass::Add, 10 * 10), (OpClass::Mul, 10 * 3)],
        }
    }
}

/// The size whose form the rule `name` of `rules/winograd.rules` writes
/// (`conv3x3-winograd-f2...`, `conv3x3-winograd-f4...`), `None` for other rules.
pub fn rule_size(name: &str) -> Option<Size> {
    match name.strip_prefix("conv3x3-winograd-")?.get(..2)? {
        "f2" => Some(Size::F2),
        "f4" => Some(Size::F4),
        _ => None,
    }
}

/// The tiling of one 3×3 convolution's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiles {
    /// The algorithm.
    pub size: Size,
    /// Output height and width of the convolution.
    pub out: [usize; 2],
    /// Tile rows and columns (`ceil(out / m)`).
    pub tiles: [usize; 2],
    /// The convolution's pads: top, left, bottom, right.
    pub pads: [usize; 4],
}

impl Tiles {
    /// The tiling of a 3×3, stride-1 convolution of an `h × w` input with pads `[top, left,
    /// bottom, right]` by `size`; `None` when the output is empty.
    pub fn new(h: usize, w: usize, pads: [usize; 4], size: Size) -> Option<Tiles> {
        let oh = (h + pads[0] + pads[2]).checked_sub(2).filter(|&o| o > 0)?;
        let ow = (w + pads[1] + pads[3]).checked_sub(2).filter(|&o| o > 0)?;
        let m = size.m();
        Some(Tiles { size, out: [oh, ow], tiles: [oh.div_ceil(m), ow.div_ceil(m)], pads })
    }

    /// Tiles in all.
    pub fn count(&self) -> usize {
        self.tiles[0] * self.tiles[1]
    }

    /// The input transform's pads: the convolution's at the top and left, and at the bottom
    /// and right as many as the last tile reads (`m·tiles + 2` padded rows and columns).
    pub fn input_pads(&self, h: usize, w: usize) -> [usize; 4] {
        let [pt, pl, _, _] = self.pads;
        let m = self.size.m();
        [pt, pl, m * self.tiles[0] + 2 - h - pt, m * self.tiles[1] + 2 - w - pl]
    }

    /// The output transform's end pads: the rows and columns of the last tiles past the output.
    pub fn crop(&self) -> [usize; 2] {
        let m = self.size.m();
        [m * self.tiles[0] - self.out[0], m * self.tiles[1] - self.out[1]]
    }
}

/// Tallies `ops` per tile, times `tiles`, into `t` (in vector lanes unless `scalar`).
fn tally_ops(t: &mut Tally, dtype: crate::tensor::DType, ops: [(OpClass, u64); 2], tiles: u64, scalar: bool) {
    for (class, n) in ops {
        if scalar {
            t.on_scalar(dtype, class, n * tiles);
        } else {
            t.on(dtype, class, n * tiles);
        }
    }
}

/// The work of the input transform by `size` from `x` into the tiles `v` (`[N, P·C, tiles]`):
/// additions (and for F4 multiplies by small constants), reading `x` and writing `v`. The back
/// end makes `v` a block of tile rows at a time and multiplies it at once (`k_wino`), so `v` is
/// streamed through the cache like a packing buffer: it counts in the bytes moved, not in the
/// working set. The operations vectorize along a row's tiles where a row has at least
/// [`VECTOR_TILES`] of them (the back end's vector path); shorter rows run one lane at a time.
pub fn input_work(size: Size, x: &TensorType, v: &TensorType) -> Work {
    let mut t = Tally::default();
    let tiles = (v.numel() / size.products()) as u64;
    let scalar = v.shape.last().is_none_or(|&tw| tw < VECTOR_TILES);
    tally_ops(&mut t, v.dtype, size.input_ops(), tiles, scalar);
    t.work(bytes_of([x, v]), bytes_of([x]))
}

/// The fewest tiles a row needs for the input transform to run in vector lanes (`k_wino`'s
/// AVX2 path takes eight at a time; with fewer, cnn_small's 7-tile rows measured 2.1× slower
/// than the direct convolution where vector pricing predicted 0.67×).
pub const VECTOR_TILES: usize = 8;

/// The work of the output transform by `size` from the products `m` (`[N, P·K, tiles]`) into
/// `y`, with the bias when there is one, reading `m` and writing `y`; `m`, a block at a time,
/// is streamed (as in [`input_work`]).
pub fn output_work(size: Size, m: &TensorType, y: &TensorType, bias: Option<&TensorType>) -> Work {
    let mut t = Tally::default();
    tally_ops(&mut t, y.dtype, size.output_ops(), (m.numel() / size.products()) as u64, false);
    if bias.is_some() {
        t.on(y.dtype, OpClass::Add, y.numel() as u64);
    }
    t.work(bytes_of([m, y].into_iter().chain(bias)), bytes_of([y].into_iter().chain(bias)))
}

/// The work of the products, given their work as a MatMul (`matmul`) and the transformed
/// filter `u`: the same operations and bytes, but only `u` must stay resident, since the back
/// end streams the tiles and products through the cache a block at a time (as in
/// [`input_work`]).
pub fn products_work(matmul: Work, u: &TensorType) -> Work {
    Work { working_set: bytes_of([u]), ..matmul }
}

/// The input transform as Conv weights `[P·C, 1, n, n]`: filter `c·P + n·a + b` is
/// `Bᵀ[a][i] · Bᵀ[b][j]` at `(i, j)` (the same for every channel).
pub fn input_weight(size: Size, c: usize) -> Vec<f64> {
    let (n, p) = (size.n(), size.products());
    let one: Vec<f64> = (0..p * p)
        .map(|q| {
            let (f, e) = (q / p, q % p);
            size.bt(f / n, e / n) * size.bt(f % n, e % n)
        })
        .collect();
    one.repeat(c)
}

/// The output transform as ConvTranspose weights `[P·K, 1, m, m]`: input channel
/// `k·P + n·a + b` adds `Aᵀ[i][a] · Aᵀ[j][b]` times itself to output `(i, j)` of its tile.
pub fn output_weight(size: Size, k: usize) -> Vec<f64> {
    let (m, n, p) = (size.m(), size.n(), size.products());
    let one: Vec<f64> = (0..p * m * m)
        .map(|q| {
            let (f, e) = (q / (m * m), q % (m * m));
            size.at(e / m, f / n) * size.at(e % m, f % n)
        })
        .collect();
    one.repeat(k)
}

/// The filter transform `U[n·a + b][k][c] = (G g_kc Gᵀ)[a][b]` of weights `g` (`[K, C, 3, 3]`)
/// by `size`, computed in f64 (the caller rounds once).
pub fn filter_transform(size: Size, g: &[f64], k: usize, c: usize) -> Vec<f64> {
    let n = size.n();
    let mut u = vec![0.0; size.products() * k * c];
    for ki in 0..k {
        for ci in 0..c {
            let f = &g[(ki * c + ci) * 9..][..9];
            for a in 0..n {
                for b in 0..n {
                    let mut s = 0.0;
                    for i in 0..3 {
                        for j in 0..3 {
                            s += size.g(a, i) * f[i * 3 + j] * size.g(b, j);
                        }
                    }
                    u[((a * n + b) * k + ki) * c + ci] = s;
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
        let size = t.size;
        let (sm, sn, p) = (size.m(), size.n(), size.products());
        let (bt, u, at) = (input_weight(size, c), filter_transform(size, g, k, c), output_weight(size, k));
        let px = |ci: usize, y: usize, x_: usize| {
            let (iy, ix) = (y as i64 - pt as i64, x_ as i64 - pl as i64);
            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                x[(ci * h + iy as usize) * w + ix as usize]
            } else {
                0.0
            }
        };
        // V[f][c][tile] (the transposed layout of step 2).
        let mut v = vec![0.0; p * c * n];
        for ci in 0..c {
            for f in 0..p {
                for ty in 0..th {
                    for tx in 0..tw {
                        let wf = &bt[(ci * p + f) * p..][..p];
                        let s: f64 = (0..p).map(|q| wf[q] * px(ci, sm * ty + q / sn, sm * tx + q % sn)).sum();
                        v[(f * c + ci) * n + ty * tw + tx] = s;
                    }
                }
            }
        }
        let mut m = vec![0.0; p * k * n];
        for f in 0..p {
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
                    for i in 0..sm {
                        for j in 0..sm {
                            let (oy, ox) = (sm * ty + i, sm * tx + j);
                            if oy < oh && ox < ow {
                                y[(ki * oh + oy) * ow + ox] = (0..p)
                                    .map(|f| at[((ki * p + f) * sm + i) * sm + j] * m[(f * k + ki) * n + ty * tw + tx])
                                    .sum();
                            }
                        }
                    }
                }
            }
        }
        y
    }

    /// `Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A` equals the direct convolution on random tiles, for both sizes
    /// (whole tiles, cropped ones, uneven pads, an output smaller than one tile).
    #[test]
    fn the_transforms_compute_the_direct_convolution() {
        for size in Size::ALL {
            for (c, k, h, w, pads) in [
                (1, 1, 4, 4, [0; 4]),
                (1, 1, 6, 6, [0; 4]),
                (3, 2, 5, 7, [1; 4]),
                (2, 3, 6, 5, [1, 0, 0, 1]),
                (4, 5, 3, 3, [1; 4]),
                (3, 4, 11, 9, [1; 4]),
            ] {
                let t = Tiles::new(h, w, pads, size).unwrap();
                let (x, g) = (values(c * h * w, 1), values(k * c * 9, 2));
                let (want, got) = (direct(&x, &g, c, k, h, w, &t), winograd(&x, &g, c, k, h, w, &t));
                assert_eq!(want.len(), got.len());
                for (a, b) in want.iter().zip(&got) {
                    assert!((a - b).abs() < 1e-12, "{size:?} {c}x{k} {h}x{w} {pads:?}: {a} vs {b}");
                }
            }
        }
    }

    /// F4's matrices hold the entries Lavin & Gray give (and no others): `Bᵀ` 0, ±1, ±2, ±4,
    /// ±5; `Aᵀ` 0, ±1, ±2, ±4, ±8.
    #[test]
    fn f4_matrices_have_small_entries() {
        let n = Size::F4.n();
        let bt: Vec<f64> = (0..n * n).map(|q| Size::F4.bt(q / n, q % n).abs()).collect();
        let at: Vec<f64> = (0..4 * n).map(|q| Size::F4.at(q / n, q % n).abs()).collect();
        assert!(bt.iter().all(|v| [0.0, 1.0, 2.0, 4.0, 5.0].contains(v)), "{bt:?}");
        assert!(at.iter().all(|v| [0.0, 1.0, 2.0, 4.0, 8.0].contains(v)), "{at:?}");
    }

    #[test]
    fn rules_name_their_size() {
        assert_eq!(rule_size("conv3x3-winograd-f2-nobias"), Some(Size::F2));
        assert_eq!(rule_size("conv3x3-winograd-f4"), Some(Size::F4));
        assert_eq!(rule_size("conv-bias-fold"), None);
    }

    #[test]
    fn tiles_cover_the_output_and_crop_the_rest() {
        let t = Tiles::new(5, 5, [1; 4], Size::F2).unwrap();
        assert_eq!((t.out, t.tiles, t.crop()), ([5, 5], [3, 3], [1, 1]));
        assert_eq!(t.input_pads(5, 5), [1, 1, 2, 2]);
        let even = Tiles::new(8, 8, [1; 4], Size::F2).unwrap();
        assert_eq!((even.tiles, even.crop(), even.input_pads(8, 8)), ([4, 4], [0, 0], [1, 1, 1, 1]));
        assert!(Tiles::new(2, 2, [0; 4], Size::F2).is_none());
        // F4: 4-pixel steps, 6-pixel tiles; 5×5 outputs take 2×2 tiles, 3 rows and columns cropped.
        let t4 = Tiles::new(5, 5, [1; 4], Size::F4).unwrap();
        assert_eq!((t4.tiles, t4.crop(), t4.input_pads(5, 5)), ([2, 2], [3, 3], [1, 1, 4, 4]));
        let even4 = Tiles::new(8, 8, [1; 4], Size::F4).unwrap();
        assert_eq!((even4.tiles, even4.crop(), even4.input_pads(8, 8)), ([2, 2], [0, 0], [1, 1, 1, 1]));
    }
}
