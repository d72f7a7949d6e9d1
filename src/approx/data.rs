//! Calibration and evaluation data for approx mode: samples (the model's inputs, one set per
//! sample) and optional labels.
//!
//! A data argument is a path, optionally followed by a sample range `@START..END` (`x.f32@0..1000`
//! is the first thousand samples). Sample files:
//! - a folder of ONNX test sets (`test_data_set_*/input_*.pb`), one sample per set;
//! - raw little-endian `.f32`: consecutive samples of the (single) input's shape;
//! - `.npy`: an array whose leading axis runs over samples (or one sample's shape times N);
//! - MNIST's IDX image files (`*-idx3-ubyte`), each byte read as `byte / 255` in [0, 1], the
//!   convention of the shared `.f32` files (`--data-scale 255` for a model taking raw pixels).
//!
//! Label files: raw `u8` (`.u8`), raw little-endian `i64` (`.i64`), `.npy` (integer), or IDX
//! (`*-idx1-ubyte`). Any file may be gzip-compressed (`.gz`).

use crate::tensor::{DType, Tensor, TensorData, TensorType};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read or decoded.
    #[error("{path}: {cause}")]
    File {
        /// The file or folder.
        path: String,
        /// What went wrong.
        cause: String,
    },
    /// The data does not fit the model or the other arguments.
    #[error("{0}")]
    Mismatch(String),
}

/// A data argument: a path and an optional sample range.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSpec {
    /// The file or folder.
    pub path: PathBuf,
    /// Samples `start..end` only.
    pub range: Option<(usize, usize)>,
}

impl std::str::FromStr for DataSpec {
    type Err = String;

    /// `PATH` or `PATH@START..END`.
    fn from_str(s: &str) -> Result<DataSpec, String> {
        let Some((path, range)) = s.rsplit_once('@').filter(|(_, r)| r.contains("..")) else {
            return Ok(DataSpec { path: s.into(), range: None });
        };
        let (a, b) = range.split_once("..").expect("checked above");
        let num = |t: &str| t.trim().parse::<usize>().map_err(|_| format!("'{s}': the range must be START..END"));
        let (a, b) = (num(a)?, num(b)?);
        if a >= b {
            return Err(format!("'{s}': the range {a}..{b} is empty"));
        }
        Ok(DataSpec { path: path.into(), range: Some((a, b)) })
    }
}

impl std::fmt::Display for DataSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some((a, b)) = self.range {
            write!(f, "@{a}..{b}")?;
        }
        Ok(())
    }
}

/// Samples with optional labels.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Per sample, the model's inputs by name.
    pub samples: Vec<HashMap<String, Tensor>>,
    /// One class label per sample, when labels were given.
    pub labels: Option<Vec<i64>>,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The samples at `indices` (with their labels).
    pub fn select(&self, indices: &[usize]) -> Dataset {
        Dataset {
            samples: indices.iter().map(|&i| self.samples[i].clone()).collect(),
            labels: self.labels.as_ref().map(|l| indices.iter().map(|&i| l[i]).collect()),
        }
    }

    /// Splits into (calibration, held out): every second sample (odd positions) is held out, so
    /// data ordered by source or class is represented in both parts.
    pub fn split_interleaved(&self) -> (Dataset, Dataset) {
        let even: Vec<usize> = (0..self.len()).step_by(2).collect();
        let odd: Vec<usize> = (1..self.len()).step_by(2).collect();
        (self.select(&even), self.select(&odd))
    }
}

/// Reads samples for a model whose runtime inputs are `inputs` (name, static type), multiplying
/// float values by `scale`, and labels if `labels` is given (one per sample).
pub fn load(
    spec: &DataSpec,
    labels: Option<&DataSpec>,
    inputs: &[(String, TensorType)],
    scale: f32,
) -> Result<Dataset, DataError> {
    let mut samples = read_samples(&spec.path, inputs)?;
    if scale != 1.0 {
        for sample in &mut samples {
            for t in sample.values_mut() {
                if let TensorData::F32(v) = &mut t.data {
                    v.iter_mut().for_each(|x| *x *= scale);
                }
            }
        }
    }
    let samples = take_range(samples, spec)?;
    let labels = labels.map(|l| take_range(read_labels(&l.path)?, l)).transpose()?;
    if let Some(l) = &labels {
        if l.len() != samples.len() {
            return Err(DataError::Mismatch(format!(
                "the label file has {} labels for the {} samples of {spec}",
                l.len(),
                samples.len()
            )));
        }
    }
    if samples.is_empty() {
        return Err(DataError::Mismatch(format!("{spec} holds no samples")));
    }
    Ok(Dataset { samples, labels })
}

fn take_range<T>(items: Vec<T>, spec: &DataSpec) -> Result<Vec<T>, DataError> {
    let Some((a, b)) = spec.range else { return Ok(items) };
    if b > items.len() {
        return Err(DataError::Mismatch(format!("{spec}: the file holds only {} samples", items.len())));
    }
    Ok(items.into_iter().skip(a).take(b - a).collect())
}

fn file_err(path: &Path, cause: impl ToString) -> DataError {
    DataError::File { path: path.display().to_string(), cause: cause.to_string() }
}

/// The bytes of a file, gunzipped when it ends in `.gz`.
fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| file_err(path, e))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| file_err(path, e))?;
        return Ok(out);
    }
    Ok(raw)
}

/// The file name without a trailing `.gz`.
fn base_name(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.strip_suffix(".gz").map(str::to_string).unwrap_or(name)
}

fn read_samples(path: &Path, inputs: &[(String, TensorType)]) -> Result<Vec<HashMap<String, Tensor>>, DataError> {
    if path.is_dir() {
        return read_test_sets(path, inputs);
    }
    let [(name, ty)] = inputs else {
        let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
        return Err(DataError::Mismatch(format!(
            "{}: a sample file feeds a model with one input; this one has {} ({}): use a folder of test sets",
            path.display(),
            inputs.len(),
            names.join(", ")
        )));
    };
    let bytes = read_bytes(path)?;
    let name_lc = base_name(path).to_ascii_lowercase();
    let values: Vec<f32> = if name_lc.ends_with(".npy") {
        npy_values(path, &bytes)?
    } else if name_lc.contains("idx3-ubyte") {
        idx_payload(path, &bytes, 3)?.iter().map(|&b| f32::from(b) / 255.0).collect()
    } else if name_lc.ends_with(".f32") {
        if !bytes.len().is_multiple_of(4) {
            return Err(file_err(path, format!("{} bytes is not a whole number of f32 values", bytes.len())));
        }
        bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    } else {
        return Err(file_err(path, "unknown sample format (expected a test-set folder, .f32, .npy or an IDX file)"));
    };
    if ty.dtype != DType::F32 {
        return Err(DataError::Mismatch(format!(
            "input '{name}' is {}, sample files hold float32 values (use a folder of test sets)",
            ty.dtype
        )));
    }
    let per = ty.numel();
    if per == 0 || !values.len().is_multiple_of(per) {
        return Err(file_err(
            path,
            format!(
                "{} values are not a whole number of samples of input '{name}' {:?} ({per} values each; --input-shape sets the shape)",
                values.len(),
                ty.shape
            ),
        ));
    }
    Ok(values
        .chunks_exact(per)
        .map(|c| HashMap::from([(name.clone(), Tensor::f32(ty.shape.clone(), c.to_vec()))]))
        .collect())
}

fn read_test_sets(dir: &Path, inputs: &[(String, TensorType)]) -> Result<Vec<HashMap<String, Tensor>>, DataError> {
    let names: Vec<String> = inputs.iter().map(|(n, _)| n.clone()).collect();
    let sets = crate::verify::load_test_sets(dir, None).map_err(|e| file_err(dir, e))?;
    if sets.is_empty() {
        return Err(file_err(dir, "no test_data_set_* folders"));
    }
    sets.iter()
        .map(|s| {
            let set = s.input_set(&names).map_err(|e| file_err(&s.dir, e))?;
            for (name, ty) in inputs {
                match set.get(name) {
                    Some(t) if t.shape == ty.shape && t.dtype == ty.dtype => {}
                    Some(t) => {
                        return Err(DataError::Mismatch(format!(
                            "{}: input '{name}' is {} {:?}, the model takes {} {:?}",
                            s.dir.display(),
                            t.dtype,
                            t.shape,
                            ty.dtype,
                            ty.shape
                        )))
                    }
                    None => {
                        return Err(DataError::Mismatch(format!("{}: no tensor for input '{name}'", s.dir.display())))
                    }
                }
            }
            Ok(set.into_iter().collect())
        })
        .collect()
}

/// Every value of a `.npy` array, as f32 (floats and integers).
fn npy_values(path: &Path, bytes: &[u8]) -> Result<Vec<f32>, DataError> {
    use ndarray::ArrayD;
    use ndarray_npy::ReadNpyExt;
    macro_rules! try_as {
        ($($t:ty),*) => {$(
            if let Ok(a) = ArrayD::<$t>::read_npy(bytes) {
                return Ok(a.iter().map(|&x| x as f32).collect());
            }
        )*};
    }
    try_as!(f32, f64, u8, i8, i16, u16, i32, i64);
    Err(file_err(path, "not a .npy array of floats or integers"))
}

/// Every integer of a `.npy` array.
fn npy_ints(path: &Path, bytes: &[u8]) -> Result<Vec<i64>, DataError> {
    use ndarray::ArrayD;
    use ndarray_npy::ReadNpyExt;
    macro_rules! try_as {
        ($($t:ty),*) => {$(
            if let Ok(a) = ArrayD::<$t>::read_npy(bytes) {
                return Ok(a.iter().map(|&x| x as i64).collect());
            }
        )*};
    }
    try_as!(i64, i32, u8, i8, i16, u16);
    Err(file_err(path, "not a .npy array of integers"))
}

/// The data bytes of an IDX file with `dims` dimensions (MNIST: images 3, labels 1).
fn idx_payload<'b>(path: &Path, bytes: &'b [u8], dims: u8) -> Result<&'b [u8], DataError> {
    let header = 4 + 4 * dims as usize;
    if bytes.len() < header || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] != dims {
        return Err(file_err(path, format!("not an IDX file of unsigned bytes with {dims} dimension(s)")));
    }
    let count: usize = (0..dims as usize)
        .map(|d| u32::from_be_bytes(bytes[4 + 4 * d..8 + 4 * d].try_into().expect("4 bytes")) as usize)
        .product();
    let data = &bytes[header..];
    if data.len() != count {
        return Err(file_err(path, format!("the header announces {count} bytes, the file holds {}", data.len())));
    }
    Ok(data)
}

fn read_labels(path: &Path) -> Result<Vec<i64>, DataError> {
    let bytes = read_bytes(path)?;
    let name = base_name(path).to_ascii_lowercase();
    if name.ends_with(".npy") {
        npy_ints(path, &bytes)
    } else if name.contains("idx1-ubyte") {
        Ok(idx_payload(path, &bytes, 1)?.iter().map(|&b| b as i64).collect())
    } else if name.ends_with(".i64") {
        if !bytes.len().is_multiple_of(8) {
            return Err(file_err(path, "not a whole number of i64 values"));
        }
        Ok(bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
    } else if name.ends_with(".u8") {
        Ok(bytes.iter().map(|&b| b as i64).collect())
    } else {
        Err(file_err(path, "unknown label format (expected .u8, .i64, .npy or an IDX label file)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn input(shape: &[usize]) -> Vec<(String, TensorType)> {
        vec![("x".into(), TensorType::new(DType::F32, shape.to_vec()))]
    }

    #[test]
    fn ranges_parse_and_select() {
        let s: DataSpec = "a/x.f32@2..4".parse().unwrap();
        assert_eq!(s.range, Some((2, 4)));
        assert_eq!(s.to_string(), "a/x.f32@2..4");
        assert_eq!("me@host.f32".parse::<DataSpec>().unwrap().range, None);
        assert!("x.f32@4..2".parse::<DataSpec>().is_err());
        let dir = tempfile::tempdir().unwrap();
        let vals: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let x = write(dir.path(), "x.f32", &vals);
        let y = write(dir.path(), "y.u8", &[5, 6, 7, 8, 9, 1]);
        let spec = DataSpec { path: x, range: Some((1, 3)) };
        let lab = DataSpec { path: y, range: Some((1, 3)) };
        let d = load(&spec, Some(&lab), &input(&[1, 2]), 10.0).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.samples[0]["x"].as_f32().unwrap(), &[20.0, 30.0]);
        assert_eq!(d.labels, Some(vec![6, 7]));
    }

    #[test]
    fn bad_sizes_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let x = write(dir.path(), "x.f32", &[0u8; 12]);
        let err = load(&DataSpec { path: x, range: None }, None, &input(&[1, 2]), 1.0).unwrap_err();
        assert!(err.to_string().contains("x.f32") && err.to_string().contains("whole number"), "{err}");
        let y = write(dir.path(), "y.u8", &[1, 2]);
        let x = write(dir.path(), "x2.f32", &[0u8; 24]);
        let err =
            load(&DataSpec { path: x, range: None }, Some(&DataSpec { path: y, range: None }), &input(&[1, 2]), 1.0)
                .unwrap_err();
        assert!(err.to_string().contains("2 labels for the 3 samples"), "{err}");
    }

    #[test]
    fn idx_and_npy_and_gzip_read() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        idx.extend([0, 51, 102, 255]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&idx).unwrap();
        let x = write(dir.path(), "t-idx3-ubyte.gz", &gz.finish().unwrap());
        let y = write(dir.path(), "t-idx1-ubyte", &[0, 0, 8, 1, 0, 0, 0, 2, 3, 9]);
        let d = load(
            &DataSpec { path: x, range: None },
            Some(&DataSpec { path: y, range: None }),
            &input(&[1, 1, 1, 2]),
            1.0,
        )
        .unwrap();
        assert_eq!(d.samples[1]["x"].as_f32().unwrap(), &[0.4, 1.0]);
        assert_eq!(d.labels, Some(vec![3, 9]));
        let npy = dir.path().join("l.npy");
        ndarray_npy::write_npy(&npy, &ndarray::arr1(&[4i64, 2])).unwrap();
        assert_eq!(read_labels(&npy).unwrap(), vec![4, 2]);
    }

    #[test]
    fn interleaved_split_holds_out_odd_samples() {
        let d = Dataset {
            samples: (0..5).map(|i| HashMap::from([("x".to_string(), Tensor::f32(vec![1], vec![i as f32]))])).collect(),
            labels: Some(vec![0, 1, 2, 3, 4]),
        };
        let (c, h) = d.split_interleaved();
        assert_eq!(c.labels, Some(vec![0, 2, 4]));
        assert_eq!(h.labels, Some(vec![1, 3]));
    }
}
