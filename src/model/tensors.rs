//! Tensors as adapter files hold them: a key, torch's shape and the values, and a linear's weight and bias read from
//! and written to such keys.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::Tensor;

use super::{Checkpoint, LoadError, Weights};

/// A tensor as saved in an adapter file: its key, its torch shape, and its values (flattened, row-major).
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Tensor<1>,
}

impl NamedTensor {
    pub fn new<const D: usize>(name: String, tensor: Tensor<D>) -> Self {
        let shape = tensor.dims().to_vec();
        let numel: usize = shape.iter().product();
        Self { name, shape, values: tensor.reshape([numel]) }
    }

    /// A burn [in, out] weight saved as torch's [out, in].
    pub fn from_linear(name: String, weight: Tensor<2>) -> Self {
        Self::new(name, weight.transpose())
    }
}

/// A linear's `weight` (torch layout) and `bias` under `key`.
pub fn linear_tensors(key: &str, linear: &Linear) -> Vec<NamedTensor> {
    let mut out = vec![NamedTensor::from_linear(format!("{key}.weight"), linear.weight.val())];
    if let Some(bias) = &linear.bias {
        out.push(NamedTensor::new(format!("{key}.bias"), bias.val()));
    }
    out
}

/// Replaces a linear's weight and bias with `key.weight` / `key.bias`, checking their shapes.
pub fn load_linear(adapter: &Checkpoint, key: &str, linear: &mut Linear) -> Result<(), LoadError> {
    let device = linear.weight.device();
    let [d_in, d_out] = linear.weight.dims();
    linear.weight = Param::from_tensor(adapter.linear_weight(&format!("{key}.weight"), d_in, d_out, &device)?);
    linear.bias = Some(Param::from_tensor(adapter.tensor(&format!("{key}.bias"), [d_out], &device)?));
    Ok(())
}
