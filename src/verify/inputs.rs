//! Inputs to verify on: a model directory's test sets (`test_data_set_N/input_K.pb` with the
//! expected `output_K.pb`) and seeded random inputs built from the input types.

use super::{Domain, InputSet, VerifyError};
use crate::onnx::read_tensor_file;
use crate::tensor::{DType, Tensor, TensorData, TensorType};
use half::{bf16, f16};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One `test_data_set_N` directory: input tensors and the expected outputs, in file order.
#[derive(Clone, Debug)]
pub struct TestSet {
    /// The directory.
    pub dir: PathBuf,
    /// `(TensorProto name, tensor)` of `input_0.pb`, `input_1.pb`, ... (names may be empty).
    pub inputs: Vec<(String, Tensor)>,
    /// `(TensorProto name, tensor)` of the chosen output files, by output index.
    pub outputs: Vec<(String, Tensor)>,
}

/// The index `K` of `{prefix}K{suffix}.pb`, when `file` has that form.
fn file_index(file: &str, prefix: &str, suffix: &str) -> Option<usize> {
    let middle = file.strip_prefix(prefix)?.strip_suffix(".pb")?.strip_suffix(suffix)?;
    if middle.is_empty() || !middle.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    middle.parse().ok()
}

/// Reads the files of `dir` named `{prefix}K{suffix}.pb`, ordered by `K` (which must run 0, 1, ...).
fn read_indexed(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<(String, Tensor)>, VerifyError> {
    let io = |cause: String| VerifyError::TestData { path: dir.display().to_string(), cause };
    let mut found: Vec<(usize, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(e.to_string()))? {
        let path = entry.map_err(|e| io(e.to_string()))?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else { continue };
        if let Some(k) = file_index(file, prefix, suffix) {
            found.push((k, path));
        }
    }
    found.sort();
    for (i, (k, path)) in found.iter().enumerate() {
        if *k != i {
            return Err(io(format!("{} has no predecessor {prefix}{i}{suffix}.pb", path.display())));
        }
    }
    found
        .into_iter()
        .map(|(_, path)| {
            read_tensor_file(&path)
                .map_err(|e| VerifyError::TestData { path: path.display().to_string(), cause: e.to_string() })
        })
        .collect()
}

impl TestSet {
    /// Loads one test set. Outputs are `output_K.pb`, or `output_K_{suffix}.pb` when a suffix
    /// is given (the int8 models keep `output_0_qdq.pb`, `output_0_qop.pb`, `output_0_float.pb`
    /// side by side).
    pub fn load(dir: &Path, output_suffix: Option<&str>) -> Result<TestSet, VerifyError> {
        let suffix = output_suffix.map(|s| format!("_{s}")).unwrap_or_default();
        let inputs = read_indexed(dir, "input_", "")?;
        let outputs = read_indexed(dir, "output_", &suffix)?;
        Ok(TestSet { dir: dir.to_path_buf(), inputs, outputs })
    }

    /// The inputs by graph input name. `declared` lists the model's runtime inputs in file
    /// order: a tensor whose name is one of them goes to that input, an unnamed (or unknown)
    /// one goes to the input at its position.
    pub fn input_set(&self, declared: &[String]) -> Result<InputSet, VerifyError> {
        let mut set = InputSet::new();
        for (k, (name, tensor)) in self.inputs.iter().enumerate() {
            let target = if declared.iter().any(|d| d == name) {
                name.clone()
            } else {
                declared.get(k).cloned().ok_or_else(|| VerifyError::TestData {
                    path: self.dir.display().to_string(),
                    cause: format!("input_{k}.pb ('{name}') matches no graph input (the model has {})", declared.len()),
                })?
            };
            if set.insert(target.clone(), tensor.clone()).is_some() {
                return Err(VerifyError::TestData {
                    path: self.dir.display().to_string(),
                    cause: format!("two input files give graph input '{target}'"),
                });
            }
        }
        Ok(set)
    }

    /// The expected output tensors in output order.
    pub fn expected(&self) -> Vec<Tensor> {
        self.outputs.iter().map(|(_, t)| t.clone()).collect()
    }
}

/// Loads every `test_data_set_N` under `model_dir`, ordered by `N`; see [`TestSet::load`].
pub fn load_test_sets(model_dir: &Path, output_suffix: Option<&str>) -> Result<Vec<TestSet>, VerifyError> {
    let io = |cause: String| VerifyError::TestData { path: model_dir.display().to_string(), cause };
    let mut dirs: Vec<(usize, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(model_dir).map_err(|e| io(e.to_string()))? {
        let path = entry.map_err(|e| io(e.to_string()))?.path();
        let n = path
            .file_name()
            .and_then(|f| f.to_str())
            .and_then(|f| f.strip_prefix("test_data_set_"))
            .and_then(|n| n.parse().ok());
        if let (Some(n), true) = (n, path.is_dir()) {
            dirs.push((n, path));
        }
    }
    dirs.sort();
    dirs.iter().map(|(_, d)| TestSet::load(d, output_suffix)).collect()
}

/// How random inputs are drawn.
///
/// Floats are uniform in `float_range` (default [-1, 1]: the scale of normalized activations);
/// integers uniform in `int_range` inclusive (default 0..=3, valid as indices into any axis of
/// at least 4 and as small counts); bools fair coins. Inputs are drawn in name order from one
/// `StdRng` seeded with `seed`, so a spec always gives the same tensors. An integer input
/// named in `domains` is drawn inside its [`Domain`] (see [`super::input_domains`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RandomSpec {
    /// The seed of the generator.
    pub seed: u64,
    /// Range of float elements `[lo, hi]`.
    pub float_range: (f64, f64),
    /// Range of integer elements `lo..=hi`.
    pub int_range: (i64, i64),
    /// Integer inputs whose values must stay in a domain (divisors, indices), by name.
    pub domains: HashMap<String, Domain>,
}

impl Default for RandomSpec {
    fn default() -> Self {
        RandomSpec { seed: 0, float_range: (-1.0, 1.0), int_range: (0, 3), domains: HashMap::new() }
    }
}

impl RandomSpec {
    /// The default ranges with another seed.
    pub fn with_seed(seed: u64) -> RandomSpec {
        RandomSpec { seed, ..RandomSpec::default() }
    }
}

/// One random tensor of `ty` drawn from `rng`.
fn random_tensor(rng: &mut StdRng, name: &str, ty: &TensorType, spec: &RandomSpec) -> Result<Tensor, VerifyError> {
    let n = ty.numel();
    let (flo, fhi) = spec.float_range;
    let (ilo, ihi) = spec.int_range;
    let bad = |cause: String| VerifyError::RandomInput { input: name.into(), cause };
    if !(flo <= fhi && flo.is_finite() && fhi.is_finite()) || ilo > ihi {
        return Err(bad(format!("empty range: floats [{flo}, {fhi}], integers {ilo}..={ihi}")));
    }
    let mut floats =
        || -> Vec<f64> { (0..n).map(|_| if flo == fhi { flo } else { rng.random_range(flo..=fhi) }).collect() };
    let data = match ty.dtype {
        DType::F32 => TensorData::F32(floats().into_iter().map(|x| x as f32).collect()),
        DType::F64 => TensorData::F64(floats()),
        DType::F16 => TensorData::F16(floats().into_iter().map(f16::from_f64).collect()),
        DType::BF16 => TensorData::BF16(floats().into_iter().map(bf16::from_f64).collect()),
        DType::Bool => TensorData::Bool((0..n).map(|_| rng.random::<bool>()).collect()),
        dt if dt.is_integer() => {
            let values: Vec<i64> = match spec.domains.get(name) {
                Some(domain) => (0..n).map(|_| domain.draw((ilo, ihi), |lo, hi| rng.random_range(lo..=hi))).collect(),
                None => (0..n).map(|_| rng.random_range(ilo..=ihi)).collect(),
            };
            return Tensor::from_i64(dt, ty.shape.clone(), &values)
                .ok_or_else(|| bad(format!("cannot build {dt} data")));
        }
        dt => return Err(bad(format!("no random {dt} inputs"))),
    };
    Ok(Tensor::new(ty.shape.clone(), data))
}

/// Random inputs for `types` (by input name), deterministic for a [`RandomSpec`].
pub fn random_inputs(types: &HashMap<String, TensorType>, spec: &RandomSpec) -> Result<InputSet, VerifyError> {
    let mut names: Vec<&String> = types.keys().collect();
    names.sort();
    let mut rng = StdRng::seed_from_u64(spec.seed);
    names.into_iter().map(|name| Ok((name.clone(), random_tensor(&mut rng, name, &types[name], spec)?))).collect()
}

/// `count` random input sets, the k-th drawn with seed `spec.seed + k`.
pub fn random_sets(
    types: &HashMap<String, TensorType>,
    spec: &RandomSpec,
    count: usize,
) -> Result<Vec<InputSet>, VerifyError> {
    (0..count as u64)
        .map(|k| random_inputs(types, &RandomSpec { seed: spec.seed.wrapping_add(k), ..spec.clone() }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> HashMap<String, TensorType> {
        [
            ("x".to_string(), TensorType::new(DType::F32, vec![2, 3])),
            ("idx".to_string(), TensorType::new(DType::I64, vec![4])),
            ("mask".to_string(), TensorType::new(DType::Bool, vec![5])),
            ("h".to_string(), TensorType::new(DType::F16, vec![2])),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn random_inputs_are_deterministic_and_in_range() {
        let a = random_inputs(&types(), &RandomSpec::with_seed(7)).unwrap();
        let b = random_inputs(&types(), &RandomSpec::with_seed(7)).unwrap();
        assert_eq!(a, b);
        let c = random_inputs(&types(), &RandomSpec::with_seed(8)).unwrap();
        assert_ne!(a["x"], c["x"]);
        assert_eq!(a["x"].shape, vec![2, 3]);
        assert!(a["x"].as_f32().unwrap().iter().all(|v| (-1.0..=1.0).contains(v)));
        assert!(a["idx"].to_i64_vec().unwrap().iter().all(|v| (0..=3).contains(v)));
        assert_eq!(a["mask"].dtype, DType::Bool);
        assert_eq!(a["h"].dtype, DType::F16);
        let sets = random_sets(&types(), &RandomSpec::with_seed(7), 2).unwrap();
        assert_eq!(sets[0], a);
        assert_ne!(sets[1]["x"], a["x"]);
    }

    #[test]
    fn random_inputs_refuse_strings_and_empty_ranges() {
        let t: HashMap<_, _> = [("s".to_string(), TensorType::new(DType::Str, vec![1]))].into_iter().collect();
        assert!(matches!(random_inputs(&t, &RandomSpec::default()), Err(VerifyError::RandomInput { .. })));
        let spec = RandomSpec { int_range: (3, 1), ..RandomSpec::default() };
        assert!(random_inputs(&types(), &spec).is_err());
    }

    #[test]
    fn file_indices() {
        assert_eq!(file_index("input_12.pb", "input_", ""), Some(12));
        assert_eq!(file_index("output_0_qdq.pb", "output_", "_qdq"), Some(0));
        assert_eq!(file_index("output_0_qdq.pb", "output_", ""), None);
        assert_eq!(file_index("output_0.pb", "output_", "_qdq"), None);
        assert_eq!(file_index("input_.pb", "input_", ""), None);
    }

    #[test]
    fn inputs_match_by_name_then_position() {
        let t = Tensor::f32(vec![1], vec![1.0]);
        let set = TestSet {
            dir: PathBuf::from("d"),
            inputs: vec![("b".into(), t.clone()), (String::new(), Tensor::f32(vec![1], vec![2.0]))],
            outputs: vec![],
        };
        // input_1 (unnamed) goes to position 1, which input_0 already named
        assert!(set.input_set(&["a".into(), "b".into()]).unwrap_err().to_string().contains("two input files"));
        let m = set.input_set(&["b".into(), "c".into()]).unwrap();
        assert_eq!((m["b"].as_f32().unwrap()[0], m["c"].as_f32().unwrap()[0]), (1.0, 2.0));
        assert!(set.input_set(&["b".into()]).is_err());
    }
}
