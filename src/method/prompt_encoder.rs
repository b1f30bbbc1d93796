//! P-tuning's prompt encoder, as peft's `PromptEncoder`: maps the trained table of virtual tokens to their input
//! embeddings, through an MLP (Linear-ReLU-Linear-ReLU-Linear) or a bidirectional LSTM followed by
//! Linear-ReLU-Linear. `SoftPrompt` (prompt.rs) runs it while training.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Distribution, Tensor};

use crate::model::dropout::Dropout;

/// Maps the trained table [tokens, hidden] to the virtual tokens' embeddings [tokens, hidden].
#[derive(Module, Debug)]
pub enum PromptEncoder {
    /// peft's `mlp_head`: Linear(d, h) ReLU Linear(h, h) ReLU Linear(h, d).
    Mlp(Vec<Linear>),
    Lstm(PromptLstm),
}

impl PromptEncoder {
    pub fn forward(&self, table: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Mlp(layers) => mlp(layers, table),
            Self::Lstm(lstm) => lstm.forward(table),
        }
    }
}

/// Linear layers with ReLU between them (not after the last).
fn mlp(layers: &[Linear], x: Tensor<2>) -> Tensor<2> {
    let mut x = x;
    for (i, layer) in layers.iter().enumerate() {
        x = layer.forward(x);
        if i + 1 < layers.len() {
            x = relu(x);
        }
    }
    x
}

/// peft's LSTM encoder: a stacked bidirectional `nn.LSTM` over the virtual tokens, then Linear(2h, 2h) ReLU
/// Linear(2h, d) on every position.
#[derive(Module, Debug)]
pub struct PromptLstm {
    /// Per layer, the forward and the backward direction.
    pub layers: Vec<[LstmDirection; 2]>,
    pub head: Vec<Linear>,
    pub dropout: Dropout,
}

impl PromptLstm {
    fn forward(&self, table: Tensor<2>) -> Tensor<2> {
        let mut x = table;
        for (i, [forward, backward]) in self.layers.iter().enumerate() {
            if i > 0 {
                x = self.dropout.forward_unbatched(x);
            }
            x = Tensor::cat(vec![forward.run(x.clone(), false), backward.run(x, true)], 1);
        }
        mlp(&self.head, x)
    }
}

/// One direction of one LSTM layer, torch's gate order (input, forget, cell, output); weights [in, 4h].
#[derive(Module, Debug)]
pub struct LstmDirection {
    pub weight_ih: Param<Tensor<2>>,
    pub weight_hh: Param<Tensor<2>>,
    pub bias_ih: Param<Tensor<1>>,
    pub bias_hh: Param<Tensor<1>>,
}

impl LstmDirection {
    /// torch's init: every weight and bias U(-1/sqrt(h), 1/sqrt(h)).
    pub fn new(d_in: usize, hidden: usize, device: &Device) -> Self {
        let bound = 1.0 / (hidden as f64).sqrt();
        let uniform = Distribution::Uniform(-bound, bound);
        Self {
            weight_ih: Param::from_tensor(Tensor::random([d_in, 4 * hidden], uniform, device)),
            weight_hh: Param::from_tensor(Tensor::random([hidden, 4 * hidden], uniform, device)),
            bias_ih: Param::from_tensor(Tensor::random([4 * hidden], uniform, device)),
            bias_hh: Param::from_tensor(Tensor::random([4 * hidden], uniform, device)),
        }
    }

    /// Runs over the rows of `x` [steps, in] (last to first when `reverse`), returning [steps, h] in row order.
    fn run(&self, x: Tensor<2>, reverse: bool) -> Tensor<2> {
        let [steps, _] = x.dims();
        let hidden = self.weight_hh.dims()[0];
        let bias = (self.bias_ih.val() + self.bias_hh.val()).reshape([1, 4 * hidden]);
        let inputs = x.matmul(self.weight_ih.val()) + bias;
        let device = inputs.device();
        let (mut h, mut c) = (Tensor::zeros([1, hidden], &device), Tensor::zeros([1, hidden], &device));
        let mut outputs = vec![None; steps];
        let order: Vec<usize> = if reverse { (0..steps).rev().collect() } else { (0..steps).collect() };
        for t in order {
            let gates = inputs.clone().narrow(0, t, 1) + h.matmul(self.weight_hh.val());
            let gate = |k: usize| gates.clone().narrow(1, k * hidden, hidden);
            let (input, forget, cell, output) = (sigmoid(gate(0)), sigmoid(gate(1)), gate(2).tanh(), sigmoid(gate(3)));
            c = forget * c + input * cell;
            h = output * c.clone().tanh();
            outputs[t] = Some(h.clone());
        }
        Tensor::cat(outputs.into_iter().flatten().collect(), 0)
    }
}

/// The parameters of the LSTM encoder on width `d` with `h` units per direction and `layers` layers, then its MLP
/// head, in u64 so that no product overflows: per direction and layer 4h × (in + h) weights and two 4h biases, the
/// first layer reading d, the others 2h; the head Linear(2h, 2h), Linear(2h, d).
pub fn lstm_parameters(d: usize, h: usize, layers: usize) -> u64 {
    let (d, h, layers) = (d as u64, h as u64, layers as u64);
    let direction = |d_in: u64| 4 * h * (d_in + h) + 8 * h;
    let lstm = 2 * direction(d) + 2 * layers.saturating_sub(1) * direction(2 * h);
    lstm + 2 * h * (2 * h + 1) + (2 * h + 1) * d
}
